"""Variables: `{var: NAME}` in a manifest stands for a value of the environment's variables file
(`--vars FILE`, `RECONCILER_VARS`, or `--env NAME` for `environments/NAME.yaml`), so one set of
manifests serves staging and production. Variables are plain values, not secrets: plans show
them (a secret stays `{env: VAR}` or `{file: PATH}`, which a variable may hold)."""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from reconciler.errors import ManifestError, Problem, ReconcilerError
from reconciler.manifests.reading import LOADER, MAX_FILE_BYTES, KeyPath, Manifests, RawObject, alias_problem
from reconciler.repo import folders_up
from reconciler.values import Json, JsonObject

__all__ = ["Variables", "VARS_ENV", "ENVIRONMENTS", "is_variable", "load_variables", "environment_file",
           "substitute"]

VARS_ENV = "RECONCILER_VARS"
ENVIRONMENTS = "environments"
"""The folder `--env NAME` reads `NAME.yaml` from: the nearest one from the manifests up to the
repository root, as for the state file and `reconciler.toml`."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Variables:
    """The values `{var: NAME}` stands for, and the file they came from ("": none given)."""

    values: Mapping[str, Json] = field(default_factory=dict)
    source: str = ""


def is_variable(value: Json) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "var" in value


def load_variables(path: Path) -> Variables:
    """A variables file: a YAML mapping of names to JSON values. Any problem is a `ManifestError`
    at its file:line:column (a value is never echoed)."""
    file = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ManifestError([Problem(file, 0, 0, f"larger than {MAX_FILE_BYTES // 2**20} MiB")])
        text = path.read_text(encoding="utf-8-sig")
        node = yaml.compose(text, Loader=LOADER)
    except OSError as exc:
        raise ReconcilerError(f"cannot read the variables file {file}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError([Problem(file, 0, 0, "not UTF-8 text")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise ManifestError([Problem(file, line, column, f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    aliased = alias_problem(text)  # a "billion laughs" file would expand past any memory when its values are built
    if aliased is not None:
        raise ManifestError([replace(aliased, file=file)])
    return Variables(_values(node, file), file)


def _values(node: yaml.Node | None, file: str) -> dict[str, Json]:
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError([Problem(file, node.start_mark.line + 1, node.start_mark.column + 1,
                                     "a variables file must be a mapping of names to values")])
    values: dict[str, Json] = {}
    problems = []
    for key_node, value_node in node.value:
        line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(Problem(file, line, column, "a variable's name is letters, digits, '_', '.' and '-', "
                                                        "starting with a letter or '_'"))
        elif name in values:
            problems.append(Problem(file, line, column, f"duplicate variable {name!r}"))
        else:
            values[name] = _value(value_node, file, name, problems)
    if problems:
        raise ManifestError(problems)
    return values


def _value(node: yaml.Node, file: str, name: str, problems: list[Problem]) -> Json:
    """The JSON value of a variable (a date, `.inf` or a binary is refused, without its text)."""
    try:
        value = yaml.constructor.SafeConstructor().construct_document(node)
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, yaml.YAMLError):
        problems.append(Problem(file, node.start_mark.line + 1, node.start_mark.column + 1,
                                f"variable {name!r}: not a JSON value (quote dates; no .inf, .nan or binary)"))
        return None
    return value


def environment_file(paths: list[str | Path], name: str) -> Path:
    """`environments/NAME.yaml`, the nearest from the manifests up to the repository root."""
    if not _NAME.fullmatch(name):
        raise ReconcilerError(f"--env {name!r}: an environment's name is letters, digits, '_', '.' and '-'")
    folders = folders_up(paths)
    for folder in folders:
        if (folder / ENVIRONMENTS / f"{name}.yaml").is_file():
            return folder / ENVIRONMENTS / f"{name}.yaml"
    known = sorted({p.stem for folder in folders for p in (folder / ENVIRONMENTS).glob("*.yaml")})
    raise ReconcilerError(f"--env {name}: no {ENVIRONMENTS}/{name}.yaml from {folders[0]} up to {folders[-1]}"
                          + (f" (environments there: {', '.join(known)})" if known else ""))


def substitute(manifests: Manifests, variables: Variables) -> Manifests:
    """The manifests with every `{var: NAME}` replaced by its value. A variable that is not set is
    a problem at its file:line:column (reported with the validator's); its object is left out, so
    the schema does not report the `{var}` mapping again."""
    problems = list(manifests.problems)
    objects = []
    for raw in manifests.objects:
        before = len(problems)
        data = _replaced(raw.data, (), raw, variables, problems)
        if len(problems) == before:
            objects.append(raw if data is raw.data else replace(raw, data=data))
    return replace(manifests, objects=objects, problems=tuple(problems))


def _replaced(value: Json, path: KeyPath, raw: RawObject, variables: Variables, problems: list[Problem]) -> Json:
    """`value` with its variables replaced; the same object when it has none."""
    if is_variable(value):
        return _lookup(value["var"], path, raw, variables, problems)
    if isinstance(value, dict):
        items: JsonObject = {key: _replaced(item, (*path, key), raw, variables, problems)
                             for key, item in value.items()}
        return value if all(items[key] is value[key] for key in value) else items
    if isinstance(value, list):
        replaced = [_replaced(item, (*path, index), raw, variables, problems) for index, item in enumerate(value)]
        return value if all(new is old for new, old in zip(replaced, value, strict=True)) else replaced
    return value


def _lookup(name: Json, path: KeyPath, raw: RawObject, variables: Variables, problems: list[Problem]) -> Json:
    line, column = raw.position_of(path)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(Problem(raw.file, line, column, "{var: NAME} takes a variable's name"))
        return None
    if name not in variables.values:
        where = f"in {variables.source}" if variables.source else \
            f"(no variables given: --vars FILE, {VARS_ENV} or --env NAME)"
        problems.append(Problem(raw.file, line, column, f"variable {name!r} is not set {where}"))
        return None
    return copy.deepcopy(variables.values[name])
