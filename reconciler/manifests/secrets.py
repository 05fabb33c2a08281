"""Secrets: `{env: VAR}` and `{file: PATH}` values resolved at plan time, and every sensitive value
wrapped in `Secret` so that no output can show it."""
from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import yaml

from reconciler.errors import PlanError, Problem
from reconciler.manifests.desired import DesiredObject
from reconciler.manifests.expressions import python_fields, source_problem
from reconciler.manifests.reading import LOADER, MAX_DEPTH
from reconciler.model.kinds import ApiModel
from reconciler.values import Json, JsonObject, Secret

__all__ = ["resolve_secrets", "is_secret_source", "read_source", "read_field_source", "SourceError", "FileRule",
           "MAX_SECRET_FILE_BYTES", "file_python_problems"]


def is_secret_source(value: Json) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("env" in value or "file" in value)


class SourceError(Exception):
    """A secret source that cannot be read: the message names the variable or file, never a value."""


MAX_SECRET_FILE_BYTES = 64 * 2**10
"""A `{file}` secret larger than this is refused (a secret is a few hundred bytes at most)."""


@dataclass(frozen=True)
class FileRule:
    """Where `{file}` secrets may be read: inside the config repository `root`, or inside one of
    the folders the user allowed (`--allow-file-outside`), after resolving symlinks. A manifest
    from elsewhere (a pull request) cannot read `/etc/shadow` or `~/.ssh` into a field."""

    root: Path
    allowed: tuple[Path, ...] = ()

    @cached_property
    def _folders(self) -> tuple[Path, ...]:
        """The root, then the allowed folders, resolved once rather than for every secret."""
        return tuple(folder.resolve() for folder in (self.root, *self.allowed))

    def check(self, path: Path) -> Path:
        """The resolved path, or `SourceError` when it is outside every allowed folder or a
        symlink loop."""
        resolved = _resolved(path)
        if any(resolved.is_relative_to(folder) for folder in self._folders):
            return resolved
        raise SourceError(f"cannot read secret file {path}: outside the repository {self.root} "
                          "(allow its folder with --allow-file-outside DIR)")

    def allows_outside(self, path: Path) -> bool:
        """Whether `path` is inside a folder the user allowed explicitly."""
        try:
            resolved = _resolved(path)
        except SourceError:
            return False  # reading it says why
        return any(resolved.is_relative_to(folder) for folder in self._folders[1:])


def read_source(source: dict[str, str], environ: Mapping[str, str], files: FileRule | None = None) -> Secret:
    """The secret a source names: `{"env": NAME}` or `{"file": PATH}` (a path as the process sees
    it): a regular file of at most 64 KiB, inside `files`' folders. The same reading serves
    planning and the apply of a saved plan."""
    if "env" in source:
        name = source["env"]
        if name not in environ:
            raise SourceError(f"environment variable {name} is not set")
        return Secret(environ[name], source={"env": name})
    path = Path(source["file"])
    resolved = files.check(path) if files is not None else path
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        descriptor = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or exc.__class__.__name__
        raise SourceError(f"cannot read secret file {path}: {reason}") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise SourceError(f"cannot read secret file {path}: not a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        data = stream.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SourceError(f"cannot read secret file {path}: larger than {MAX_SECRET_FILE_BYTES // 2**10} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"cannot read secret file {path}: not UTF-8") from exc
    # A trailing newline is how editors and `echo` end files; it is never part of the secret.
    return Secret(text.rstrip("\r\n"), source={"file": str(path)})


def read_field_source(source: dict[str, str], field_type: str | None, environ: Mapping[str, str],
                      files: FileRule | None = None) -> Secret:
    """The secret a source names, as the field takes it: text for a string field; for an object
    field (a Kubernetes connection's `kubeconfig`), the text read as YAML or JSON, which must be a
    mapping. A parse error names the source and the line, never the text."""
    secret = read_source(source, environ, files)
    if field_type != "object":
        return secret
    value = _mapping(str(secret.reveal()), _describe(source))
    return Secret(value, source=secret.source)


def _mapping(text: str, described: str) -> JsonObject:
    """`text` read as YAML (JSON is YAML): a mapping of JSON values, without aliases (a hostile
    file could make one expand past any memory) and no deeper than a manifest may nest (the pure
    Python loader, and `json`, would recurse past Python's limit: an internal error). libyaml, as
    for manifests, refuses a document nested past its own limit as a YAML error."""
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=LOADER)):
            raise SourceError(f"{described} uses a YAML alias; write the values out")
        value = yaml.load(text, Loader=LOADER)  # LOADER is a safe loader (libyaml's when present)
        if _depth(value) > MAX_DEPTH:
            raise SourceError(f"{described} nests more than {MAX_DEPTH} levels deep")
        json.dumps(value, allow_nan=False)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceError(f"{described} is not YAML or JSON{where}") from None
    except (ValueError, TypeError):
        raise SourceError(f"{described} holds a value JSON cannot carry (quote dates; no .inf, .nan or binary)") \
            from None
    if not isinstance(value, dict):
        raise SourceError(f"{described} holds no mapping (this field takes one)")
    return value


