"""References by natural key: `{stage: NAME}`, `{flow: SLUG}`, ... in manifests, ids on the wire.

A reference resolves against the manifests first (objects this apply creates or changes), then
against live state. One that does not resolve fails the plan at its location; it never becomes
null (what authentik blueprints do)."""
from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import replace

from reconciler.errors import PlanError, Problem
from reconciler.manifests.desired import DesiredObject
from reconciler.model.kinds import ApiModel, Field
from reconciler.model.live import LiveState
from reconciler.planning.matching import Matching
from reconciler.values import Key, Ref, Secret, Value, display_key

__all__ = ["resolve_refs", "live_value"]

UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class _Resolver:
    """Resolves the references of one plan: by manifest object first, then by live key."""

    def __init__(self, desired: list[DesiredObject], model: ApiModel, live: LiveState, matching: Matching) -> None:
        self.model = model
        self.live = live
        self.matching = matching
        # Objects of the manifests that references can point at, by target and key; every target
        # a kind provides is present, so "looked in the manifests" is said only where true.
        self.planned: dict[str, dict[Key, DesiredObject]] = {
            target: {} for target in {model.target_of(kind) for kind in model.kinds.values()} if target}
        for obj in desired:
            kind = model.kinds[obj.kind]
            for target in (model.target_of(kind), *model.aliases(kind)):
                if target is not None and obj.parent is None:
                    self.planned.setdefault(target, {})[obj.key] = obj

    def pending(self, target: str, obj: DesiredObject) -> Ref:
        """A reference to an object of the manifests: its live id when it exists, else the
        address apply fills in once it has created it."""
        found = self.matching.live_of(obj.address)
        member = self.model.targets[target]
        return Ref(target, obj.key, found.get(member.id) if found else None, address=obj.address)

    def one(self, item: Value, spec: Field, holder: DesiredObject) -> Ref | str:
        """A `Ref`, or the message saying why the reference does not resolve."""
        target = str(spec.reference)
        if isinstance(item, Ref):  # the parent of a nested entry: an object of the manifests
            found = self.matching.live_of(item.address or "")
            ident = self.model.targets[item.target].id
            return Ref(item.target, item.key, found.get(ident) if found else None, address=item.address)
        written_id = _as_id(item)
        if written_id is not None:
            return self.by_id(target, written_id)
        if not isinstance(item, dict) or len(item) != 1:
            return f"expected a reference like {{{target}: {self.key_name(target).upper()}}} or an id"
        (given_target, text), = item.items()
        if given_target != target:
            return f"{spec.name} takes a reference to a {target} ({{{target}: {self.key_name(target).upper()}}}), " \
                   f"not a {given_target}"
        pending = self.planned.get(target, {}).get((text,))
        if pending is not None:
            return self.by_manifest(spec, text, pending, holder)
        return self.by_live_key(spec, text)

    def key_name(self, target: str) -> str:
        """How a reference's key is called in messages: `name`, `slug`, `flow+stage`."""
        return "+".join(self.model.targets[target].key) or "key"

    def by_id(self, target: str, ident: str | int) -> Ref | str:
        """A reference written as an id: the live object that has it."""
        ref = self.live.ref_of(target, ident)
        return ref if ref.key is not None else f"no {target} has the id {ident}"

    def by_manifest(self, spec: Field, text: Value, pending: DesiredObject, holder: DesiredObject) -> Ref | str:
        """A reference by key to an object of the manifests, which must stay and be of the kind
        the field takes."""
        target = str(spec.reference)
        if pending.state == "absent":
            if holder.parent:  # a binding: name the flow that would lose its stage
                return f"{{{target}: {text}}} is marked state: absent in {pending.location()}, but " \
                       f"{holder.parent} still binds it; remove this entry or keep the {target}"
            return f"{{{target}: {text}}} is marked state: absent in {pending.location()}; " \
                   "remove the reference or keep the object"
        if spec.reference_kind and pending.kind != spec.reference_kind:
            return _wrong_kind(spec, text, pending.kind)
        return self.pending(target, pending)

    def by_live_key(self, spec: Field, text: Value) -> Ref | str:
        """A reference by key to a live object: exactly one must have the key, of the kind the
        field takes."""
        target = str(spec.reference)
        key: Key = (text,)
        ids = self.live.ids_of(target, key)
        if len(ids) == 1:
            actual = self.live.member_kind(target, key)
            if spec.reference_kind and actual != spec.reference_kind:
                return _wrong_kind(spec, text, str(actual))
            return Ref(target, key, ids[0])
        if len(ids) > 1:
            return f"{{{target}: {text}}} is ambiguous: {len(ids)} live objects have that {self.key_name(target)} " \
                   f"({', '.join(map(str, ids))})"
        return self.unresolved(target, text)

    def unresolved(self, target: str, text: Value) -> str:
        """Why no object has the key, where the tool looked, and the closest keys it saw."""
        live_keys = [display_key(k) for k in self.live.keys(target)]
        candidates = sorted(set(live_keys) | {display_key(k) for k in self.planned.get(target, {})})
        close = difflib.get_close_matches(str(text), candidates, n=3, cutoff=0.5)
        looked = f"looked in the manifests and in {len(live_keys)} live {target}s" \
            if target in self.planned else f"looked in {len(live_keys)} live {target}s"
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"{{{target}: {text}}} does not resolve: no {target} has the {self.key_name(target)} {text!r} " \
               f"({looked}){hint}"


