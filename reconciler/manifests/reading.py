"""Reading manifest files: YAML documents whose top-level keys (the model's sections: `stages`, ...) hold
lists of objects, every value located by line and column so that each later problem can point at
the place to fix. Which sections exist is the model's business (the validator checks it)."""
from __future__ import annotations

import datetime
import errno
import hashlib
import logging
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ManifestError, Problem
from reconciler.model.versions import known_sections
from reconciler.repo import named_path, repository_root
from reconciler.values import JsonObject

__all__ = ["Manifests", "RawObject", "Section", "Position", "discover", "named_path", "load_manifests",
           "MAX_FILE_BYTES", "MAX_DEPTH", "MAX_ALIAS_NODES", "alias_problem"]

# Named for what it reports, not the module: the name shows in the CLI's log lines and users'
# log filters, and stays when modules move.
log = logging.getLogger("reconciler.manifest")

_SCALARS = yaml.constructor.SafeConstructor()
_SCALAR_CONSTRUCTORS = {tag: constructor for tag, constructor in yaml.constructor.SafeConstructor.yaml_constructors
                        .items() if tag is not None and tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map",
                                                                    "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs",
                                                                    "tag:yaml.org,2002:set")}
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STANDARD = "tag:yaml.org,2002:"
_UNKNOWN_TAG = "an unknown YAML tag (quote the value if it is a string)"
"""Any tag but the standard ones PyYAML's safe loader builds: never echoed (`!Sup3rS3cret`)."""
_MERGE = "tag:yaml.org,2002:merge"
# libyaml's parser when PyYAML has it (several times faster), keeping the same marks.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MANIFEST_SUFFIXES = (".yaml", ".yml")

MAX_FILE_BYTES = 10 * 2**20
"""A manifest file larger than this is refused before it is parsed."""
MAX_DEPTH = 64
"""Nesting levels of a document (its mapping, a section's list, an object, its values...)."""
_OBJECT_DEPTH = MAX_DEPTH - 3  # an object's own mapping is the third level
MAX_ALIAS_NODES = 100_000
"""Values that aliases may add to a file by repeating what an anchor names: far above any real
manifest, far below a "billion laughs" file (checked before anything is built)."""
# What YAML 1.1 accepts as printable (the spec's c-printable), so its reader never fails unlocated.
_UNPRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
Position = tuple[int, int]  # 1-based line and column
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class RawObject:
    """One object as written, before validation: the section it is listed in, its data and where
    each value stands."""

    data: JsonObject
    file: str
    positions: dict[KeyPath, Position] = field(repr=False)
    section: str
    foreign: tuple[tuple[KeyPath, str], ...] = ()
    """Values JSON cannot carry (a date, .inf, !!binary), each with what it is: the validator
    reports them at their place."""

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
    is_mapping: bool = False
    """One mapping rather than a list: a singleton's section (`settings:`), read as its one entry."""


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
    warnings: tuple[str, ...] = ()
    """What discovery skipped (symlinks), also logged."""
    skipped: tuple[tuple[str, str], ...] = ()
    """Every path discovery could not read, with why: a link it did not follow (to a folder, to
    nothing, to no regular file, out of the repository, or a loop), or an unreadable folder. A
    plan that prunes refuses to run on such partial input."""
    links: tuple[tuple[str, str], ...] = ()
    """Each symlinked manifest read, as named, with the file it links to."""


