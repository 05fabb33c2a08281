"""authentik's own blueprints as facts: every blueprint file a release ships, with each entry's
model, state, identifiers (`!KeyOf` resolved within the blueprint) and the attributes it sets
(generated into `model/blueprints/<version>.json` from authentik-blueprints). authentik applies an
enabled instance again when its file changes (an upgrade) or when applied by hand, and each
`present` entry then writes every attribute it lists onto the object it identifies: the planner
warns about changes that will be set back, and the sandbox applies instances as the server does."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reconciler.model.kinds import Kind
from reconciler.values import Json, JsonObject

__all__ = ["Blueprint", "BlueprintFacts", "Entry", "Lookup", "blueprint_facts", "identifies", "is_reference"]

FACTS = Path(__file__).parent / "blueprints"

Lookup = Callable[[str, Json], "tuple[Kind | None, Mapping[str, Json]] | None"]
"""(reference target, id) -> the kind (when known) and the object an id points at, or None."""


@dataclass(frozen=True)
class Entry:
    """One entry of a blueprint: `state` present (writes `attrs` on every apply), created (only
    when the object is missing) or absent; `values` holds the attributes' values, YAML tags kept
    as `{"!Tag": value}` and `!KeyOf` resolved to `{"model", "identifiers"}`."""

    model: str
    state: str
    identifiers: JsonObject
    attrs: tuple[str, ...]
    values: JsonObject


@dataclass(frozen=True)
class Blueprint:
    path: str
    name: str
    instantiate: bool
    sha512: str
    labels: JsonObject
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class BlueprintFacts:
    """The blueprints of one version by path, the `app.model` blueprints name each kind by, and
    every model the version has that a blueprint may name (the spec's `ModelEnum`)."""

    version: str
    models: dict[str, str]
    blueprints: dict[str, Blueprint]
    known_models: frozenset[str] = frozenset()

    def model_of(self, kind: Kind) -> str | None:
        return self.models.get(kind.name)


@cache
def blueprint_facts(version: str) -> BlueprintFacts:
    """The facts of `version` (none for a version the project has no blueprint data of)."""
    path = FACTS / f"{version}.json"
    if not path.exists():
        return BlueprintFacts(version, {}, {})
    raw = json.loads(path.read_text())
    blueprints = {b["path"]: Blueprint(b["path"], b["name"], b["instantiate"], b.get("sha512", ""),
                                       dict(b.get("labels") or {}), tuple(_entry(e) for e in b["entries"]))
                  for b in raw["blueprints"]}
    return BlueprintFacts(version, dict(raw["models"]), blueprints, frozenset(raw.get("known_models", ())))


def _entry(raw: JsonObject) -> Entry:
    return Entry(raw["model"], raw["state"], dict(raw["identifiers"]), tuple(raw["attrs"]), dict(raw["values"]))


def is_reference(value: Json) -> bool:
    """A resolved `!KeyOf`: `{"model": ..., "identifiers": {...}}`."""
    return isinstance(value, dict) and set(value) == {"model", "identifiers"}


def identifies(identifiers: Mapping[str, Json], kind: Kind | None, obj: Mapping[str, Json], lookup: Lookup) -> bool:
    """Whether an entry's identifiers pick out `obj`: plain values are compared, a resolved
    `!KeyOf` is matched against the object the reference field points at (a binding's flow and
    stage), and an identifier this tool cannot evaluate (`!Find`, `!Env`, ...) matches nothing."""
    for name, wanted in identifiers.items():
        value = obj.get(name)
        if is_reference(wanted):
            field = kind.fields.get(name) if kind is not None else None
            found = lookup(field.reference, value) if field is not None and field.reference and value else None
            if found is None or not identifies(wanted["identifiers"], found[0], found[1], lookup):
                return False
        elif isinstance(wanted, dict) or value != wanted:
            return False
    return True
