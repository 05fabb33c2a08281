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
        return f"{self.data.get('kind', '?')}/{self.data.get('name', '?')}"


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
    return _SCALARS.construct_object(node, deep=True)


def _load_file(path: Path, problems: list[Problem]) -> list[RawObject]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(file, 0, 0, f"cannot read: {exc}"))
        return []
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problems.append(Problem(file, line, column, f"invalid YAML: {exc.problem or exc.context}"))
        return []
    objects: list[RawObject] = []
    for document in documents:
        if document is None:
            continue
        positions: dict[KeyPath, Position] = {}
        try:
            data = _construct(document, (), positions, file, problems)
        except yaml.YAMLError as exc:
            problems.append(Problem(file, *_mark(document), f"invalid YAML: {exc}"))
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(file, *positions[()], "a manifest must be a mapping with a 'stages' list"))
            continue
        for key in data:
            if key != "stages":
                problems.append(Problem(file, *positions[(key,)], f"unknown top-level key {key!r} "
                                        "(a manifest holds a 'stages' list)"))
        stages = data.get("stages")
        if stages is None:
            continue
        if not isinstance(stages, list):
            problems.append(Problem(file, *positions[("stages",)], "'stages' must be a list of objects"))
            continue
        for index, item in enumerate(stages):
            prefix = ("stages", index)
            if not isinstance(item, dict):
                problems.append(Problem(file, *positions[prefix], "each entry of 'stages' must be a mapping "
                                        "with 'kind' and 'name'"))
                continue
            local = {path[2:]: pos for path, pos in positions.items() if path[:2] == prefix}
            objects.append(RawObject(data=item, file=file, positions=local))
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
