"""Reading manifest files: YAML documents with `stages:` lists, every value located by line and
column so that each later problem can point at the place to fix."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ManifestError, Problem

__all__ = ["RawObject", "Position", "discover", "load_manifests"]

_SCALARS = yaml.constructor.SafeConstructor()
# libyaml's parser when PyYAML has it (several times faster), keeping the same marks.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Position = tuple[int, int]  # 1-based line and column
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class RawObject:
    """One object as written, before validation: its data and where each value stands."""

    data: dict[str, Any]
    file: str
    positions: dict[KeyPath, Position] = field(repr=False)

    @property
    def position(self) -> Position:
        return self.positions[()]

    def position_of(self, path: KeyPath) -> Position:
        """The closest located value on `path` (a field, or the object when the field is absent)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return self.position

    @property
    def subject(self) -> str:
        kind, name = self.data.get("kind"), self.data.get("name")
        return f"{kind if isinstance(kind, str) else '?'}/{name if isinstance(name, str) else '?'}"


def discover(paths: list[str | Path]) -> list[Path]:
    """Manifest files under `paths`: files as given, directories recursively (`*.yaml`, `*.yml`),
    hidden files and folders left out, in a stable order."""
    found: list[Path] = []
    missing: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(
                p for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            found.append(path)
        else:
            missing.append(Problem(str(path), 0, 0, "no such file or directory"))
    if missing:
        raise ManifestError(missing)
    return found


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _construct(node: yaml.Node, path: KeyPath, positions: dict[KeyPath, Position], file: str,
               problems: list[Problem]) -> Any:
    """Build plain data from a YAML node, recording the position of every value and refusing
    duplicate keys (PyYAML would silently keep the last one)."""
    positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(file, *_mark(key_node), "a mapping key must be a plain value"))
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(file, *_mark(key_node), "YAML merge keys (<<) are not supported: "
                                        "write the fields out"))
                continue
            key = key_node.value
            if key in result:
                problems.append(Problem(file, *_mark(key_node), f"duplicate key {key!r}"))
                continue
            result[key] = _construct(value_node, (*path, key), positions, file, problems)
            # Point at the key: `field: value` errors read best there, and an empty value has no mark.
            positions[(*path, key)] = _mark(key_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), positions, file, problems) for i, item in enumerate(node.value)]
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # e.g. `!!int abc`, `!!timestamp nope`: a scalar its tag cannot hold
        problems.append(Problem(file, *_mark(node), f"invalid value {node.value!r} for its tag {node.tag}: {exc}"
                                .replace("\n", " ")))
        return None


def _load_file(path: Path, problems: list[Problem]) -> list[RawObject]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(file, 0, 0, f"cannot read: {exc}"))
        return []
    try:
        documents = list(yaml.compose_all(text, Loader=LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problems.append(Problem(file, line, column, f"invalid YAML: {exc.problem or exc.context}"))
        return []
    except yaml.YAMLError as exc:  # the reader's errors (control characters) carry no mark
        problems.append(Problem(file, 0, 0, f"invalid YAML: {exc}".replace("\n", " ")))
        return []
    objects: list[RawObject] = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, yaml.MappingNode):
            if document.tag != "tag:yaml.org,2002:null":
                problems.append(Problem(file, *_mark(document), "a manifest must be a mapping with a 'stages' list"))
            continue
        for key_node, value_node in document.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value != "stages":
                shown = repr(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "that is not a plain value"
                problems.append(Problem(file, *_mark(key_node), f"unknown top-level key {shown} "
                                        "(a manifest holds a 'stages' list)"))
            elif isinstance(value_node, yaml.SequenceNode):
                objects.extend(_objects(value_node, file, problems))
            elif value_node.tag != "tag:yaml.org,2002:null":
                problems.append(Problem(file, *_mark(key_node), "'stages' must be a list of objects"))
    return objects


def _objects(stages: yaml.SequenceNode, file: str, problems: list[Problem]) -> list[RawObject]:
    """Each entry of a `stages` list, with the positions of its own values only."""
    objects = []
    for item in stages.value:
        if not isinstance(item, yaml.MappingNode):
            problems.append(Problem(file, *_mark(item), "each entry of 'stages' must be a mapping "
                                    "with 'kind' and 'name'"))
            continue
        positions: dict[KeyPath, Position] = {}
        try:
            data = _construct(item, (), positions, file, problems)
        except RecursionError:
            problems.append(Problem(file, *_mark(item), "invalid YAML: an alias refers to itself"))
            continue
        objects.append(RawObject(data=data, file=file, positions=positions))
    return objects


def load_manifests(paths: list[str | Path]) -> list[RawObject]:
    """Every object in the manifest files under `paths`; all YAML problems raised together."""
    problems: list[Problem] = []
    objects: list[RawObject] = []
    for path in discover(paths):
        objects.extend(_load_file(path, problems))
    if problems:
        raise ManifestError(problems)
    return objects