class _Discovery:
    """What a walk met besides manifest files: what it skipped (each with why, logged as it goes),
    and the symlinked manifests it read, each with its target."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.skipped: list[tuple[str, str]] = []
        self.links: list[tuple[str, str]] = []

    def skip(self, path: Path, why: str) -> None:
        self.skipped.append((str(path), why))
        self.warnings.append(_warn(f"skipped {path}: {why}"))


def discover(paths: list[str | Path], warnings: list[str] | None = None) -> list[Path]:
    """Manifest files under `paths`: files as given, directories recursively (`*.yaml`, `*.yml`),
    hidden files and folders left out, in a stable order. Symlinked folders are never followed
    (no loops); a symlinked file is read when it resolves inside the repository (the folder holding
    `.git`, else the folder given), else skipped; each skip is added to `warnings` and logged."""
    found, _ = _discover(paths, _Discovery(warnings if warnings is not None else []))
    return found


def _discover(paths: list[str | Path], discovery: _Discovery) -> tuple[list[Path], list[Problem]]:
    """The files, and the folders given that hold none (a typo would plan nothing)."""
    found: list[Path] = []
    missing: list[Problem] = []
    empty: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = _walk(path, repository_root([path]), discovery)
            if not files:
                empty.append(Problem(str(path), 0, 0, f"no manifest files under {path}"))
            found.extend(files)
        elif path.is_file():
            found.append(path)
        elif path.exists():
            missing.append(Problem(str(path), 0, 0, "not a regular file or directory"))
        else:
            missing.append(Problem(str(path), 0, 0, "no such file or directory"))
    if missing:
        raise ManifestError(missing)
    return found, empty


def _walk(folder: Path, root: Path, discovery: _Discovery) -> list[Path]:
    """The manifests under `folder`, sorted, without following symlinked folders."""
    found: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        discovery.skip(folder, str(exc.strerror or exc))
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            if _linked_manifest(path, root, discovery):
                found.append(path)
        elif entry.is_dir(follow_symlinks=False):
            found.extend(_walk(path, root, discovery))
        elif path.suffix in MANIFEST_SUFFIXES and entry.is_file(follow_symlinks=False):
            found.append(path)
    return found


def _linked_manifest(path: Path, root: Path, discovery: _Discovery) -> bool:
    """Whether a symlink met in a folder is a manifest to read: a link to a manifest file inside
    `root` (recorded with its target). A linked folder, a loop, a link to nothing or to no regular
    file, or a link out of `root` is skipped."""
    if path.is_dir():  # follows the link: False for a loop or a link to nothing
        discovery.skip(path, "a symlinked folder is not followed")
        return False
    if path.suffix not in MANIFEST_SUFFIXES:
        return False
    try:
        # Not Path.resolve: on Python 3.11 it raises RuntimeError on a loop.
        target = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            discovery.skip(path, "a symlink loop")
        else:  # a warning; with --prune, an error (pipeline): what it described would look removed
            discovery.skip(path, f"it links to {os.path.realpath(path)}, which does not exist")
        return False
    if not target.is_file():
        discovery.skip(path, f"it links to {target}, not a regular file")
        return False
    if target.is_relative_to(root):
        discovery.links.append((str(path), str(target)))
        return True
    discovery.skip(path, f"it links to {target}, outside {root}")
    return False


def _warn(message: str) -> str:
    log.warning("%s", message)
    return message


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _not_json(value: Any) -> str | None:
    """What a scalar is when JSON cannot carry it (the API speaks JSON), else None."""
    if isinstance(value, datetime.datetime):
        return "a date and time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, float) and not math.isfinite(value):
        return "not-a-number (.nan)" if math.isnan(value) else \
            "infinity (.inf)" if value > 0 else "negative infinity (-.inf)"
    return None


class _TooManyValues(Exception):
    """The aliases of a file expand past `MAX_ALIAS_NODES` (or one is inside what it names)."""


class _Reading:
    """What constructing a file's objects collects: per object, positions and non-JSON values; per
    file, how many values each collection built stands for, and how many aliases added."""

    __slots__ = ("file", "positions", "problems", "foreign", "built", "extra", "in_alias")

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.positions: dict[KeyPath, Position] = {}
        self.foreign: list[tuple[KeyPath, str]] = []
        self.built: dict[int, int | None] = {}  # id(node) -> values it stands for; None while built
        self.extra = 0
        self.in_alias = 0


def _construct(node: yaml.Node, path: KeyPath, reading: _Reading) -> Any:
    """Build plain data from a YAML node, recording the position of every value and refusing
    duplicate keys (PyYAML would silently keep the last one) and nesting past `MAX_DEPTH`. An
    alias is built again where it is used (so every value has its place), after checking that
    what it stands for keeps the file within `MAX_ALIAS_NODES`: a "billion laughs" stops before
    anything is built."""
    positions = reading.positions
    positions[path] = _mark(node)
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR:  # most values: no constructor needed
            return node.value
        constructor = _SCALAR_CONSTRUCTORS.get(node.tag)
        if constructor is None:
            # `password: !Sup3rS3cret` is a tag, not a string: its text may be the secret, never echoed.
            reading.problems.append(Problem(reading.file, *_mark(node), _UNKNOWN_TAG))
            return None
        try:
            value = constructor(_SCALARS, node)
        except Exception:  # PyYAML's constructors fail in many ways (`!!bool x`: KeyError)
            # e.g. `!!int abc`, `!!timestamp nope`: a scalar its tag cannot hold. Never echo the
            # scalar: it may be a secret's value.
            reading.problems.append(Problem(reading.file, *_mark(node),
                                            f"invalid value for its tag {_short(node.tag)}"))
            return None
        what = _not_json(value)
        if what is not None:
            reading.foreign.append((path, what))
        return value
    if _tagged(node, reading.problems, reading.file):
        return None
    if len(path) > _OBJECT_DEPTH:
        reading.problems.append(Problem(reading.file, *_mark(node), f"nested more than {MAX_DEPTH} levels deep"))
        return None
    identity = id(node)
    if identity in reading.built:  # an alias
        count = reading.built[identity]
        if count is None:
            raise _TooManyValues("an alias is inside what it names")
        if reading.in_alias:  # counted with the outermost alias
            return _build(node, path, reading)
        if reading.extra + count > MAX_ALIAS_NODES:
            raise _TooManyValues(f"the aliases expand to more than {MAX_ALIAS_NODES:,} values")
        reading.extra += count
        reading.in_alias += 1
        try:
            return _build(node, path, reading)
        finally:
            reading.in_alias -= 1
    reading.built[identity] = None  # being built: an alias to it now is a loop
    before = len(positions)
    value = _build(node, path, reading)
    reading.built[identity] = len(positions) - before + 1
    return value


def _build(node: yaml.Node, path: KeyPath, reading: _Reading) -> Any:
    """A mapping or a list, its values built by `_construct`."""
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                reading.problems.append(Problem(reading.file, *_mark(key_node), "a mapping key must be a plain value"))
                continue
            if key_node.tag == _MERGE:
                reading.problems.append(Problem(reading.file, *_mark(key_node), "YAML merge keys (<<) are not "
                                                "supported: write the fields out"))
                continue
            key = key_node.value
            if key in result:
                reading.problems.append(Problem(reading.file, *_mark(key_node), f"duplicate key {key!r}"))
                continue
            result[key] = _construct(value_node, (*path, key), reading)
            # Point at the key: `field: value` errors read best there, and an empty value has no mark.
            reading.positions[(*path, key)] = _mark(key_node)
        return result
    return [_construct(item, (*path, i), reading) for i, item in enumerate(node.value)]


def _tagged(node: yaml.Node, problems: list[Problem], file: str) -> bool:
    """Whether a mapping or list carries a tag other than its plain one, added to `problems`:
    `!vault {...}`, `!!python/object/new:os.system [...]`, `!!set` are built by PyYAML's safe
    loader as plain data, silently dropping what the tag asked for."""
    shape = "mapping" if isinstance(node, yaml.MappingNode) else "list"
    if node.tag == (_MAP if shape == "mapping" else _SEQ):
        return False
    if node.tag in (_MAP, _SEQ):
        message = f"the YAML tag {_short(node.tag)} does not fit a {shape}"
    elif node.tag in yaml.constructor.SafeConstructor.yaml_constructors:
        message = f"the YAML tag {_short(node.tag)} is not supported: write a plain {shape}"
    else:
        message = _UNKNOWN_TAG
    problems.append(Problem(file, *_mark(node), message))
    return True


def _short(tag: str) -> str:
    """A standard tag as it is written (`!!int`); only tags the safe loader knows are shown."""
    return "!!" + tag.removeprefix(_STANDARD)


def _located(text: str, index: int) -> Position:
    """Line and column (1-based, in characters) of `index` in `text`."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _read_text(path: Path, file: str, problems: list[Problem]) -> tuple[bytes, str] | None:
    """The file's bytes and text, or None with the problem: too large, not UTF-8, or holding a
    character YAML refuses (checked here to say where: libyaml's reader gives no line)."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(file, 0, 0, f"cannot read: {exc.strerror or exc.__class__.__name__}"))
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.append(Problem(file, 0, 0, f"larger than {MAX_FILE_BYTES // 2**20} MiB: split it into several "
                                "files"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        problems.append(Problem(file, line, column, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded "
                                "(save the file as UTF-8)"))
        return None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark is fine
    bad = _UNPRINTABLE.search(text)
    if bad is not None:
        char = bad.group()
        name = "a NUL byte" if char == "\0" else f"the control character U+{ord(char):04X}"
        problems.append(Problem(file, *_located(text, bad.start()), f"{name} is not allowed in YAML"))
        return None
    return data, text


def alias_problem(text: str) -> Problem | None:
    """The alias where the aliases of `text` expand past `MAX_ALIAS_NODES` values (a "billion
    laughs" file), or one inside what it names, from the event stream: counted, never built."""
    sizes: dict[str, int] = {}  # anchor -> values it expands to, in this document
    open_anchors: list[str | None] = []
    counts: list[int] = []
    extra = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()
        elif isinstance(event, yaml.CollectionStartEvent):
            open_anchors.append(event.anchor)
            counts.append(1)
        elif isinstance(event, yaml.CollectionEndEvent):
            size = counts.pop()
            anchor = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = size
            if counts:
                counts[-1] += size
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            if counts:
                counts[-1] += 1
        elif isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            where = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            if event.anchor in open_anchors:
                return Problem("", *where, f"invalid YAML: the alias *{event.anchor} is inside what it names")
            size = sizes.get(str(event.anchor), 1)
            extra += size
            if counts:
                counts[-1] += size
            if extra > MAX_ALIAS_NODES:
                return Problem("", *where, f"invalid YAML: the aliases expand to more than {MAX_ALIAS_NODES:,} "
                               "values (a \"billion laughs\" file?)")
    return None


def _yaml_problem(exc: yaml.YAMLError, file: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return Problem(file, line, column, f"invalid YAML: {exc.problem or exc.context}")
    return Problem(file, 0, 0, f"invalid YAML: {exc}".replace("\n", " "))


def _load_file(path: Path, problems: list[Problem], digest: Any, sections: list[Section]) -> list[RawObject]:
    file = str(path)
    read = _read_text(path, file, problems)
    if read is None:
        return []
    data, text = read
    digest.update(file.encode() + b"\0" + hashlib.sha256(data).digest())
    try:
        documents = list(yaml.compose_all(text, Loader=LOADER))
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(exc, file))
        return []
    reading = _Reading(file, problems)
    problems_before, sections_before = len(problems), len(sections)
    try:
        return _documents(documents, reading, sections)
    except _TooManyValues as exc:
        del problems[problems_before:], sections[sections_before:]  # only this problem for this file
        # Rare: read the events once more to name the alias (the built nodes only know anchors).
        found = alias_problem(text)
        problems.append(replace(found, file=file) if found is not None else
                        Problem(file, 0, 0, f"invalid YAML: {exc}"))
        return []


def _documents(documents: list[yaml.Node], reading: _Reading, sections: list[Section]) -> list[RawObject]:
    file, problems = reading.file, reading.problems
    objects: list[RawObject] = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, yaml.MappingNode):
            if document.tag != "tag:yaml.org,2002:null":
                known = ", ".join(repr(section) for section in known_sections())
                problems.append(Problem(file, *_mark(document), f"a manifest must be a mapping of lists ({known})"))
            continue
        if not _tagged(document, problems, file):
            objects.extend(_top_level(document, reading, sections))
    return objects


