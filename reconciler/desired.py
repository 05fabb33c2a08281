"""Desired objects: what a validated manifest asks for, with where each part was written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.manifest import KeyPath, Position, RawObject

__all__ = ["DesiredObject", "CONTROL_KEYS"]

# Keys of a manifest object that steer the tool and are never sent to authentik.
CONTROL_KEYS = ("kind", "name", "state", "update", "ignore_changes")


@dataclass(frozen=True)
class DesiredObject:
    """One object a manifest manages. `fields` holds only what was written: unwritten fields are
    not managed. Values may still be `{env: ...}`, `{file: ...}` or references."""

    kind: str
    name: str
    fields: dict[str, Any]
    file: str
    positions: dict[KeyPath, Position] = field(repr=False, compare=False)
    state: str = "present"
    update: str = "patch"
    ignore_changes: frozenset[str] = frozenset()

    @classmethod
    def from_raw(cls, raw: RawObject) -> DesiredObject:
        data = raw.data
        return cls(
            kind=data["kind"],
            name=data["name"],
            fields={"name": data["name"]} | {k: v for k, v in data.items() if k not in CONTROL_KEYS},
            file=raw.file,
            positions=raw.positions,
            state=data.get("state", "present"),
            update=data.get("update", "patch"),
            ignore_changes=frozenset(data.get("ignore_changes", [])),
        )

    @property
    def address(self) -> str:
        """`kind/name`, how plans and errors name the object."""
        return f"{self.kind}/{self.name}"

    def location(self, *path: str | int) -> str:
        """`file:line:column` of a field (or of the object)."""
        line, column = self.position(*path)
        return f"{self.file}:{line}:{column}"

    def position(self, *path: str | int) -> Position:
        for end in range(len(path), -1, -1):
            if tuple(path[:end]) in self.positions:
                return self.positions[tuple(path[:end])]
        return (0, 0)