def resolve_refs(desired: list[DesiredObject], model: ApiModel, live: LiveState,
                 matching: Matching) -> list[DesiredObject]:
    """Turn every reference value into a `Ref` carrying its natural key and, when the object exists,
    its id; raise `PlanError` for unresolved, ambiguous or wrongly-typed references."""
    resolver = _Resolver(desired, model, live, matching)
    problems: list[Problem] = []
    resolved = [obj if obj.state == "absent" else _with_refs(resolver, obj, problems) for obj in desired]
    if problems:
        raise PlanError(problems)
    return resolved


def _with_refs(resolver: _Resolver, obj: DesiredObject, problems: list[Problem]) -> DesiredObject:
    """`obj` with each of its reference values resolved (None where one does not: a problem)."""
    kind = resolver.model.kinds[obj.kind]
    fields = dict(obj.fields)
    for name, value in obj.fields.items():
        spec = kind.fields.get(name)
        if spec is None or spec.reference is None or value is None:
            continue
        if spec.is_list and isinstance(value, list):
            fields[name] = [_located(resolver, obj, spec, item, i, problems) for i, item in enumerate(value)]
        else:
            fields[name] = _located(resolver, obj, spec, value, None, problems)
    return replace(obj, fields=fields)


def _located(resolver: _Resolver, obj: DesiredObject, spec: Field, item: Value, index: int | None,
             problems: list[Problem]) -> Ref | None:
    """One reference resolved, or a problem at its place in the manifest."""
    found = resolver.one(item, spec, obj)
    if isinstance(found, str):
        path: tuple[str | int, ...] = (spec.name,) if index is None else (spec.name, index)
        label = spec.name if index is None else f"{spec.name}[{index}]"
        problems.append(Problem(obj.file, *obj.position(*path), found, obj.address, label))
        return None
    return found


def _as_id(item: Value) -> str | int | None:
    """A reference written as an id (a UUID in the server's form: lower case, with dashes; or an
    integer pk), else None."""
    if isinstance(item, str) and UUID.match(item):
        return str(uuid.UUID(item))
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    return None


def _wrong_kind(spec: Field, key: str, actual: str) -> str:
    return f"{spec.name} takes a stage of kind {spec.reference_kind}; {key!r} is of kind {actual}"


def live_value(spec: Field, value: Value, live: LiveState) -> Value:
    """A live field value in the form the diff compares: reference ids become `Ref`s by key, and
    a sensitive value the server returns in clear (SMS `auth`) a `Secret`, so no output shows it."""
    if value is None:
        return None
    if spec.sensitive:
        return Secret(value, source={"live": spec.name})
    if spec.reference is None:
        return value
    if isinstance(value, list):
        return [live.ref_of(spec.reference, v) for v in value]
    return live.ref_of(spec.reference, value)
