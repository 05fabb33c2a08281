"""Values that are more than plain data: secrets that must never be shown, and references to other
objects by natural key. Both compare by what they mean, so the diff can stay pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Secret", "Ref", "REDACTED", "redact", "plain"]

REDACTED = "(sensitive)"


@dataclass(frozen=True)
class Secret:
    """A sensitive value. Its repr and str never show the value; only `reveal()` does, for the
    request body and the fingerprint."""

    _value: Any = field(repr=False)
    origin: str = ""  # "env:NAME", "file:PATH" or "" for a value written in the manifest

    def reveal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


@dataclass(frozen=True, order=True)
class Ref:
    """A reference to another object: `{stage: NAME}` in a manifest, a UUID on the wire.
    `key` is the natural key when known; `pk` the id when known (a live value, or a UUID
    written in the manifest that matches no known object)."""

    target: str
    key: str | None = None
    pk: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{{{self.target}: {self.key}}}" if self.key is not None else f"{{{self.target}: {self.pk}}}"

    def same(self, other: Ref) -> bool:
        if self.target != other.target:
            return False
        if self.key is not None and other.key is not None:
            return self.key == other.key
        return self.pk is not None and self.pk == other.pk


def redact(value: Any) -> Any:
    """`value` with every secret replaced by the redaction marker, references by their text."""
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """`value` for the wire: secrets revealed, references as their UUID (which must be known)."""
    if isinstance(value, Secret):
        return plain(value.reveal())
    if isinstance(value, Ref):
        if value.pk is None:
            raise ValueError(f"reference {value} has no id yet")
        return value.pk
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
