"""The YAML an export writes: block style with indented lists, references and placeholders inline
(`{stage: NAME}`, `{env: VAR}`), multi-line strings as literal blocks, never an alias, and comments
kept to one safe line. Pure text: what it writes loads back to the same values."""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from reconciler.values import JsonObject, Value

__all__ = ["Env", "Inline", "comment_safe", "entry_text"]


class Inline(JsonObject):
    """A mapping written on one line: a reference `{flow: SLUG}` or a placeholder `{env: VAR}`."""


@dataclass(frozen=True)
class Env:
    """A secret's placeholder before its variable is named (names are told apart across the whole
    export): the object, the field and the name it would have alone."""

    address: str
    field: str
    base: str


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key, as the README writes them

    def ignore_aliases(self, data: Value) -> bool:
        return True  # a value used twice is written twice, never as &anchor/*alias


# What YAML 1.2's core schema (editors, yaml-language-server) reads as null, a boolean or a number,
# though PyYAML (YAML 1.1) reads it as a string: written quoted, so every reader sees a string.
CORE_1_2 = re.compile(r"""(?x)
    ~ | null | Null | NULL | true | True | TRUE | false | False | FALSE
    | [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
    | [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)""")
LINE_BREAKS = ("\x85", "\u2028", "\u2029")
"""Line breaks YAML folds into spaces in a single-quoted scalar: such text is written double-quoted."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A literal block for multi-line text (an expression); PyYAML falls back to quotes when a block
    # cannot hold the value exactly (trailing spaces, special characters).
    if any(ch in value for ch in LINE_BREAKS):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if CORE_1_2.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _inline(dumper: yaml.SafeDumper, value: Inline) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", list(value.items()), flow_style=True)


_Dumper.add_representer(str, _string)
_Dumper.add_representer(Inline, _inline)


def comment_safe(text: str) -> str:
    """Text for a comment line: a line break or other control character in a name cannot end the
    comment and start YAML."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _placed(value: Value, names: dict[tuple[str, str], str]) -> Value:
    if isinstance(value, Env):
        return Inline({"env": names[value.address, value.field]})
    if isinstance(value, Inline):
        return value
    if isinstance(value, dict):
        return {k: _placed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_placed(v, names) for v in value]
    return value


def entry_text(section: str, data: JsonObject, names: dict[tuple[str, str], str], *, singleton: bool = False) -> str:
    """One entry of `section` as the lines of a list item under it, or of the mapping it is for a
    singleton's section (without a final newline)."""
    placed = _placed(data, names)
    text = yaml.dump({section: placed if singleton else [placed]}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=1 << 30)
    head = f"{section}:\n"
    assert text.startswith(head)
    return text[len(head):].rstrip("\n")
