"""Objects as the API returns them: keys in the model's response order, constants filled in,
read-only fields computed from the state, write-only fields left out."""
from __future__ import annotations

import copy
import re
from typing import Any

from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import Json, JsonObject, ObjectId

from . import files, lifecycle
from .applications import ABSENT, NOT_COMPUTED, Computed
from .directory import UNHANDLED, Directory
from .middleware import API_PREFIX
from .profile import Profile, default_seed
from .quirks import CREATED_BY, creation_defaults, jsonb_order
from .scim import ScimAccounts
from .sources import Sources
from .store import PTR_ID, Store

CONSTANTS = ("component", "verbose_name", "verbose_name_plural", "meta_model_name")
FLOW_SET = "flow_set"
EXPANDED = "_obj"
VERBOSE = "_verbose"
MANAGED = "managed"
STAGE_FAMILY = "stage"
SOURCE_FAMILY = "source"
BASE_VIEW_FAMILIES = {STAGE_FAMILY, SOURCE_FAMILY}
"""Families whose `/…/all/` list shows only the base fields (stages: 03, 16; sources: directory
369); `/policies/all/` shows each policy with its kind's fields (flows 128, 219)."""
BACKCHANNEL = "assigned_backchannel_"

# Read-only lists with one entry per binding (flows 94, 271, 78): the field, the kind holding the
# link, the link's field pointing at this object and the field listed.
PER_BINDING = {
    "stages": ("flow_stage_binding", "target", "stage"),
    "policies": ("policy_binding", "target", "policy"),
}
BOUND_FLOWS = ("flow_stage_binding", "stage", "target")  # a stage's flow_set (78, 124)
POLICY_TARGET = "policy"
TOKEN_OBJ = "token_obj"


