"""Reading manifest files: YAML documents whose top-level keys (`stages`, `policies`, `flows`) hold
lists of objects, every value located by line and column so that each later problem can point at
the place to fix. Which sections exist is the model's business (the validator checks it)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ManifestError, Problem

__all__ = ["Manifests", "RawObject", "Section", "Position", "discover", "load_manifests"]

_SCALARS = yaml.constructor.SafeConstructor()
# libyaml's parser when PyYAML has it (several times faster), keeping the same marks.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Position = tuple[int, int]  # 1-based line and column
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class RawObject:
    """One object as written, before validation: the section it is listed in, its data and where
    each value stands."""

    data: dict[str, Any]
    file: str
    positions: dict[KeyPath, Position] = field(repr=False)
    section: str

    @property
    def position(self) -> Position:
        return self.positions[()]

    def position_of(self, path: KeyPath) -> Position:
        """The closest located value on `path` (a field, or the object when the field is absent)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return self.position


@dataclass(frozen=True)
class Section:
    """A top-level key as written, for the validator to check against the model's sections."""

    name: str
    file: str
    position: Position
    is_list: bool


@dataclass(frozen=True)
class Manifests:
    """Every object of the manifest files, the sections they were listed in, and a digest of the
    files (names and bytes) so a saved plan can say which manifests it was made from."""

    objects: list[RawObject]
    sections: tuple[Section, ...]
    files: tuple[str, ...]
    digest: str
    problems: tuple[Problem, ...] = ()
    """What could not be read (YAML errors): the validator reports them with its own."""


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


def _load_file(path: Path, problems: list[Problem], digest: Any, sections: list[Section]) -> list[RawObject]:
    file = str(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(file, 0, 0, f"cannot read: {exc}"))
        return []
    digest.update(file.encode() + b"\0" + hashlib.sha256(data).digest())
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
                problems.append(Problem(file, *_mark(document), "a manifest must be a mapping of lists "
                                        "('stages', 'policies', 'flows')"))
            continue
        seen: set[str] = set()
        for key_node, value_node in document.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(file, *_mark(key_node), "a top-level key must be a plain value"))
            elif key_node.value in seen:
                problems.append(Problem(file, *_mark(key_node), f"duplicate key {key_node.value!r}"))
            else:
                seen.add(key_node.value)
                is_list = isinstance(value_node, yaml.SequenceNode)
                null = value_node.tag == "tag:yaml.org,2002:null"
                sections.append(Section(str(key_node.value), file, _mark(key_node), is_list or null))
                if isinstance(value_node, yaml.SequenceNode):
                    objects.extend(_objects(key_node.value, value_node, file, problems))
    return objects


def _objects(section: str, entries: yaml.SequenceNode, file: str, problems: list[Problem]) -> list[RawObject]:
    """Each entry of a section's list, with the positions of its own values only."""
    objects = []
    for item in entries.value:
        if not isinstance(item, yaml.MappingNode):
            problems.append(Problem(file, *_mark(item), f"each entry of {section!r} must be a mapping"))
            continue
        positions: dict[KeyPath, Position] = {}
        try:
            before = len(problems)
            data = _construct(item, (), positions, file, problems)
        except RecursionError:
            problems.append(Problem(file, *_mark(item), "invalid YAML: an alias refers to itself"))
            continue
        if len(problems) > before:
            continue  # reported where it was written; validating the rest would only echo it
        objects.append(RawObject(data=data, file=file, positions=positions, section=section))
    return objects


def load_manifests(paths: list[str | Path]) -> Manifests:
    """Every object in the manifest files under `paths`, and every YAML problem (not raised: the
    validator reports them with the schema problems, all at once). A missing path raises."""
    problems: list[Problem] = []
    objects: list[RawObject] = []
    sections: list[Section] = []
    digest = hashlib.sha256()
    files = discover(paths)
    for path in files:
        objects.extend(_load_file(path, problems, digest, sections))
    return Manifests(objects=objects, sections=tuple(sections), files=tuple(str(f) for f in files),
                     digest="sha256:" + digest.hexdigest(), problems=tuple(problems))
