"""References by natural key: `{stage: NAME}`, `{flow: SLUG}`, ... in manifests, UUIDs on the wire.

A reference resolves against the manifests first (objects this apply creates), then against live
state. One that does not resolve fails the plan at its location; it never becomes null (what
authentik blueprints do)."""
from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import replace
from typing import Any

from reconciler.apimodel import ApiModel, Field
from reconciler.desired import DesiredObject
from reconciler.errors import PlanError, Problem
from reconciler.live import LiveState
from reconciler.values import Ref, Secret

__all__ = ["resolve_refs", "live_value"]

UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")

def _planned(desired: list[DesiredObject], model: ApiModel) -> dict[str, dict[str, DesiredObject]]:
    """Objects of the manifests that references can point at, by target and natural key; every
    target a kind provides is present, so "looked in the manifests" is said only where true."""
    planned: dict[str, dict[str, DesiredObject]] = {
        target: {} for target in {model.target_of(kind) for kind in model.kinds.values()} if target}
    for obj in desired:
        target = model.target_of(model.kinds[obj.kind])
        if target is not None:
            planned[target][obj.name] = obj
    return planned


def resolve_refs(desired: list[DesiredObject], model: ApiModel, live: LiveState) -> list[DesiredObject]:
    """Turn every reference value into a `Ref` carrying its natural key and, when the object exists,
    its id; raise `PlanError` for unresolved, ambiguous or wrongly-typed references."""
    planned = _planned(desired, model)
    problems: list[Problem] = []
    resolved: list[DesiredObject] = []
    for obj in desired:
        if obj.state == "absent":
            resolved.append(obj)
            continue
        kind = model.kinds[obj.kind]
        fields = dict(obj.fields)
        for name, value in obj.fields.items():
            spec = kind.fields.get(name)
            if spec is not None and spec.reference is not None and value is not None:
                fields[name] = _resolve_field(obj, spec, value, planned, live, problems)
        resolved.append(replace(obj, fields=fields))
    if problems:
        raise PlanError(problems)
    return resolved


def _resolve_field(obj: DesiredObject, spec: Field, value: Any, planned: dict[str, dict[str, DesiredObject]],
                   live: LiveState, problems: list[Problem]) -> Any:
    def one(item: Any, index: int | None) -> Ref | None:
        found = _resolve_one(item, spec, planned, live)
        if isinstance(found, str):
            path: tuple[str | int, ...] = (spec.name,) if index is None else (spec.name, index)
            label = spec.name if index is None else f"{spec.name}[{index}]"
            problems.append(Problem(obj.file, *obj.position(*path), found, obj.address, label))
            return None
        return found

    if spec.is_list and isinstance(value, list):
        return [one(item, index) for index, item in enumerate(value)]
    return one(value, None)


def _resolve_one(item: Any, spec: Field, planned: dict[str, dict[str, DesiredObject]],
                 live: LiveState) -> Ref | str:
    """A `Ref`, or the message saying why the reference does not resolve."""
    target = str(spec.reference)
    key_name = live.model.targets[target].key if target in live.model.targets else "name"
    if isinstance(item, str) and UUID.match(item):
        item = str(uuid.UUID(item))  # the server's form: lower case, with dashes
        key = live.key_of(target, item)
        if key is None:
            return f"no {target} has the id {item}"
        return Ref(target, key, item)
    if not isinstance(item, dict) or len(item) != 1:
        return f"expected a reference like {{{target}: {key_name.upper()}}} or a UUID"
    (given_target, key), = item.items()
    if given_target != target:
        return f"{spec.name} takes a reference to a {target} ({{{target}: {key_name.upper()}}}), " \
               f"not a {given_target}"
    pending = planned.get(target, {}).get(key)
    if pending is not None:
        if pending.state == "absent":
            return f"{{{target}: {key}}} is marked state: absent in {pending.location()}; " \
                   "remove the reference or keep the object"
        if spec.reference_kind and pending.kind != spec.reference_kind:
            return _wrong_kind(spec, key, pending.kind)
        ids = live.ids_of(target, key)
        return Ref(target, key, ids[0] if len(ids) == 1 else None)
    ids = live.ids_of(target, key)
    if len(ids) == 1:
        actual = live.stage_kind_of(key) if target == "stage" else None
        if spec.reference_kind and actual != spec.reference_kind:
            return _wrong_kind(spec, key, str(actual))
        return Ref(target, key, ids[0])
    if len(ids) > 1:
        return f"{{{target}: {key}}} is ambiguous: {len(ids)} live objects have that {key_name} ({', '.join(ids)})"
    candidates = sorted(set(live.keys(target)) | set(planned.get(target, {})))
    close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
    looked = f"looked in the manifests and in {len(live.keys(target))} live {target}s" \
        if target in planned else f"looked in {len(live.keys(target))} live {target}s"
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{{{target}: {key}}} does not resolve: no {target} has the {key_name} {key!r} ({looked}){hint}"


def _wrong_kind(spec: Field, key: str, actual: str) -> str:
    return f"{spec.name} takes a stage of kind {spec.reference_kind}; {key!r} is of kind {actual}"


def live_value(spec: Field, value: Any, live: LiveState) -> Any:
    """A live field value in the form the diff compares: reference ids become `Ref`s by key, and
    a sensitive value the server returns in clear (SMS `auth`) a `Secret`, so no output shows it."""
    if value is None:
        return None
    if spec.sensitive:
        return Secret(value)
    if spec.reference is None:
        return value
    target = spec.reference
    if isinstance(value, list):
        return [Ref(target, live.key_of(target, str(v)), str(v)) for v in value]
    return Ref(target, live.key_of(target, str(value)), str(value))
