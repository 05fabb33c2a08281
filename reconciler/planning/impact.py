"""The blast radius of a change: the flows that run the changed object (a stage through its flow-stage
bindings, a policy through its policy bindings on flows or on bindings), and the brands and
applications that use those flows or the object (a brand's flows, an application's provider and
the provider's flows). Read from the model's reference tables, so a family that references flows,
providers or mappings (applications, providers) is covered as data; computed from lists read once
per kind, never per object."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from reconciler.model.kinds import ApiModel, Field, Kind
from reconciler.model.live import LiveState
from reconciler.planning.changes import Change, Create, Impact
from reconciler.values import Json, JsonObject, display_key

__all__ = ["impact_paths", "with_impact"]

RUN = ("stage", "policy")
"""Targets whose objects are what flows run: a reference held by one (a stage's `configure_flow`)
does not make the object it points at part of the flows that run the stage."""
NOT_FOLLOWED = ("source",)
"""Users that do not pass a use on: a source's flows are its own, so an OAuth2 provider trusting
the source (`jwt_federation_sources`) does not make the provider's application a user of them."""
SHOWN = {"flow": "flows", "brand": "brands", "application": "applications"}
"""The targets an impact lists, and under which name."""
EVERY_LOGIN = "flow_authentication"
"""A brand's field naming the flow every login runs."""


def _users(model: ApiModel, target: str) -> Iterator[tuple[str, str, Field | None, str]]:
    """Who may point at objects of `target`: (list path, the user's target or kind, the field,
    the field name) for each kind's reference field, and each guarding field of a target that is
    no kind of the model (a brand's flows)."""
    for kind in model.kinds.values():
        user = model.target_of(kind) or kind.name
        parent = model.parent_field(kind)
        if user in RUN or (user not in model.targets and parent is None):
            continue  # run by flows; or neither shown nor followed further (an invitation to a flow)
        for field in kind.fields.values():
            if field.name != parent and _points_at(model, field.reference, target):
                yield kind.path, user, field, field.name
    for name, spec in model.targets.items():
        if spec.path and model.kind_listing(name) is None and not model.kinds_of(name):
            for guarding, pointed in spec.guards.items():
                if pointed == target:
                    yield spec.path, name, None, guarding


def _points_at(model: ApiModel, reference: str | None, target: str) -> bool:
    if reference is None or reference not in model.targets:
        return False
    return reference == target or target in model.targets[reference].union


def impact_paths(changes: Iterable[Change], model: ApiModel) -> set[str]:
    """The lists the impact of `changes` reads: every list of objects that may use a changed
    object, directly or through what uses it, on the way to a target shown (a source using a
    flow leads to none, so its lists are not read), the lists of the objects a binding sits on,
    and the lists of the targets shown."""
    pending = {t for c in changes if not isinstance(c, Create) and (t := model.target_of(model.kinds[c.kind]))}
    seen: set[str] = set()
    paths: set[str] = set()
    while pending:
        target = pending.pop()
        seen.add(target)
        for path, following, parents in _steps(model, target):
            if any(_leads_to_shown(model, user, frozenset({target})) for user in following):
                paths.add(path)
                if parents:  # what the bindings sit on (a flow-stage binding's own list)
                    paths |= {model.targets[t].path for t in following if model.targets[t].path}
                pending |= following - seen
    shown = {model.targets[name].path for name in SHOWN if name in model.targets and model.targets[name].path}
    return paths | shown if paths else set()


def _steps(model: ApiModel, target: str) -> Iterator[tuple[str, set[str], bool]]:
    """(list path, the targets its objects lead to, whether those are what they sit on) for each
    list whose objects may use `target`: a binding leads to what it sits on (a flow, a flow-stage
    binding, an application), any other user to itself."""
    for path, user, _, _ in _users(model, target):
        kind = model.kind_for_path(path)
        parent = model.parent_field(kind) if kind is not None else None
        if kind is not None and parent is not None:
            reference = kind.fields[parent].reference or ""
            yield path, set(model.targets[reference].union or (reference,)) & set(model.targets), True
        elif user not in NOT_FOLLOWED:
            yield path, {user}, False


def _leads_to_shown(model: ApiModel, target: str, seen: frozenset[str]) -> bool:
    """Whether objects of `target` are shown, or used (through any chain) by objects shown."""
    if target in SHOWN:
        return True
    return any(_leads_to_shown(model, user, seen | {target})
               for _, following, _ in _steps(model, target) for user in following if user not in seen | {target})


def with_impact(changes: tuple[Change, ...], live: LiveState, model: ApiModel) -> tuple[Change, ...]:
    """`changes`, each update, replace and delete carrying what runs or uses its object."""
    return tuple(_with_impact(change, live, model) for change in changes)


def _with_impact(change: Change, live: LiveState, model: ApiModel) -> Change:
    kind = model.kinds[change.kind]
    target = model.target_of(kind)
    if isinstance(change, Create) or target is None or change.id is None:
        return change
    found = _reached(model, live, target, change.id)
    impact = _impact(model, live, found)
    return replace(change, impact=impact) if impact else change


def _reached(model: ApiModel, live: LiveState, target: str, ident: Json) -> dict[str, dict[str, JsonObject]]:
    """Every object using (target, ident), through bindings to their flows and on to what uses
    those, by target and id (the object itself included)."""
    found: dict[str, dict[str, JsonObject]] = {}
    pending: list[tuple[str, Json]] = [(target, ident)]
    while pending:
        current, current_id = pending.pop()
        if str(current_id) in found.setdefault(current, {}):
            continue
        obj = live.target_object(current, current_id)
        found[current][str(current_id)] = obj[1] if obj is not None else {}
        pending += list(_next(model, live, current, current_id))
    return found


def _next(model: ApiModel, live: LiveState, target: str, ident: Json) -> Iterator[tuple[str, Json]]:
    """The objects using one object: a binding stands for its parent (a flow, or the binding it
    sits on), any other user for itself; a binding is used by its parent."""
    own = model.kind_listing(target) if target in model.targets else None
    current = live.target_object(target, ident) if own is not None else None
    if own is not None and current is not None:
        yield from _parent(model, live, own, current[1])
    for path, user, _, name in _users(model, target):
        kind = model.kind_for_path(path)
        for obj in live.lists.get(path, []):
            if not _holds(obj.get(name), ident):
                continue
            if kind is not None and model.parent_field(kind) is not None:
                yield from _parent(model, live, kind, obj)
            else:
                yield user, obj.get(model.targets[user].id if user in model.targets else "pk")


def _parent(model: ApiModel, live: LiveState, kind: Kind, obj: JsonObject) -> Iterator[tuple[str, Json]]:
    """The object a binding sits on (a flow, or a flow-stage binding), when the lists hold it."""
    parent = model.parent_field(kind)
    if parent is None:
        return
    held = live.target_object(kind.fields[parent].reference or "", obj.get(parent))
    member = _member(model, kind, parent, held)
    if member is not None:
        yield member, obj.get(parent)


def _member(model: ApiModel, kind: Kind, parent: str, held: tuple[Kind | None, JsonObject] | None) -> str | None:
    """The target a binding's parent is (a flow, or a flow-stage binding)."""
    if held is None or held[0] is None:
        return None
    return model.target_of(held[0]) or kind.fields[parent].reference


def _holds(value: Json, ident: Json) -> bool:
    if isinstance(value, list):
        return any(str(item) == str(ident) for item in value)
    return value is not None and str(value) == str(ident)


def _impact(model: ApiModel, live: LiveState, found: dict[str, dict[str, JsonObject]]) -> Impact:
    shown = {name: sorted(display_key(tuple(obj.get(k) for k in model.targets[name].key))
                          for obj in found.get(name, {}).values() if obj)
             for name in SHOWN if name in model.targets}
    flows = set(found.get("flow", {}))
    every_login = any(str(brand.get(EVERY_LOGIN)) in flows for brand in found.get("brand", {}).values())
    return Impact(**{SHOWN[name]: tuple(values) for name, values in shown.items()}, every_login=every_login)
