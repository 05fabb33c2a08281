"""Plans: an ordered list of changes, each a plain record that renders to text or JSON and says
exactly which call apply will make."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from reconciler.values import Secret, plain, redact

__all__ = ["UNKNOWN", "FieldChange", "Change", "Create", "Update", "Replace", "Delete", "Plan",
           "API_PREFIX"]

API_PREFIX = "/api/v3"


class _Unknown:
    """The live value of a write-only field the server never returns and the tool has no record of."""

    def __repr__(self) -> str:
        return "(unknown)"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class FieldChange:
    """One field's move from `before` to `after`. Sensitive values render as `(sensitive)`."""

    field: str
    before: Any
    after: Any
    sensitive: bool = False
    note: str = ""

    @property
    def data(self) -> dict[str, Any]:
        out = {"before": _shown(self.before, self.sensitive), "after": _shown(self.after, self.sensitive)}
        if self.note:
            out["note"] = self.note
        return out


def _shown(value: Any, sensitive: bool) -> Any:
    if value is UNKNOWN:
        return "(unknown)"
    if sensitive and value is not None:
        return "(sensitive)"
    return redact(value)


@dataclass(frozen=True)
class Change:
    """One call. `path` is the API path without `/api/v3`; `depends_on` the addresses of objects
    this one references and that the same apply creates."""

    action: ClassVar[str] = ""
    method: ClassVar[str] = ""
    symbol: ClassVar[str] = ""

    kind: str
    name: str
    path: str
    fields: tuple[FieldChange, ...] = ()
    depends_on: frozenset[str] = frozenset()
    pk: str = ""  # the live object's id; empty for a create

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"

    def body(self) -> dict[str, Any] | None:
        """The request body with every reference still a `Ref` (apply fills in new ids)."""
        return {c.field: c.after for c in self.fields}

    def wire_body(self) -> dict[str, Any] | None:
        body = self.body()
        return None if body is None else plain(body)

    @property
    def data(self) -> dict[str, Any]:
        """The change as the contract's JSON: never a secret in clear."""
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "method": self.method,
            "path": API_PREFIX + self.path,
            "fields": {c.field: c.data for c in self.fields},
        }


@dataclass(frozen=True)
class Create(Change):
    action: ClassVar[str] = "create"
    method: ClassVar[str] = "POST"
    symbol: ClassVar[str] = "+"


@dataclass(frozen=True)
class Update(Change):
    """A PATCH with only the changed fields, plus `companions`: unchanged fields the server demands
    alongside (identification: recordings 2023.10.7/17, 18)."""

    action: ClassVar[str] = "update"
    method: ClassVar[str] = "PATCH"
    symbol: ClassVar[str] = "~"

    companions: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any] | None:
        return {**self.companions, **{c.field: c.after for c in self.fields}}

    @property
    def data(self) -> dict[str, Any]:
        out = super().data
        if self.companions:
            out["companions"] = redact(self.companions)
        return out


@dataclass(frozen=True)
class Replace(Change):
    """A PUT of the full object: `full` holds every writable field (changed or not)."""

    action: ClassVar[str] = "replace"
    method: ClassVar[str] = "PUT"
    symbol: ClassVar[str] = "~"

    full: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any] | None:
        return dict(self.full)


@dataclass(frozen=True)
class Delete(Change):
    action: ClassVar[str] = "delete"
    method: ClassVar[str] = "DELETE"
    symbol: ClassVar[str] = "-"

    def body(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True)
class Plan:
    """Changes in the order apply makes them, and what was compared."""

    api_version: str
    changes: tuple[Change, ...]
    unchanged: int
    server: str = ""

    @property
    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "unchanged": self.unchanged}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def data(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "api_version": self.api_version,
            "changes": [c.data for c in self.changes],
            "summary": self.summary,
        }


def secrets_in(value: Any) -> list[str]:
    """Every secret string inside `value`, to scrub from error messages."""
    if isinstance(value, Secret):
        return [str(value.reveal())]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secrets_in(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in secrets_in(v)]
    return []


def order_changes(changes: list[Change]) -> tuple[Change, ...]:
    """Creates, updates and replaces with every object after the ones it references (manifest
    order otherwise), then deletes. Raises `ValueError` naming the members of a cycle."""
    writes = [c for c in changes if not isinstance(c, Delete)]
    deletes = [c for c in changes if isinstance(c, Delete)]
    by_address = {c.address: c for c in writes if isinstance(c, Create)}
    ordered: list[Change] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(change: Change) -> None:
        if change.address in done and isinstance(change, Create):
            return
        if change.address in visiting:
            cycle = visiting[visiting.index(change.address):] + [change.address]
            raise ValueError(" -> ".join(cycle))
        visiting.append(change.address)
        for dependency in sorted(change.depends_on):
            if dependency in by_address and dependency not in done:
                visit(by_address[dependency])
        visiting.pop()
        if change not in ordered:
            ordered.append(change)
        done.add(change.address)

    for change in writes:
        if change not in ordered:
            visit(change)
    return (*ordered, *reversed(deletes))