def _top_level(document: yaml.MappingNode, reading: _Reading, sections: list[Section]) -> list[RawObject]:
    """The top-level keys of one document, each a section (recorded in `sections`), and the
    objects of those that hold a list."""
    file, problems = reading.file, reading.problems
    objects: list[RawObject] = []
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
            is_mapping = isinstance(value_node, yaml.MappingNode)
            sections.append(Section(str(key_node.value), file, _mark(key_node), is_list or null, is_mapping))
            if isinstance(value_node, yaml.SequenceNode) and not _tagged(value_node, problems, file):
                objects.extend(_objects(key_node.value, value_node, reading))
            elif is_mapping:
                objects.extend(_entry(key_node.value, value_node, reading))
    return objects


def _objects(section: str, entries: yaml.SequenceNode, reading: _Reading) -> list[RawObject]:
    """Each entry of a section's list, with the positions of its own values only."""
    objects = []
    for item in entries.value:
        if not isinstance(item, yaml.MappingNode):
            reading.problems.append(Problem(reading.file, *_mark(item), f"each entry of {section!r} must be a mapping"))
            continue
        objects.extend(_entry(section, item, reading))
    return objects


def _entry(section: str, item: yaml.MappingNode, reading: _Reading) -> list[RawObject]:
    """One entry (a list item, or a singleton's section), or none when it has problems."""
    before = len(reading.problems)
    reading.positions, reading.foreign = {}, []
    data = _construct(item, (), reading)
    if len(reading.problems) > before:
        return []  # reported where it was written; validating the rest would only echo it
    return [RawObject(data=data, file=reading.file, positions=reading.positions, section=section,
                      foreign=tuple(reading.foreign))]


def load_manifests(paths: list[str | Path]) -> Manifests:
    """Every object in the manifest files under `paths`, and every YAML problem (not raised: the
    validator reports them with the schema problems, all at once). A missing path raises."""
    problems: list[Problem] = []
    objects: list[RawObject] = []
    sections: list[Section] = []
    discovery = _Discovery([])
    digest = hashlib.sha256()
    files, empty = _discover(paths, discovery)
    if empty:
        raise ManifestError(empty)
    for path in files:
        objects.extend(_load_file(path, problems, digest, sections))
    return Manifests(objects=objects, sections=tuple(sections), files=tuple(str(f) for f in files),
                     digest="sha256:" + digest.hexdigest(), problems=tuple(problems),
                     warnings=tuple(discovery.warnings), skipped=tuple(discovery.skipped), links=tuple(discovery.links))