class Renderer:
    def __init__(self, model: ApiModel, profile: Profile, store: Store) -> None:
        self.model = model
        self.profile = profile
        self.store = store
        self.directory = Directory(profile, store)
        self.lifecycle = lifecycle.Lifecycle(store, profile)
        self._base_fields: dict[str, tuple[str, ...]] = {}
        self.examples: dict[tuple[str | None, str], tuple[str, ...]] = {}
        self.computed = Computed(model, profile, store)
        self.sources = Sources(profile)
        self.scim = ScimAccounts(dict(profile.sources.get("scim") or {}), store, self.directory)

    def render(self, kind: Kind, pk: ObjectId, generic: frozenset[str] = frozenset()) -> JsonObject:
        """The object as its kind's endpoints show it; `generic` names reference fields whose
        expansion shows the base class (the answer to a write that sent them, flows 76, 98)."""
        values = self.store.values[kind.name][pk]
        body: JsonObject = {}
        for key in kind.response_order:
            field = kind.fields.get(key)
            if key in ("pk", kind.id_field):
                body[key] = pk
            elif field is not None and key in kind.mirrored:
                body[key] = self.directory.read_only(kind, pk, values, key)
            elif field is not None:
                if not field.write_only:
                    value = copy.deepcopy(values.get(key))
                    if key in self.profile.pk_ordered.get(kind.name, ()) and isinstance(value, list):
                        value = sorted(value, key=str)
                    elif f"{kind.name}.{key}" in self.profile.heap_ordered and isinstance(value, list):
                        value = self.store.written_order(value)  # directory 415
                    body[key] = jsonb_order(value) if field.type == "object" and key not in generic else value
            else:
                value = self.read_only(kind, pk, values, key, generic)
                if value is not ABSENT:
                    body[key] = value
        return body

    def render_base(self, kind: Kind, pk: ObjectId) -> JsonObject:
        """A stage as `/stages/all/` shows it: only the fields every stage has (03, 16)."""
        full = self.render(kind, pk)
        return {key: full[key] for key in self.base_fields(kind.family) if key in full}  # 2023 source icon

    def as_base(self, base: Kind, sub: str, pk: ObjectId) -> JsonObject:
        """An object of kind `sub` as `base`'s serializer shows it (a proxy provider under
        /providers/oauth2/, apps 296): its own values, the server's for it, then `base`'s defaults."""
        own = {**self.store.held.get(pk, {}), **self.render(self.model.kinds[sub], pk)}
        defaults = {**creation_defaults(base), **base.constants}
        return {key: defaults[key] if key in base.constants or key not in own else own[key]
                for key in base.response_order if key in own or key in defaults}

    def family_view(self, kind: Kind, pk: ObjectId) -> JsonObject:
        """The object as its family's `/…/all/` endpoint shows it."""
        keys = self.profile.base_views.keys.get(self.model.target_of(kind) or "")
        if kind.family in BASE_VIEW_FAMILIES and not keys:
            return self.render_base(kind, pk)
        full = {**self.render(kind, pk), **self.profile.base_views.member_constants.get(kind.name, {})}
        if not keys:
            return full
        # a base field the kind leaves out shows null (SCIM's flows, apps 400); 2023's absent
        # backchannel assignment stays absent (apps 371)
        return {key: full.get(key) for key in keys if key in full or not key.startswith(BACKCHANNEL)}

    def base_fields(self, family: str) -> tuple[str, ...]:
        """The fields every kind of the family has, in their order."""
        if family not in self._base_fields:
            orders = [kind.response_order for kind in self.model.kinds.values() if kind.family == family]
            self._base_fields[family] = tuple(key for key in orders[0] if all(key in order for order in orders))
        return self._base_fields[family]

    def read_only(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str, generic: frozenset[str]) -> Any:
        special = self.special_value(kind, pk, values, key)
        if special is not UNHANDLED:
            return special
        if key == FLOW_SET:
            return self.bound_flows(pk)
        if key in PER_BINDING:
            return self.per_binding(pk, *PER_BINDING[key])
        if key in self.flow_fields:
            return self.flow_field(kind, pk, values, key)
        if key == "bound_to":  # bindings plus prompt stages validating with it (flows 273, 286)
            return sum(1 for _ in self.store.referrers(POLICY_TARGET, pk))
        if key == "countries_obj":  # flows 162
            return [{"code": code, "name": self.profile.country_names.get(code, code)}
                    for code in values.get("countries") or []]
        if key == CREATED_BY:
            return copy.deepcopy(self.profile.invitation_created_by)
        if key == TOKEN_OBJ and self.scim.owns(kind):
            return self.scim.token_obj(pk, lambda user: self.render(self.model.kinds["user"], user))
        if key.endswith(EXPANDED) and key[: -len(EXPANDED)] in kind.fields:
            name = key[: -len(EXPANDED)]
            return self.expand(kind, values, name, generic=name in generic)
        return self.family_value(kind, pk, values, key)

    def special_value(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """A value the directory families or lifecycle rules compute, or the server holds itself;
        or UNHANDLED."""
        computed = self.directory.read_only(kind, pk, values, key)
        if computed is not UNHANDLED:
            return computed
        reviewed = self.lifecycle.value(kind, values, key)
        if reviewed is not lifecycle.UNHANDLED:
            return reviewed
        return self.held_value(kind, pk, values, key)

    def family_value(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """A value a family computes (sources, the applications' kinds), else one the server keeps
        itself (a blueprint instance's status), else a reverse relation."""
        computed = self.sources.value(kind, pk, values, key) if kind.family == SOURCE_FAMILY else NOT_COMPUTED
        if computed is NOT_COMPUTED:
            computed = self.computed.value(kind, pk, values, key)
        if computed is not NOT_COMPUTED:
            return computed
        if key in self.store.held[pk]:
            return copy.deepcopy(self.store.held[pk][key])
        return self.reverse(kind, pk, key)

    def held_value(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """Constants, display names of choices, and what the server holds itself; or UNHANDLED."""
        if key in CONSTANTS:
            return self.constants(kind).get(key)
        choices = self.profile.verbose_names.get(f"{kind.name}.{key.removesuffix(VERBOSE)}")
        if key.endswith(VERBOSE) and choices is not None:
            return choices.get(str(values.get(key.removesuffix(VERBOSE))))
        if key == PTR_ID:
            return self.store.ptr_of(pk)
        if key == MANAGED:  # only objects authentik's blueprints made are managed (directory 248)
            return self.store.held.get(pk, {}).get(MANAGED)
        return UNHANDLED

    # -- flows ----------------------------------------------------------------------------------
    flow_fields = ("cache_count", "export_url", "background", "background_url", "background_themed_urls")

    def flow_field(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """A flow's computed fields (flows 03): no cached plans, its export URL by slug, and its
        background as the version shows it."""
        config = self.profile.flow_background
        if key == "cache_count":
            return 0
        if key == "export_url":
            return f"{API_PREFIX}{kind.detail_path(values)}export/"
        if key == "background":  # read-only in 2023: what set_background_url stored
            return files.legacy_background(str(self.store.held[pk].get("background") or ""), config)
        name = str(values.get("background") or "")
        return files.background_url(name, config) if key == "background_url" else files.themed_urls(name, config)

    def per_binding(self, pk: ObjectId, kind_name: str, link: str, listed: str) -> list[Json]:
        """One entry per binding, duplicates included, by binding order (flows 94, 271)."""
        links = sorted(self.store.referring(kind_name, link, pk), key=lambda item: item[1].get("order") or 0)
        return [values[listed] for _, values in links if values.get(listed) is not None]

    def bound_flows(self, stage_pk: ObjectId) -> list[JsonObject]:
        """A stage's flows, once per binding (flows 78), with the fields the version lists."""
        kind_name, link, listed = BOUND_FLOWS
        flow = self.model.kind_listing(self.model.kinds[kind_name].fields[listed].reference or "")
        assert flow is not None, "a binding's target is a kind of its own (the flow)"
        keys = self.item_keys(None, FLOW_SET)
        flows = [self.render(flow, values[listed]) for _, values in self.store.referring(kind_name, link, stage_pk)
                 if values[listed] in self.store.values[flow.name]]
        return [{k: item[k] for k in keys if k in item} if keys else item for item in flows]

    # -- references -----------------------------------------------------------------------------
    def expand(self, kind: Kind, values: JsonObject, name: str, *, generic: bool = False) -> Any:
        """`stage_obj`, `policy_obj`, `group_obj`, `flow_obj`, ...: the referenced objects as
        their own lists show them."""
        field = kind.fields[name]
        held = values.get(name)
        target = field.reference or ""
        view = f"{kind.name}.{name}"
        if view in self.profile.base_views.generic_fields or view in self.profile.base_views.full_fields:
            return self.class_view(view, target, held)
        if field.is_list:
            return [self.target_object(target, ident) for ident in held or []]
        if held is None:
            return None
        found = self.target_object(target, held)
        if generic and target == STAGE_FAMILY and found is not None:
            found.update({k: v for k, v in self.profile.generic_stage.items() if k in found})
        return found

    def class_view(self, view: str, target: str, held: Any) -> Any:
        """An expansion the profile names: the base class's (apps 459) or the whole object (344)."""
        if view in self.profile.base_views.generic_fields:
            return self.generic_view(target, held)
        other = self.store.kind_at(held) if isinstance(held, int | str) else None
        return self.render(other, held) if other is not None and isinstance(held, int | str) else None

    def generic_view(self, target: str, held: Any) -> Any:
        """Referenced objects as the base class shows them: its fields and its constants (an
        outpost's `providers_obj`, apps 459)."""
        constants = self.profile.base_views.generic.get(target, {})
        if isinstance(held, list):
            return [self.generic_view(target, ident) for ident in held]
        found = None if held is None else self.target_object(target, held)
        return {**found, **{k: v for k, v in constants.items() if k in found}} if found else found

    def target_object(self, target: str, ident: Any) -> JsonObject | None:
        kind = self.store.kind_at(ident)  # as stored: a UUID's text, or an integer pk
        keys = self.profile.expanded_keys.get(target)
        if kind is not None:
            found = self.family_view(kind, ident)
            return {k: found[k] for k in keys if k in found} if keys else found
        listed = self.store.listed_object(target, ident)
        if listed is None:
            return None
        return copy.deepcopy({k: listed[k] for k in keys if k in listed} if keys else listed)

    def reverse(self, kind: Kind, pk: ObjectId, key: str) -> list[JsonObject]:
        """A reverse relation such as a prompt's `promptstage_set` / `prompt_stages_obj`: the objects
        whose list references hold this one, with the fields the recorded items have (2023.10.7
        shows base stage fields, 2026.2.2 whole prompt stages)."""
        target = self.model.target_of(kind)
        if target is None:
            return []
        keys = self.item_keys(kind.path, key)
        items = [self.render(other, other_pk) for other, other_pk, field in self.store.referrers(target, pk)
                 if field.is_list]
        return [{k: item[k] for k in keys if k in item} if keys else item for item in items]

    def constants(self, kind: Kind) -> JsonObject:
        """Recorded constants; for kinds no recording created (2026 enterprise kinds, endpoints,
        redirect, source, unique_password) derived from the kind's `…/all/types/` entry and path."""
        if kind.constants or kind.family not in (STAGE_FAMILY, POLICY_TARGET):
            return kind.constants
        kind_type = self.profile.stage_type(kind.model) or {}
        verbose = str(kind_type.get("name", spaced(kind.model)))
        plural = verbose[:-1] + "ies" if verbose.endswith("y") else verbose + "s"
        app = "authentik_" + kind.path.strip("/").replace("/", "_")
        return {
            "component": kind_type.get("component", ""),
            "verbose_name": verbose,
            "verbose_name_plural": plural,
            "meta_model_name": f"{app}.{kind.model.lower()}",
        }

    def item_keys(self, path: str | None, key: str) -> tuple[str, ...]:
        """The fields of the items of a read-only list field as the fresh install of this version
        shows them (at `path`, or at any kind's path); empty when it shows none."""
        if (path, key) not in self.examples:
            seed = default_seed(self.model.version)["lists"]
            examples = (obj[key][0] for list_path, objects in seed.items() for obj in objects
                        if path in (None, list_path) and self.model.kind_for_path(list_path)
                        and isinstance(obj.get(key), list)
                        and obj[key] and isinstance(obj[key][0], dict))
            self.examples[path, key] = tuple(next(examples, {}))
        return self.examples[path, key]


def spaced(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel)
