"""Objects as the API returns them: keys in the model's response order, constants filled in,
read-only fields computed from the state, write-only fields left out."""
from __future__ import annotations

import copy
import re
from functools import cached_property
from typing import Any

from reconciler.apimodel import ApiModel, Kind

from .profile import Profile, default_seed
from .quirks import CREATED_BY
from .store import STAGE_FAMILY, Store

CONSTANTS = ("component", "verbose_name", "verbose_name_plural", "meta_model_name")
FLOW_SET = "flow_set"
EXPANDED = "_obj"


class Renderer:
    def __init__(self, model: ApiModel, profile: Profile, store: Store) -> None:
        self.model = model
        self.profile = profile
        self.store = store
        self.examples: dict[tuple[str | None, str], tuple[str, ...]] = {}

    def render(self, kind: Kind, pk: str) -> dict[str, Any]:
        values = self.store.values[kind.name][pk]
        body: dict[str, Any] = {}
        for key in kind.response_order:
            field = kind.fields.get(key)
            if key == "pk":
                body[key] = pk
            elif field is not None:
                if not field.write_only:
                    body[key] = copy.deepcopy(values.get(key))
            else:
                body[key] = self.read_only(kind, pk, values, key)
        return body

    def render_base(self, kind: Kind, pk: str) -> dict[str, Any]:
        """A stage as `/stages/all/` shows it: only the fields every stage has (03, 16)."""
        full = self.render(kind, pk)
        return {key: full[key] for key in self.base_fields}

    @cached_property
    def base_fields(self) -> tuple[str, ...]:
        orders = [kind.response_order for kind in self.model.kinds.values() if kind.family == STAGE_FAMILY]
        return tuple(key for key in orders[0] if all(key in order for order in orders))

    def read_only(self, kind: Kind, pk: str, values: dict[str, Any], key: str) -> Any:
        if key in CONSTANTS:
            return self.constants(kind).get(key)
        if key == FLOW_SET:
            keys = self.item_keys(None, FLOW_SET)
            return [{k: flow.get(k) for k in keys} for flow in self.store.bound_flows(pk)]
        if key == CREATED_BY:
            return copy.deepcopy(self.profile.invitation_created_by)
        if key.endswith(EXPANDED) and key[: -len(EXPANDED)] in kind.fields:
            return self.expand(kind, values, key[: -len(EXPANDED)])
        return self.reverse(kind, pk, key)

    def expand(self, kind: Kind, values: dict[str, Any], name: str) -> Any:
        """`flow_obj`, `connector_obj`, ...: the referenced objects in full."""
        field = kind.fields[name]
        held = values.get(name)
        if field.is_list:
            return [self.target_object(field.reference or "", ident) for ident in held or []]
        return None if held is None else self.target_object(field.reference or "", held)

    def target_object(self, target: str, ident: str) -> dict[str, Any] | None:
        kind = self.store.kind_at(ident)
        if kind is not None:
            return self.render(kind, ident)
        listed = self.store.listed_object(target, ident)
        return copy.deepcopy(listed) if listed is not None else None

    def reverse(self, kind: Kind, pk: str, key: str) -> list[dict[str, Any]]:
        """A reverse relation such as a prompt's `promptstage_set` / `prompt_stages_obj`: the objects
        whose list references hold this one, with the fields the recorded items have (2023.10.7
        shows base stage fields, 2026.2.2 whole prompt stages)."""
        target = self.store.target_of(kind)
        if target is None:
            return []
        keys = self.item_keys(kind.path, key)
        items = [self.render(other, other_pk) for other, other_pk, field in self.store.referrers(target, pk)
                 if field.is_list]
        return [{k: item[k] for k in keys if k in item} if keys else item for item in items]

    def constants(self, kind: Kind) -> dict[str, Any]:
        """Recorded constants; for kinds no recording created (2026 enterprise kinds, endpoints,
        redirect, source) derived from the kind's `/stages/all/types/` entry and its path."""
        if kind.constants or kind.family != STAGE_FAMILY:
            return kind.constants
        stage_type = self.profile.stage_type(kind.model) or {}
        verbose = str(stage_type.get("name", spaced(kind.model)))
        app = "authentik_stages_" + kind.path.strip("/").split("/", 1)[1].replace("/", "_")
        return {
            "component": stage_type.get("component", ""),
            "verbose_name": verbose,
            "verbose_name_plural": verbose + "s",
            "meta_model_name": f"{app}.{kind.model.lower()}",
        }

    def item_keys(self, path: str | None, key: str) -> tuple[str, ...]:
        """The fields of the items of a read-only list field as the fresh install of this version
        shows them (at `path`, or at any kind's path); empty when it shows none."""
        if (path, key) not in self.examples:
            seed = default_seed(self.model.version)["lists"]
            examples = (obj[key][0] for list_path, objects in seed.items() for obj in objects
                        if path in (None, list_path) and self.model.kind_for_path(list_path) and obj.get(key))
            self.examples[path, key] = tuple(next(examples, {}))
        return self.examples[path, key]


def spaced(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel)