def _depth(value: object) -> int:
    """How many mappings and lists deep `value` nests (a scalar: 0), walked without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            pending += [(child, depth + 1) for child in children]
    return deepest


def _describe(source: dict[str, str]) -> str:
    return f"environment variable {source['env']}" if "env" in source else f"secret file {source['file']}"


def _resolved(path: Path) -> Path:
    """`path` with its symlinks resolved; a loop is a `SourceError` (Python 3.11's
    `Path.resolve` raises `RuntimeError` on one; later versions leave it for `open` to find)."""
    try:
        return path.resolve()
    except RuntimeError as exc:
        raise SourceError(f"cannot read secret file {path}: a symlink loop") from exc


def _from_here(path: Path) -> str:
    """A path as seen from the working folder (where a saved plan is applied from), when inside;
    as it is when not, or when it cannot be resolved (reading it then says why)."""
    try:
        return str(_resolved(path).relative_to(Path.cwd().resolve()))
    except (ValueError, SourceError):
        return str(path)


def _as_read(obj: DesiredObject, source: dict[str, str]) -> dict[str, str]:
    """A source as it is read: a `{file}` relative to the manifest that names it, recorded
    relative to here."""
    return {"file": _from_here(Path(obj.file).parent / source["file"])} if "file" in source else source


def _read(obj: DesiredObject, field: str, source: dict[str, str], environ: Mapping[str, str],
          problems: list[Problem], files: FileRule | None, field_type: str | None) -> Secret | None:
    try:
        return read_field_source(_as_read(obj, source), field_type, environ, files)
    except SourceError as exc:
        problems.append(Problem(obj.file, *obj.position(field), str(exc), obj.address, field))
        return None


def _check_python(obj: DesiredObject, field: str, secret: Secret | None, model: ApiModel,
                  problems: list[Problem]) -> None:
    """A syntax error in Python read from a source, where it was written (`validate` compiles the
    Python written in the manifests; a source is read only here)."""
    spec = model.kinds[obj.kind].fields[field]
    if secret is None or secret.source is None or not spec.holds_python(obj.fields):
        return
    value = secret.reveal()
    problem = source_problem(value, model, secret.source, (obj.file, *obj.position(field)), obj.address, field) \
        if isinstance(value, str) else None
    if problem is not None:
        problems.append(problem)


def file_python_problems(desired: list[DesiredObject], model: ApiModel, files: FileRule) -> list[Problem]:
    """Syntax errors in the Python that `{file}` sources hold, for `validate`: offline, so no
    variable is read, and a file that cannot be read (or that `files` refuses) is left for plan
    to report with the other sources."""
    problems: list[Problem] = []
    for obj in desired:
        for name in python_fields(model.kinds[obj.kind], obj.fields):
            source = obj.fields[name]
            if not is_secret_source(source) or "file" not in source:
                continue
            try:
                secret = read_source(_as_read(obj, source), {}, files)
            except SourceError:
                continue
            _check_python(obj, name, secret, model, problems)
    return problems


def resolve_secrets(desired: list[DesiredObject], model: ApiModel,
                    environ: Mapping[str, str] | None = None, files: FileRule | None = None) -> list[DesiredObject]:
    """Read every `{env}`/`{file}` value and wrap every sensitive field in `Secret`; a missing
    variable, or a file that is missing or refused by `files`, or Python read from one that does
    not compile, is a `PlanError` at its `file:line:column`."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    resolved: list[DesiredObject] = []
    for obj in desired:
        if obj.state == "absent":
            resolved.append(obj)  # only deleted: its values are never sent, so never read
            continue
        kind = model.kinds[obj.kind]
        sensitive = kind.sensitive_fields
        fields: JsonObject = {}
        for name, value in obj.fields.items():
            spec = kind.fields.get(name)
            # {env}/{file} stand for strings, and for the mapping of a sensitive object field
            # (kubeconfig); in any other object field (fixed_data) a mapping is data.
            if spec is not None and is_secret_source(value) and (spec.type == "string" or name in sensitive):
                secret = _read(obj, name, value, env, problems, files, spec.type)
                fields[name] = secret
                _check_python(obj, name, secret, model, problems)
            elif name in sensitive and value is not None:
                fields[name] = Secret(value)
            else:
                fields[name] = value
        resolved.append(replace(obj, fields=fields))
    if problems:
        raise PlanError(problems)
    return resolved
