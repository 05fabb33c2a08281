"""The sandbox's state: the objects of every kind, kept as the writable values the API accepted,
and the read-only lists of the seed (flows, bindings, sources, ...) that references point at."""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.apimodel import ApiModel, Field, Kind

from .quirks import creation_defaults

BINDINGS_PATH = "/flows/bindings/"
FLOWS_TARGET = "flow"
STAGE_FAMILY = "stage"


class Store:
    """Objects by kind and pk; `kind_of` keeps every pk in insertion order, the database order
    that the unordered `/stages/all/` list shows."""

    def __init__(self, model: ApiModel, seed: Mapping[str, Any]) -> None:
        self.model = model
        self.values: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in model.kinds}
        self.kind_of: dict[str, str] = {}
        self.lists: dict[str, list[dict[str, Any]]] = {}
        for path, objects in seed.get("lists", {}).items():
            kind = model.kind_for_path(path)
            if kind is None:
                self.lists[path] = copy.deepcopy(list(objects))
                continue
            for obj in objects:
                values = {f: copy.deepcopy(obj[f]) for f in kind.fields if f in obj}
                self.insert(kind, str(obj.get("pk") or uuid.uuid4()), {**creation_defaults(kind), **values})

    # -- objects of the kinds -------------------------------------------------------------------
    def insert(self, kind: Kind, pk: str, values: dict[str, Any]) -> None:
        self.values[kind.name][pk] = values
        self.kind_of[pk] = kind.name

    def get(self, kind: Kind, pk: str) -> dict[str, Any] | None:
        return self.values[kind.name].get(pk)

    def kind_at(self, pk: str) -> Kind | None:
        name = self.kind_of.get(pk)
        return self.model.kinds[name] if name else None

    def members(self, family: str) -> Iterator[tuple[Kind, str]]:
        """Objects of a family (all stage kinds share one) in insertion order."""
        for pk, name in self.kind_of.items():
            kind = self.model.kinds[name]
            if kind.family == family:
                yield kind, pk

    def name_taken(self, kind: Kind, name: str, exclude: str | None) -> bool:
        """Names are unique across a family: the unique column sits on the base table (71, 72)."""
        return any(
            pk != exclude and self.values[other.name][pk].get("name") == name
            for other, pk in self.members(kind.family)
        )

    def delete(self, pk: str) -> None:
        """Delete like the database would: bindings of a stage go with it, references to it are
        nulled (nullable foreign keys) or dropped from lists (many-to-many)."""
        kind = self.kind_at(pk)
        if kind is None:
            return
        del self.values[kind.name][pk]
        del self.kind_of[pk]
        if BINDINGS_PATH in self.lists:
            self.lists[BINDINGS_PATH] = [b for b in self.lists[BINDINGS_PATH] if b.get("stage") != pk]
        target = self.target_of(kind)
        if target is None:
            return
        for other, other_pk, field in list(self.referrers(target, pk)):
            values = self.values[other.name][other_pk]
            if field.is_list:
                values[field.name] = [item for item in values[field.name] if item != pk]
            elif field.nullable:
                values[field.name] = None
            else:
                self.delete(other_pk)

    # -- references -----------------------------------------------------------------------------
    def target_of(self, kind: Kind) -> str | None:
        return self.model.target_of(kind)

    def target_kinds(self, target: str) -> list[Kind]:
        return [kind for kind in self.model.kinds.values() if kind.family == target]

    def target_exists(self, target: str, ident: str, only_kind: str | None = None) -> bool:
        if self.target_kinds(target):
            kind = self.kind_at(ident)
            return kind is not None and kind.family == target and only_kind in (None, kind.name)
        return self.listed_object(target, ident) is not None

    def listed_object(self, target: str, ident: str) -> dict[str, Any] | None:
        spec = self.model.targets[target]
        return next((o for o in self.lists.get(spec.path, []) if str(o.get(spec.id)) == ident), None)

    def referrers(self, target: str, pk: str) -> Iterator[tuple[Kind, str, Field]]:
        """Stored objects whose reference fields to `target` hold `pk`."""
        for name, objects in self.values.items():
            kind = self.model.kinds[name]
            fields = [f for f in kind.fields.values() if f.reference == target]
            for other_pk, values in objects.items():
                for field in fields:
                    held = values.get(field.name)
                    if held == pk or (field.is_list and isinstance(held, list) and pk in held):
                        yield kind, other_pk, field

    def bound_flows(self, stage_pk: str) -> list[dict[str, Any]]:
        """The flows a stage is bound to, in the order of the flow list."""
        flow_pks = {b.get("target") for b in self.lists.get(BINDINGS_PATH, []) if b.get("stage") == stage_pk}
        flows = self.lists.get(self.model.targets[FLOWS_TARGET].path, [])
        return [flow for flow in flows if flow.get("pk") in flow_pks]
