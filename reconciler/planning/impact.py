"""The blast radius of a change: the flows that run the changed object (a stage through its flow-stage
bindings, a policy through its policy bindings on flows or on bindings), and the brands and
applications that use those flows or the object (a brand's flows, an application's provider and
the provider's flows). Read from the model's reference tables, so a family that references flows,
providers or mappings (applications, providers) is covered as data; computed from lists read once
per kind, never per object."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import replace

from reconciler.model.kinds import ApiModel, Kind
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


@functools.cache  # per model (an ApiModel is its own identity) and target: asked per object reached
def _users(model: ApiModel, target: str) -> tuple[tuple[str, str, str], ...]:
    """Who may point at objects of `target`: (list path, the user's target or kind, the field
    name) for each kind's reference field, and each guarding field of a target that is no kind of
    the model (a brand's flows)."""
    found = []
    for kind in model.kinds.values():
        user = model.target_of(kind) or kind.name
        parent = model.parent_field(kind)
        if user in RUN or (user not in model.targets and parent is None):
            continue  # run by flows; or neither shown nor followed further (an invitation to a flow)
        found += [(kind.path, user, field.name) for field in kind.fields.values()
                  if field.name != parent and _points_at(model, field.reference, target)]
    for name, spec in model.targets.items():
        if spec.path and model.kind_listing(name) is None and not model.kinds_of(name):
            found += [(spec.path, name, guarding) for guarding, pointed in spec.guards.items() if pointed == target]
    return tuple(found)


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
    for path, user, _ in _users(model, target):
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
    holders = _Holders(live)
    return tuple(_with_impact(change, live, model, holders) for change in changes)


class _Holders:
    """The objects of a list by the ids one of their fields holds, indexed once per list and field
    for all the changes of a plan (not scanned again for every object reached)."""

    def __init__(self, live: LiveState) -> None:
        self._live = live
        self._index: dict[tuple[str, str], dict[str, list[JsonObject]]] = {}

    def of(self, path: str, name: str, ident: Json) -> list[JsonObject]:
        """The objects of the list at `path` whose field `name` holds `ident` (or a list holding it)."""
        if (path, name) not in self._index:
            index: dict[str, list[JsonObject]] = {}
            for obj in self._live.lists.get(path, []):
                value = obj.get(name)
                held = value if isinstance(value, list) else [] if value is None else [value]
                for key in dict.fromkeys(str(item) for item in held):
                    index.setdefault(key, []).append(obj)
            self._index[path, name] = index
        return self._index[path, name].get(str(ident), [])


def _with_impact(change: Change, live: LiveState, model: ApiModel, holders: _Holders) -> Change:
    kind = model.kinds[change.kind]
    target = model.target_of(kind)
    if isinstance(change, Create) or target is None or change.id is None:
        return change
    found = _reached(model, live, holders, target, change.id)
    impact = _impact(model, found)
    return replace(change, impact=impact) if impact else change


def _reached(model: ApiModel, live: LiveState, holders: _Holders, target: str,
             ident: Json) -> dict[str, dict[str, JsonObject]]:
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
        pending += list(_next(model, live, holders, current, current_id))
    return found


def _next(model: ApiModel, live: LiveState, holders: _Holders, target: str, ident: Json) -> Iterator[tuple[str, Json]]:
    """The objects using one object: a binding stands for its parent (a flow, or the binding it
    sits on), any other user for itself; a binding is used by its parent."""
    own = model.kind_listing(target) if target in model.targets else None
    current = live.target_object(target, ident) if own is not None else None
    if own is not None and current is not None:
        yield from _parent(model, live, own, current[1])
    for path, user, name in _users(model, target):
        kind = model.kind_for_path(path)
        for obj in holders.of(path, name, ident):
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


def _impact(model: ApiModel, found: dict[str, dict[str, JsonObject]]) -> Impact:
    shown = {name: sorted(display_key(tuple(obj.get(k) for k in model.targets[name].key))
                          for obj in found.get(name, {}).values() if obj)
             for name in SHOWN if name in model.targets}
    flows = set(found.get("flow", {}))
    every_login = any(str(brand.get(EVERY_LOGIN)) in flows for brand in found.get("brand", {}).values())
    return Impact(**{SHOWN[name]: tuple(values) for name, values in shown.items()}, every_login=every_login)
