"""How objects are known, derived from the model: the natural key of a manifest entry or a live
object, and the address (`kind/key`) plans, errors and the state file name it by. The same
rules serve every kind; a new family is model data, not a branch here."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import Json, Key, Ref, Value, display_key

__all__ = ["address", "address_name", "desired_key", "live_key", "own_key", "written_ref"]


def written_ref(value: Value) -> Ref | None:
    """A reference as a manifest writes it (`{stage: NAME}`), or an already built `Ref`."""
    if isinstance(value, Ref):
        return value.without_id()
    if isinstance(value, dict) and len(value) == 1:
        (target, key), = value.items()
        if isinstance(target, str) and isinstance(key, str):
            return Ref(target, (key,))
    return None


def desired_key(kind: Kind, fields: Mapping[str, Json]) -> Key:
    """The natural key of a manifest entry: its key fields, references by the key they name."""
    parts: list[Json] = []
    for name in kind.key:
        value = kind.key_value(name, fields)
        if kind.fields[name].reference and value is not None:
            parts.append(written_ref(value))
        else:
            parts.append(value)
    return tuple(parts)


def live_key(kind: Kind, obj: Mapping[str, Json], ref_of: Callable[[str, Any], Ref]) -> Key:
    """The natural key of a live object; `ref_of(target, id)` names what a reference points at."""
    parts: list[Json] = []
    for name in kind.key:
        value = kind.key_value(name, obj)
        spec = kind.fields[name]
        if spec.reference and value is not None:
            ref = ref_of(spec.reference, value)
            # An object the tool does not list (a notification rule a policy is bound to) is
            # known by its id.
            parts.append(ref.without_id() if ref.key is not None else ref)
        else:
            parts.append(value)
    return tuple(parts)


def own_key(kind: Kind, key: Key, parent_field: str | None) -> Key:
    """A key without the part that points at the parent it is nested in: how siblings differ."""
    return tuple(part for name, part in zip(kind.key, key, strict=True) if name != parent_field)


def address(kind: Kind, key: Key, which: Value = None, parent: str | None = None) -> str:
    """`kind/key`: `identification/default-authentication-identification`, `flow/login`,
    `flow_stage_binding/login/duo-mfa`, `policy_binding/login/duo-mfa/policy:office`. A child
    names its parent by the parent's address; `which` (a binding's order) is added when the same
    key occurs twice. A singleton is its kind's name (`settings`)."""
    if kind.singleton:
        return kind.name
    parts = []
    for name, part in zip(kind.key, key, strict=True):
        if part is None:
            continue
        if parent is not None and isinstance(part, Ref) and part.address == parent:
            parts.append(parent.split("/", 1)[1])
            continue
        shown = display_key(part.key) if isinstance(part, Ref) and part.key is not None else \
            display_key((part,))
        parts.append(f"{name}:{shown}" if name in kind.alternatives else shown)
    text = f"{kind.name}/{'/'.join(parts)}"
    return f"{text}@{which}" if which is not None else text


def address_name(address: str) -> str:
    """The key part of an address (`flow/login` -> `login`): the contract's `name`; a singleton's
    address has none, so it is its own name (`settings`)."""
    return address.partition("/")[2] or address
