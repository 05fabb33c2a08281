"""What one authentik version answers beyond the API model: fixed bodies, message wordings, list
behaviour, the serializers' cross-field rules and the few behaviours that differ between versions.
Loaded from `recorded/<version>.json`, where every value names the recording (or the source file
read) it comes from, so a new version is a new file, not new code."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from reconciler.values import Json, JsonObject

from .discovery import DiscoveryAnswers, discovery_answers

RECORDED_DIR = Path(__file__).parent / "recorded"
SEEDS_DIR = Path(__file__).parent.parent / "model" / "seeds"
DEFAULT_LIST = "default"


@dataclass(frozen=True)
class NestedWrite:
    """A read-only nested list the spec still lists as writable (2023.10.7 `flow_set`)."""

    target: str
    required: tuple[str, ...]
    unique: dict[str, str]


@dataclass(frozen=True)
class ListSpec:
    """How one list endpoint filters, searches and orders: `filters` maps a query parameter to
    its kind of match (`exact`, `pk`, `reference`, `binding_model`, `isnull`, `unbound`)."""

    filters: dict[str, str]
    search: tuple[str, ...]
    ordering: tuple[str, ...]
    last_written: bool = False
    """Ties (and an unordered list) come in the order the objects were last written, as a
    Postgres table scan gives rows an update rewrote (directory 282, 366)."""


@dataclass(frozen=True)
class ObjectRule:
    """One cross-field check of a kind's serializer (see `rules.py` for what each `rule` does)."""

    kind: str
    rule: str
    fields: tuple[str, ...]
    message: str = ""
    many_message: str = ""
    missing: JsonObject = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    when: JsonObject = field(default_factory=dict)
    create_name: str = ""
    error_field: str = ""


@dataclass(frozen=True)
class BaseViews:
    """How a family's base class shows its members (providers, mappings, service connections):
    the fields of `/…/all/` and of expansions by `keys`, the constants a `generic` expansion
    (`kind.field` in `generic_fields`) shows instead of the member's own, and the references
    expanded as the whole object of their kind (`full_fields`)."""

    keys: dict[str, tuple[str, ...]]
    generic: dict[str, JsonObject]
    generic_fields: frozenset[str]
    full_fields: frozenset[str]
    member_constants: dict[str, JsonObject]
    """Per kind, the constants its family's list shows that its own answers lack (apps 181)."""


@dataclass(frozen=True)
class BlueprintAnswers:
    """How blueprint instances answer: whether `apply` only queues the import (2026) or runs it
    before answering (2023), the message list for a model authentik does not have, and whether
    `used_by` lists the worker's task row of each apply."""

    queued_apply: bool = False
    unknown_model: tuple[str, ...] = ()
    task_rows: bool = False


