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
    avatar_blank_name: str | None
    verbose_names: dict[str, dict[str, str]]
    accounts: JsonObject
    fixed: dict[str, Json]
    """Fixed answers at paths below a kind's (`/sources/oauth/source_types/`)."""
    unique_with: dict[str, str]
    """Kinds whose natural key is unique only together with another field (2023 groups: parent)."""
    """User and membership endpoints: whether set_password requires a password, how add_user
    answers a non-integer pk, the message for a taken service-account name."""
    """`<kind>.<field>` -> the display name of each choice, shown as `<field>_verbose`."""
    """The name an initials avatar is drawn from when a user's is blank; None: its username."""

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


def list_spec(raw: JsonObject, default: ListSpec | None) -> ListSpec:
    return ListSpec(
        filters=dict(raw["filters"]) if "filters" in raw else dict(default.filters if default else {}),
        search=tuple(raw["search"]) if "search" in raw else (default.search if default else ()),
        ordering=tuple(raw["ordering"]) if "ordering" in raw else (default.ordering if default else ()),
    )


def object_rule(raw: JsonObject) -> ObjectRule:
    return ObjectRule(kind=raw["kind"], rule=raw["rule"], fields=tuple(raw["fields"]),
                      message=raw.get("message", ""), many_message=raw.get("many_message", ""),
                      missing=dict(raw.get("missing", {})), needs=tuple(raw.get("needs", ())),
                      when=dict(raw.get("when", {})), create_name=raw.get("create_name", ""))


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
               "source": raw["source_types"]["body"]},
        invitation_created_by=raw["invitation_created_by"]["body"],
        not_found=raw["not_found"]["detail"],
        json_parser=raw["json_parser"]["style"],
        used_by_many=raw["used_by_actions"]["many"],
        used_by_set_null=raw["used_by_actions"]["set_null"],
        used_by_cascade=raw["used_by_actions"]["cascade"],
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
        avatar_blank_name=raw["avatars"]["blank_name"],
        verbose_names=raw["verbose_names"]["fields"],
        accounts=raw["accounts"],
        fixed=raw["fixed"]["paths"],
        unique_with=raw["unique_with"]["kinds"],
    )


@cache
def default_seed(version: str) -> JsonObject:
    """The objects of a fresh install of `version` (generated from the recordings); shared, so
    callers copy before they change anything."""
    seed: JsonObject = json.loads((SEEDS_DIR / f"{version}.json").read_text())
    return seed
