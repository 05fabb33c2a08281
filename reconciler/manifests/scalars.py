"""Where a character of a YAML string was written. A scalar's value is its source without the
indentation, quotes, escapes and folded line breaks, so a problem found inside a value (a Python
syntax error on the third line of a block scalar) is mapped back to a file line and column here.
Asked only when such a problem is found: it reads and parses the file once more."""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from reconciler.manifests.reading import LOADER, Position

__all__ = ["ScalarLocator"]

_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028",
            "P": "\u2029"}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
Stream = list[tuple[str, int]]
"""The characters a scalar's source contributes to its value, each with its index in the file."""


class _File:
    """One file's text, where its lines start, and its parsed documents."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(match.end() for match in _BREAK.finditer(text))]
        self.documents = list(yaml.compose_all(text, Loader=LOADER))

    def index(self, mark: yaml.Mark) -> int:
        return self.starts[mark.line] + mark.column

    def position(self, index: int) -> Position:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


class ScalarLocator:
    """Positions inside string values, each file read once however many problems it has."""

    def __init__(self) -> None:
        self._files: dict[str, _File | None] = {}

    def position(self, file: str, entry: Position, field: str, index: int) -> Position | None:
        """Line and column of character `index` of the string `field` in the mapping written at
        `entry`, or None when the file no longer holds that string as a scalar."""
        parsed = self._file(file)
        node = _field_node(parsed, entry, field) if parsed is not None else None
        if parsed is None or node is None or not node.value:
            return None
        where = _source_index(_stream(parsed, node), node.value, min(index, len(node.value) - 1))
        if where is None:
            return None
        return parsed.position(where + max(0, index - len(node.value) + 1))

    def _file(self, file: str) -> _File | None:
        if file not in self._files:
            try:
                self._files[file] = _File(Path(file).read_text(encoding="utf-8").removeprefix("\ufeff"))
            except (OSError, UnicodeError, yaml.YAMLError):
                self._files[file] = None
        return self._files[file]


def _field_node(parsed: _File, entry: Position, field: str) -> yaml.ScalarNode | None:
    """The scalar value of `field` in the mapping that starts at `entry` (as reading located it)."""
    for node in _nodes(parsed.documents):
        if isinstance(node, yaml.MappingNode) and (node.start_mark.line + 1, node.start_mark.column + 1) == entry:
            return next((value for key, value in node.value if isinstance(key, yaml.ScalarNode)
                         and key.value == field and isinstance(value, yaml.ScalarNode)), None)
    return None


def _nodes(documents: list[yaml.Node]) -> Iterator[yaml.Node]:
    """Every node of the documents, each once (an alias's node is met once)."""
    pending = [document for document in documents if document is not None]
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            pending.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)


def _stream(parsed: _File, node: yaml.ScalarNode) -> Stream:
    start, end = parsed.index(node.start_mark), parsed.index(node.end_mark)
    if node.style in ("|", ">"):
        return _block(parsed.text, start, end, node.value)
    if node.style == '"':
        return _double_quoted(parsed.text, start + 1, end - 1)
    if node.style == "'":
        return _single_quoted(parsed.text, start + 1, end - 1)
    return _raw(parsed.text, start, end)


def _raw(text: str, start: int, end: int) -> Stream:
    """Characters as written; every line break (`\\r\\n` too) as one `\\n`."""
    stream: Stream = []
    for index in range(start, end):
        char = text[index]
        if char == "\r" and text[index + 1:index + 2] == "\n":
            continue
        stream.append(("\n" if char in "\r\x85" else char, index))
    return stream


def _block(text: str, start: int, end: int, value: str) -> Stream:
    """A literal or folded block: the lines after the header, each without the block's
    indentation (found from the first line holding text: its spaces as written, less the spaces
    the value keeps, which an indentation indicator can leave)."""
    body = text.find("\n", start, end) + 1
    if body == 0:
        return []
    lines = text[body:end].split("\n")
    written = next((line for line in lines if line.strip()), "")
    kept = next((line for line in value.split("\n") if line.strip()), "")
    indent = max(0, _spaces(written) - _spaces(kept))
    stream: Stream = []
    for line in lines:
        skip = min(indent, _spaces(line))
        stream.extend(_raw(text, body + skip, body + len(line)))
        stream.append(("\n", body + len(line)))
        body += len(line) + 1
    return stream


def _spaces(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _double_quoted(text: str, start: int, end: int) -> Stream:
    """The characters inside double quotes, escapes decoded (each at its backslash); an escaped
    line break gives none."""
    stream: Stream = []
    index = start
    while index < end:
        char, following = text[index], text[index + 1:index + 2]
        if char != "\\" or index + 1 >= end:
            stream.extend(_raw(text, index, index + 1))
            index += 1
        elif following in _ESCAPES:
            stream.append((_ESCAPES[following], index))
            index += 2
        elif following in _HEX_DIGITS:
            digits = text[index + 2:index + 2 + _HEX_DIGITS[following]]
            stream.append((chr(int(digits, 16)) if _is_hex(digits) else following, index))
            index += 2 + len(digits)
        else:  # an escaped line break: nothing, the next line's indentation is dropped
            index += 3 if text[index + 1:index + 3] == "\r\n" else 2
    return stream


def _is_hex(digits: str) -> bool:
    return bool(digits) and all(digit in "0123456789abcdefABCDEF" for digit in digits) and int(digits, 16) < 0x110000


def _single_quoted(text: str, start: int, end: int) -> Stream:
    """The characters inside single quotes, `''` as one quote."""
    stream: Stream = []
    index = start
    while index < end:
        if text[index] == "'" and text[index + 1:index + 2] == "'":
            stream.append(("'", index))
            index += 2
        else:
            stream.extend(_raw(text, index, index + 1))
            index += 1
    return stream


def _source_index(stream: Stream, value: str, index: int) -> int | None:
    """Where `value[index]` was written: the value's characters matched in order against what the
    source contributes, passing over what the value dropped (indentation that folding removed,
    trailing spaces) and taking a line break for the space a fold leaves."""
    position = 0
    for offset, char in enumerate(value[:index + 1]):
        while position < len(stream) and not (stream[position][0] == char or
                                              (stream[position][0] == "\n" and char == " ")):
            position += 1
        if position == len(stream):
            return None
        if offset == index:
            return stream[position][1]
        position += 1
    return None
