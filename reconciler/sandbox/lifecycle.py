"""Lifecycle rules (2026 `/lifecycle/rules/`, directory 461-479): a periodic review of one object
(`content_type` plus `object_id`) or, without `object_id`, of every object of that type. Which
types the sandbox knows and how authentik names their objects is profile data (`lifecycle` in
`recorded/<version>.json`); this module checks a rule against them and computes the values the
server derives (`target_verbose`, the reviewers as objects)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import Json, JsonObject, ObjectId

from .profile import ObjectRule, Profile
from .rbac import CATALOGUE
from .store import Store

KIND = "lifecycle_rule"
UNHANDLED = object()
TIMEDELTA_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1,
                     "milliseconds": 0.001, "microseconds": 0.000001}


@dataclass(frozen=True)
class Lifecycle:
    store: Store
    profile: Profile

    # -- content types --------------------------------------------------------------------------
    def known(self, content_type: Json) -> bool:
        """A content type of the install: any model of the permission catalogue, not only the
        three the spec offers (470 takes Telegram sources; an unknown one fails the server, 475)."""
        return self.catalogue_row(content_type) is not None

    def catalogue_row(self, content_type: Json) -> JsonObject | None:
        """The first catalogue row of the content type's model (`app_label.model`)."""
        app_label, _, model = str(content_type).partition(".")
        return next((row for row in self.store.lists.get(CATALOGUE, [])
                     if row.get("app_label") == app_label and row.get("model") == model), None)

    def objects_of(self, content_type: Json) -> tuple[Kind | None, Mapping[str, Any]]:
        """The kind holding a content type's objects (the profile names it, else the kind whose
        `meta_model_name` it is) and the profile's facts about it."""
        facts = self.profile.lifecycle.get("content_types", {}).get(str(content_type), {})
        name = facts.get("kind")
        if name is None:
            name = next((kind.name for kind in self.store.model.kinds.values()
                         if kind.constants.get("meta_model_name") == content_type), None)
        return (self.store.model.kinds.get(str(name)) if name else None), facts

    def find(self, content_type: Json, object_id: Json) -> ObjectId | None:
        kind, _ = self.objects_of(content_type)
        if kind is None:
            return None
        return next((pk for pk in self.store.values[kind.name] if str(pk) == str(object_id)), None)

    def verbose(self, content_type: Json, plural: bool) -> str:
        """The model's verbose name (the catalogue's `model_verbose`), plural as its kind's
        constants give it or Django's default (name + "s": 470 `Telegram Sources`)."""
        row = self.catalogue_row(content_type) or {}
        name = str(row.get("model_verbose", str(content_type).partition(".")[2]))
        if not plural:
            return name
        kind, _ = self.objects_of(content_type)
        return str((kind.constants if kind else {}).get("verbose_name_plural") or name + "s")

    # -- computed values -------------------------------------------------------------------------
    def value(self, kind: Kind, values: JsonObject, key: str) -> Any:
        """`target_verbose` (465: `Group: Group rec3-group-lc`; 470 type-wide: `Telegram Sources`),
        `reviewers_obj` (465: {pk, uuid, username, name}) and `reviewer_groups_obj` ({pk, name},
        source reading: ReviewerGroupSerializer); UNHANDLED for any other key."""
        if kind.name != KIND:
            return UNHANDLED
        if key == "target_verbose":
            return self.target_verbose(values)
        if key == "reviewers_obj":
            return [self.reviewer(uuid) for uuid in values.get("reviewers") or []]
        if key == "reviewer_groups_obj":
            groups = self.store.values.get("group", {})
            return [{"pk": pk, "name": groups[pk].get("name")} for pk in values.get("reviewer_groups") or []
                    if pk in groups]
        return UNHANDLED

    def target_verbose(self, values: JsonObject) -> str:
        content_type, object_id = values.get("content_type"), values.get("object_id")
        if object_id is None:
            return self.verbose(content_type, plural=True)
        kind, facts = self.objects_of(content_type)
        pk = self.find(content_type, object_id)
        shown = self.store.values[kind.name][pk] if kind is not None and pk is not None else {}
        text = str(facts.get("str", "{name}")).format_map(Default(shown))
        return f"{self.verbose(content_type, plural=False)}: {text}"

    def reviewer(self, uuid: Json) -> JsonObject:
        for pk, held in self.store.held.items():
            if held.get("uuid") == uuid and self.store.kind_of.get(pk) == "user":
                values = self.store.values["user"][pk]
                return {"pk": pk, "uuid": uuid, "username": values.get("username"), "name": values.get("name")}
        return {"pk": None, "uuid": uuid, "username": None, "name": None}

    # -- the serializer's validate() -------------------------------------------------------------
    def merged(self, attrs: Mapping[str, Json], instance: ObjectId | None) -> dict[str, Json]:
        stored = self.store.values[KIND].get(instance, {}) if instance is not None else {}
        return {**stored, **attrs}

    def object_missing(self, rule: ObjectRule, attrs: Mapping[str, Json],
                       instance: ObjectId | None) -> tuple[str, str] | None:
        """An `object_id` that names no object of the content type (473), read from the request."""
        object_id = attrs.get("object_id")
        if object_id is None:
            return None
        content_type = self.merged(attrs, instance).get("content_type")
        return None if self.find(content_type, object_id) is not None else ("object_id", rule.message)

    def no_reviewer(self, rule: ObjectRule, attrs: Mapping[str, Json],
                    instance: ObjectId | None) -> tuple[str, str] | None:
        """Neither reviewers nor reviewer groups, when the request sets either (source reading)."""
        if not any(name in attrs for name in rule.fields):
            return None
        merged = self.merged(attrs, instance)
        return None if any(merged.get(name) for name in rule.fields) else ("non_field_errors", rule.message)

    def grace_too_long(self, rule: ObjectRule, attrs: Mapping[str, Json],
                       instance: ObjectId | None) -> tuple[str, str] | None:
        """A grace period longer than the interval, the stored one when the request leaves it
        out (468: the exception to reading the request only)."""
        if not any(name in attrs for name in rule.fields):
            return None
        merged = self.merged(attrs, instance)
        grace, interval = (seconds(merged.get(name)) for name in rule.fields)
        return (rule.fields[0], rule.message) if grace is not None and interval is not None and grace > interval \
            else None

    def second_type_wide(self, rule: ObjectRule, attrs: Mapping[str, Json],
                         instance: ObjectId | None) -> tuple[str, str] | None:
        """A second rule for a whole type (one type-wide rule per content type; source reading)."""
        if not any(name in attrs for name in rule.fields):
            return None
        merged = self.merged(attrs, instance)
        if merged.get("object_id") is not None:
            return None
        taken = any(pk != instance and values.get("content_type") == merged.get("content_type")
                    and values.get("object_id") is None for pk, values in self.store.values[KIND].items())
        return ("content_type", rule.message) if taken else None


class Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def seconds(value: Json) -> float | None:
    """authentik's `timedelta_from_string`: `days=30;hours=1` -> seconds; None if unreadable."""
    total = 0.0
    for part in str(value or "").split(";"):
        unit, _, amount = part.strip().partition("=")
        try:
            total += float(amount) * TIMEDELTA_SECONDS[unit.strip()]
        except (KeyError, ValueError):
            return None
    return total
