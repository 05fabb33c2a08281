"""Values that are more than plain data: secrets that must never be shown, and references to other
objects by natural key. Both compare by what they mean, so the diff can stay pure. `walk` is the
one visit over a value that redacting, wire-encoding and collecting secrets or references share."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["IdKey", "Json", "JsonObject", "Key", "ObjectId", "Value", "Secret", "Ref", "REDACTED", "display_key",
           "walk", "leaves", "redact", "plain", "secrets_in", "refs_in", "scrubbed", "typed_id",
           "MAX_ID_DIGITS"]

REDACTED = "(sensitive)"

Json = Any
"""A JSON value as parsed or sent: a dict, list, str, int, float, bool or None. A name, not a
recursive union: mypy would want a cast at every read of a nested answer, and the boundaries (the
client's answer checks, the loader's budgets, the plan file's decoder) are where shapes are checked."""

JsonObject = dict[str, Json]
"""A JSON object: an authentik answer's object, a request body, a manifest entry, a plan's change."""

Value = Any
"""A field's value in a desired object, a diff or a plan: JSON whose leaves may be `Secret`s and
`Ref`s (what `walk` visits)."""

Key = tuple[Any, ...]
"""A natural key: the values of a kind's key fields, references as `Ref`s (without ids)."""

ObjectId = int | str
"""An object's id as authentik gives it: an int for kinds with integer pks (providers, users), a
UUID string elsewhere. The model says which (`Kind.id_type`)."""


MAX_ID_DIGITS = 100
"""An integer id is at most 20 digits; a longer text stays text (Python refuses to convert 4,300)."""


def typed_id(id_type: str, value: object) -> ObjectId:
    """An id as the model types it (`int`, `uuid` or `str`): a state file or a URL may carry an
    integer pk as text, and `3` and `"3"` must be the same object."""
    if id_type == "int" and isinstance(value, str) and value.isascii() and value.isdigit() \
            and len(value) <= MAX_ID_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and id_type == "int":
        return value
    return str(value)


class IdKey(NamedTuple):
    """An id with the scope it is unique in (a kind's family: every stage kind shares one table).
    Sets of ids hold these, never bare ids: a provider and a user may both be 3."""

    scope: str
    id: ObjectId


@dataclass(frozen=True)
class Secret:
    """A sensitive value. Its repr and str never show the value; only `reveal()` does, for the
    request body and the fingerprint. `source` says where it came from, so a saved plan can
    record that instead of the value: `{"env": VAR}`, `{"file": PATH}`, `{"live": FIELD}` (the
    server returned it in clear) or None (written in the manifest itself)."""

    _value: Value = field(repr=False)
    source: dict[str, str] | None = field(default=None, compare=False)

    def reveal(self) -> Value:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


@dataclass(frozen=True)
class Ref:
    """A reference to another object: `{stage: NAME}` in a manifest, an id on the wire.
    `key` is the natural key when known; `pk` the id when known (a live value, or a UUID written
    in the manifest that matches no known object); `address` the manifest object it names when
    the manifests describe it, so apply can fill in the id of an object it creates."""

    target: str
    key: Key | None = None
    pk: Value = field(default=None, compare=False)
    address: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{{{self.target}: {display_key(self.key) if self.key is not None else self.pk}}}"

    def without_id(self) -> Ref:
        """The reference as a key part: its id left out (ids are not identity)."""
        return Ref(self.target, self.key, address=self.address)


def display_key(key: Key | None) -> str:
    """A key as people read it: `default-authentication-flow/duo-mfa` for a binding."""
    if key is None:
        return "?"
    parts = []
    for part in key:
        if part is None:
            continue
        if isinstance(part, Ref):
            parts.append(display_key(part.key) if part.key is not None else str(part.pk))
        else:
            parts.append(str(part))
    return "/".join(parts)


Leaf = Secret | Ref


def walk(value: Value, leaf: Callable[[Leaf], Value]) -> Value:
    """`value` rebuilt with every `Secret` and `Ref` replaced by `leaf(it)`."""
    if isinstance(value, Secret | Ref):
        return leaf(value)
    if isinstance(value, list | tuple):
        return [walk(v, leaf) for v in value]
    if isinstance(value, dict):
        return {k: walk(v, leaf) for k, v in value.items()}
    return value


def leaves(value: Value) -> Iterator[Leaf]:
    """Every `Secret` and `Ref` inside `value`."""
    if isinstance(value, Secret | Ref):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)


def redact(value: Value) -> Value:
    """`value` with every secret replaced by the redaction marker, references by their text."""
    return walk(value, lambda leaf: REDACTED if isinstance(leaf, Secret) else str(leaf))


def _wire(leaf: Leaf) -> Value:
    if isinstance(leaf, Secret):
        return plain(leaf.reveal())
    if leaf.pk is None:
        raise ValueError(f"reference {leaf} has no id yet")
    return leaf.pk


def plain(value: Value) -> Value:
    """`value` for the wire: secrets revealed, references as their id (which must be known)."""
    return walk(value, _wire)


def secrets_in(value: Value) -> list[str]:
    """Every secret string inside `value`, to scrub from error messages."""
    return [str(leaf.reveal()) for leaf in leaves(value) if isinstance(leaf, Secret)]


def refs_in(value: Value) -> list[Ref]:
    return [leaf for leaf in leaves(value) if isinstance(leaf, Ref)]


def scrubbed(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced. A secret of under 4 characters is replaced only where it
    stands quoted, as servers echo values ("x" is not a valid choice): replacing it everywhere
    would garble the message (`--token t`) without hiding more."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
        elif secret:
            for quoted in (f'"{secret}"', f"“{secret}”", f"'{secret}'"):
                text = text.replace(quoted, f'"{REDACTED}"')
    return text
