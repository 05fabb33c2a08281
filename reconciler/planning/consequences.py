"""What authentik's own blueprints will do to a plan's changes (the blueprint tug of war, authentik
issue #4945). An enabled instance is applied again when its file changes (an upgrade) or by hand,
and each `present` entry then writes back every attribute it lists onto the object it identifies
(authentik-blueprints/README.md: `user_fields` of default-authentication-identification came back
two seconds after an apply; `show_matched_user`, not listed, kept its value). So a change to a
listed field, or the delete of an object an entry makes, carries `blueprint_conflicts`; and when
the instance ran after this repository's last apply, the change is most likely drift it made."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reconciler.model.blueprints import Blueprint, BlueprintFacts, blueprint_facts, identifies
from reconciler.model.kinds import ApiModel, Kind
from reconciler.model.live import LiveState
from reconciler.planning.changes import BlueprintConflict, Change, Create, Delete
from reconciler.values import Json

__all__ = ["EnabledInstance", "instances_path", "may_conflict", "with_blueprint_conflicts"]

INSTANCE_MODEL = "authentik_blueprints.blueprintinstance"
DELETE_STATES = ("present", "created")
"""Entries that make their object again when it is missing."""


@dataclass(frozen=True)
class EnabledInstance:
    """An enabled blueprint instance of a shipped blueprint, as `/managed/blueprints/` lists it."""

    name: str
    blueprint: Blueprint
    last_applied: str | None


def instances_kind(model: ApiModel, facts: BlueprintFacts) -> Kind | None:
    return next((kind for kind in model.kinds.values() if facts.model_of(kind) == INSTANCE_MODEL), None)


def instances_path(model: ApiModel) -> str | None:
    """The list of blueprint instances, read once at plan time when a change may conflict."""
    kind = instances_kind(model, blueprint_facts(model.version))
    return kind.path if kind is not None else None


def may_conflict(changes: Iterable[Change], model: ApiModel) -> bool:
    """Whether a change updates or deletes an object of a model some shipped blueprint has an entry
    for: only then are the instances read (most plans touch none)."""
    facts = blueprint_facts(model.version)
    models = {entry.model for blueprint in facts.blueprints.values() for entry in blueprint.entries}
    return any(not isinstance(c, Create) and facts.model_of(model.kinds[c.kind]) in models for c in changes)


def with_blueprint_conflicts(changes: tuple[Change, ...], live: LiveState, model: ApiModel,
                             last_apply: str | None) -> tuple[Change, ...]:
    """`changes`, each carrying the conflicts with the enabled instances `live` lists; an instance
    the same plan disables conflicts with nothing."""
    facts = blueprint_facts(model.version)
    kind = instances_kind(model, facts)
    if kind is None or kind.path not in live.lists:
        return changes
    disabled = {change.id for change in changes if change.kind == kind.name
                for field in change.fields if field.field == "enabled" and field.after is False}
    instances = [EnabledInstance(str(obj.get("name")), facts.blueprints[str(obj.get("path"))],
                                 _text(obj.get("last_applied")))
                 for obj in live.objects(kind) if obj.get("enabled") is not False and obj.get(kind.id_field)
                 not in disabled and obj.get("path") in facts.blueprints]
    return tuple(_with_conflicts(change, instances, live, model, facts, last_apply) for change in changes)


def _with_conflicts(change: Change, instances: list[EnabledInstance], live: LiveState, model: ApiModel,
                    facts: BlueprintFacts, last_apply: str | None) -> Change:
    kind = model.kinds[change.kind]
    name = facts.model_of(kind)
    current = live.by_id(kind, change.id) if change.id is not None and not isinstance(change, Create) else None
    if name is None or current is None:
        return change
    found = [conflict for instance in instances
             for conflict in _conflicts(change, kind, name, current, instance, live, last_apply)]
    return replace(change, blueprint_conflicts=tuple(found)) if found else change


def _conflicts(change: Change, kind: Kind, name: str, current: Mapping[str, Json], instance: EnabledInstance,
               live: LiveState, last_apply: str | None) -> list[BlueprintConflict]:
    """The conflicts of one change with one instance: one per entry of the instance's blueprint
    that identifies the object."""
    deleting = isinstance(change, Delete)
    changed = {field.field for field in change.fields}
    found = []
    for entry in instance.blueprint.entries:
        if entry.model != name or entry.state not in (DELETE_STATES if deleting else ("present",)):
            continue
        fields = entry.attrs if deleting else tuple(sorted(changed & set(entry.attrs)))
        if (deleting or fields) and identifies(entry.identifiers, kind, current, live.target_object):
            drift = instance.last_applied if not deleting and _later(instance.last_applied, last_apply) else None
            found.append(BlueprintConflict(instance.blueprint.path, instance.name, fields, drift))
    return found


def _later(moment: str | None, than: str | None) -> bool:
    """Whether the ISO 8601 time `moment` is after `than` (False when either is unknown)."""
    if not moment or not than:
        return False
    try:
        return _aware(moment) > _aware(than)
    except ValueError:
        return False


def _aware(text: str) -> datetime:
    """An ISO 8601 time; one without an offset (a hand-edited state file) is read as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(value: Json) -> str | None:
    return value if isinstance(value, str) else None