@dataclass(frozen=True)
class Profile:
    version: str
    admin_version: JsonObject
    root_config: JsonObject
    list_extra: JsonObject
    path_list_extra: dict[str, JsonObject]
    types: dict[str, list[JsonObject]]
    """The recorded `types/` list of each family target (`stage`, `policy`)."""
    invitation_created_by: JsonObject
    not_found: str
    json_parser: str
    used_by_many: str
    used_by_set_null: str
    used_by_cascade: str
    used_by_labels: dict[str, JsonObject]
    """Per kind, the `app` and `name` template of its `used_by` entries where its path does not
    give them (a 2026 brand lives in authentik_brands and is named `Brand <domain>`, directory 231)."""
    used_by_unlisted: frozenset[str]
    """`<kind>.<field>` references that `used_by` leaves out (SET_DEFAULT: an application's provider)."""
    current_brand: JsonObject
    """`/core/brands/current/` (2023 tenants): `of` the kind, `path`, the recorded `body` (directory 09)."""
    rbac: JsonObject
    """How roles and their permissions answer (`rbac.py`, `roles.py`; directory 162-196)."""
    nested_writes: dict[str, NestedWrite]
    lists: dict[str, ListSpec]
    page_size: int
    max_page_size: int | None
    generic_stage: JsonObject
    expanded_keys: dict[str, tuple[str, ...]]
    rules: tuple[ObjectRule, ...]
    unique_messages: dict[str, str]
    field_messages: dict[str, dict[str, str]]
    flow_background: JsonObject
    country_names: dict[str, str]
    base_views: BaseViews
    apps: AppAnswers
    blueprints: BlueprintAnswers
    generate_algs: tuple[str, ...]
    """The `alg` choices of `…/certificatekeypairs/generate/` (none in 2023)."""
    generated_secrets: dict[str, dict[str, int]]
    """Per kind, the random values (field: length) the server draws on create (apps 190, 277, 316)."""
    generated_mappings: dict[str, dict[str, tuple[str, ...]]]
    """Per kind, reference lists a create fills with the mappings of these `managed` ids (277)."""
    avatar_blank_name: str | None
    """The name an initials avatar is drawn from when a user's is blank; None: its username."""
    verbose_names: dict[str, dict[str, str]]
    """`<kind>.<field>` -> the display name of each choice, shown as `<field>_verbose`."""
    accounts: JsonObject
    """User and membership endpoints: whether set_password requires a password, how add_user
    answers a non-integer pk, the message for a taken service-account name."""
    fixed: dict[str, Json]
    """Fixed answers at paths below a kind's (`/sources/oauth/source_types/`)."""
    unique_with: dict[str, str]
    """Kinds whose natural key is unique only together with another field (2023 groups: parent),
    or not at all ("": a 2023 tenant's domain)."""
    heap_ordered: frozenset[str] = frozenset()
    """`kind.field` many-to-many lists read in the order their targets were last written, and the
    `used_by` of a target listing the objects so (PostgreSQL's storage order; directory 415, 434)."""
    lifecycle: JsonObject = field(default_factory=dict)
    """Lifecycle rules' content types: the kind holding each one's objects and how authentik
    names an object (`str`), where the kind's own facts do not say (lifecycle.py)."""
    unchecked_choices: frozenset[str] = frozenset()
    """`kind.field` whose spec enum the server does not enforce (a lifecycle rule's content type)."""
    put_defaults: dict[str, JsonObject] = field(default_factory=dict)
    """Per kind, the value a PUT gives a field it leaves out (DRF's default for a field of a
    unique-together set: a lifecycle rule's object_id, 470)."""
    used_by_bases: dict[str, JsonObject] = field(default_factory=dict)
    """Targets a many-to-many relation reaches through their base class, as used_by names them."""
    sources: JsonObject = field(default_factory=dict)
    """`/sources/all/`'s actions: user_settings entries per kind, set_icon_url, the undeletable."""
    discovery: DiscoveryAnswers | None = None
    """How an OAuth source's write fetches its OpenID Connect documents (directory 278-280)."""
    pk_ordered: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per kind, the reference lists the server answers in the targets' pk order, whatever the
    order sent (2026 source mappings, directory 315)."""

    def not_found_detail(self, model: str) -> str:
        return self.not_found.format(model=model)

    def stage_type(self, model: str) -> JsonObject | None:
        """The `/stages/all/types/` (or `/policies/all/types/`) entry of a model class."""
        return next((t for types in self.types.values() for t in types if t["model_name"] == model.lower()), None)

    def list_spec(self, *names: str) -> ListSpec:
        """The list behaviour of the first of `names` (a kind or a path) the profile describes,
        completed from the default."""
        default = self.lists[DEFAULT_LIST]
        spec = next((self.lists[name] for name in names if name in self.lists), default)
        return spec

    def rules_of(self, kind: str, rule: str | None = None) -> list[ObjectRule]:
        return [r for r in self.rules if r.kind == kind and rule in (None, r.rule)]

    def extra_for(self, path: str) -> JsonObject:
        """Keys a list envelope carries besides pagination and results (2026 `autocomplete`)."""
        return self.path_list_extra.get(path, self.list_extra)


def blueprint_answers(raw: JsonObject) -> BlueprintAnswers:
    return BlueprintAnswers(queued_apply=raw.get("apply") == "queued",
                            unknown_model=tuple(str(m) for m in raw.get("unknown_model") or ()),
                            task_rows=bool(raw.get("task_rows")))


def list_spec(raw: JsonObject, default: ListSpec | None) -> ListSpec:
    return ListSpec(
        filters=dict(raw["filters"]) if "filters" in raw else dict(default.filters if default else {}),
        search=tuple(raw["search"]) if "search" in raw else (default.search if default else ()),
        ordering=tuple(raw["ordering"]) if "ordering" in raw else (default.ordering if default else ()),
        last_written=bool(raw.get("last_written", False)),
    )


def object_rule(raw: JsonObject) -> ObjectRule:
    return ObjectRule(kind=raw["kind"], rule=raw["rule"], fields=tuple(raw["fields"]),
                      message=raw.get("message", ""), many_message=raw.get("many_message", ""),
                      missing=dict(raw.get("missing", {})), needs=tuple(raw.get("needs", ())),
                      when=dict(raw.get("when", {})), create_name=raw.get("create_name", ""),
                      error_field=raw.get("error_field", ""))


@cache
def load_profile(version: str) -> Profile:
    raw = json.loads((RECORDED_DIR / f"{version}.json").read_text())
    nested = {
        name: NestedWrite(spec["target"], tuple(spec["required"]), dict(spec["unique"]))
        for name, spec in raw["nested_writes"]["fields"].items()
    }
    default_list = list_spec(raw["lists"][DEFAULT_LIST], None)
    lists = {name: list_spec(spec, default_list) for name, spec in raw["lists"].items()
             if isinstance(spec, dict)}
    return Profile(
        version=version,
        admin_version=raw["admin_version"]["body"],
        root_config=raw["root_config"]["body"],
        list_extra=raw["list_extra"]["default"],
        path_list_extra=raw["list_extra"]["paths"],
        types={"stage": raw["stage_types"]["body"], "policy": raw["policy_types"]["body"],
               **raw.get("family_types", {}).get("body", {}), "source": raw["source_types"]["body"]},
        invitation_created_by=raw["invitation_created_by"]["body"],
        not_found=raw["not_found"]["detail"],
        json_parser=raw["json_parser"]["style"],
        used_by_many=raw["used_by_actions"]["many"],
        used_by_set_null=raw["used_by_actions"]["set_null"],
        used_by_cascade=raw["used_by_actions"]["cascade"],
        used_by_labels=dict(raw["used_by_actions"].get("labels", {})),
        used_by_bases=dict(raw["used_by_actions"].get("bases", {})),
        used_by_unlisted=frozenset(raw["used_by_actions"].get("unlisted", ())),
        current_brand=dict(raw.get("current_brand", {})),
        rbac=dict(raw.get("rbac", {})),
        nested_writes=nested,
        lists=lists,
        page_size=raw["page_size"]["default"],
        max_page_size=raw["page_size"]["max"],
        generic_stage=raw["generic_stage"]["constants"],
        expanded_keys={target: tuple(keys) for target, keys in raw["expanded"]["keys"].items()},
        rules=tuple(object_rule(rule) for rule in raw["object_rules"]["rules"]),
        unique_messages={k: v for k, v in raw["unique_messages"].items() if k != "recording"},
        field_messages=raw["field_messages"]["messages"],
        flow_background=raw["flow_background"],
        country_names=raw["countries"]["names"],
        base_views=base_views(raw.get("base_views", {})),
        apps=app_answers(raw.get("apps", {})),
        blueprints=blueprint_answers(raw.get("blueprints", {})),
        generate_algs=tuple(raw.get("certificate_generate", {}).get("algs", ())),
        generated_secrets=raw.get("generated", {}).get("secrets", {}),
        generated_mappings={kind: {name: tuple(ids) for name, ids in fields.items()}
                            for kind, fields in raw.get("generated", {}).get("managed_mappings", {}).items()},
        avatar_blank_name=raw["avatars"]["blank_name"],
        verbose_names=raw["verbose_names"]["fields"],
        accounts=raw["accounts"],
        fixed=raw["fixed"]["paths"],
        unique_with=raw["unique_with"]["kinds"],
        sources=dict(raw.get("sources", {})),
        discovery=discovery_answers(raw.get("discovery", {})),
        pk_ordered={kind: tuple(names) for kind, names in raw.get("pk_ordered", {}).get("kinds", {}).items()},
        heap_ordered=frozenset(raw.get("heap_order", {}).get("fields", ())),
        lifecycle=dict(raw.get("lifecycle", {})),
        unchecked_choices=frozenset(raw.get("unchecked_choices", {}).get("fields", ())),
        put_defaults=dict(raw.get("put_defaults", {}).get("kinds", {})),
    )


def base_views(raw: JsonObject) -> BaseViews:
    return BaseViews(keys={target: tuple(keys) for target, keys in raw.get("keys", {}).items()},
                     generic=dict(raw.get("generic", {})), generic_fields=frozenset(raw.get("generic_fields", ())),
                     full_fields=frozenset(raw.get("full_fields", ())),
                     member_constants=dict(raw.get("member_constants", {})))


@dataclass(frozen=True)
class AppAnswers:
    """How a version shows the computed fields of providers and outposts (applications.py)."""

    backchannel_absent: bool
    """2023 leaves `assigned_backchannel_application_*` out until a provider is one (apps 190, 401)."""
    redirect_uris_as_text: bool
    """2023 gives a proxy provider's redirect URIs as one string of regexes (apps 277)."""
    saml_metadata_by_app: bool
    """2026 links a SAML provider's metadata under its application once it has one (396)."""
    outpost_defaults: JsonObject
    """`/outposts/instances/default_settings/`, `authentik_host` being the server's address (20)."""
    backchannel_kinds: tuple[str, ...]
    """The kinds `/providers/all/?backchannel=true` lists (apps 374)."""
    cached_lists: tuple[str, ...]
    """Kinds whose list is served from a cache that ignores filters (applications, 433-436)."""
    unlicensed_targets: tuple[str, ...]
    """Families whose kinds are written without a licence although their type says
    `requires_enterprise` (the Google Workspace and Entra mappings, apps 101, 107)."""
    owned_lists: dict[str, tuple[str, ...]]
    """Per kind, lists whose objects belong to it alone and go with it (backchannel providers)."""
    actions: tuple[JsonObject, ...]
    """Read-only actions answered with a fixed body: `{"of": kind or family, "action", "body"}`."""
    detail_fields: dict[str, tuple[str, ...]]
    """Per kind, the fields a list with `?include_details=false` nulls (2023 key pairs, 17, 37)."""
    stale_answers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per kind, expansions an update's answer shows as they were before the write (the field
    they expand, unless the write sets it): 2026 `provider_obj` (apps 405)."""

def app_answers(raw: JsonObject) -> AppAnswers:
    return AppAnswers(backchannel_absent=bool(raw.get("backchannel_absent_when_unassigned")),
                      redirect_uris_as_text=bool(raw.get("redirect_uris_as_text")),
                      saml_metadata_by_app=bool(raw.get("saml_metadata_by_app")),
                      outpost_defaults=dict(raw.get("outpost_defaults", {})),
                      backchannel_kinds=tuple(raw.get("backchannel_kinds", ())),
                      cached_lists=tuple(raw.get("cached_lists", ())),
                      unlicensed_targets=tuple(raw.get("unlicensed_targets", ())),
                      owned_lists={kind: tuple(fields) for kind, fields in raw.get("owned_lists", {}).items()},
                      actions=tuple(raw.get("actions", ())),
                      detail_fields={kind: tuple(f) for kind, f in raw.get("detail_fields", {}).items()},
                      stale_answers={kind: dict(fields) for kind, fields in raw.get("stale_answers", {}).items()})


@cache
def default_seed(version: str) -> JsonObject:
    """The objects of a fresh install of `version` (generated from the recordings); shared, so
    callers copy before they change anything."""
    seed: JsonObject = json.loads((SEEDS_DIR / f"{version}.json").read_text())
    return seed
