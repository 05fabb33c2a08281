"""Desired objects: what a validated manifest asks for, with where each part was written. Entries
nested in another (a flow's bindings, a binding's policies) become objects of their own that point
at their parent, so every later step sees one flat list of objects of the model's kinds."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from reconciler.manifests.compiled import is_uuid
from reconciler.manifests.reading import KeyPath, Position, RawObject
from reconciler.model.identity import address, address_name, desired_key, own_key
from reconciler.model.kinds import ApiModel, Field, Kind, Nested
from reconciler.values import Json, JsonObject, Key, Ref

__all__ = ["DesiredObject", "CONTROL_KEYS", "expand"]

# Keys of a manifest entry that steer the tool and are never sent to authentik.
CONTROL_KEYS = ("kind", "state", "update", "ignore_changes", "generate")


@dataclass(frozen=True)
class DesiredObject:
    """One object a manifest manages. `fields` holds only what was written: unwritten fields are
    not managed. Values may still be `{env: ...}`, `{file: ...}` or references.

    `key` is its natural key and `address` how plans name it; `which` the value telling it apart
    from siblings with the same key (a binding's order). `parent` is the address of the entry it
    is nested in and `nesting` how (which list, which field points back); `manages` the nested
    lists its entry writes, whose members are managed exactly."""

    kind: str
    key: Key
    address: str
    fields: JsonObject
    file: str
    positions: dict[KeyPath, Position] = field(repr=False, compare=False)
    state: str = "present"
    update: str = "patch"
    ignore_changes: frozenset[str] = frozenset()
    which: Json = None
    parent: str | None = None
    nesting: Nested | None = None
    manages: tuple[Nested, ...] = ()
    generate: JsonObject | None = None
    """Parameters for authentik to generate the object with (a key pair), when it does not exist."""

    @property
    def name(self) -> str:
        """The key as text (`default-authentication-flow/duo-mfa`): the contract's `name`."""
        return address_name(self.address)

    def location(self, *path: str | int) -> str:
        """`file:line:column` of a field (or of the object)."""
        line, column = self.position(*path)
        return f"{self.file}:{line}:{column}"

    def position(self, *path: str | int) -> Position:
        for end in range(len(path), -1, -1):
            if tuple(path[:end]) in self.positions:
                return self.positions[tuple(path[:end])]
        return (0, 0)


def expand(raw: RawObject, kind: Kind, model: ApiModel) -> list[DesiredObject]:
    """A validated manifest entry and every entry nested in it, parents first."""
    return _expand(raw.data, raw.positions, raw.file, kind, model, None, None)


def _expand(data: JsonObject, positions: dict[KeyPath, Position], file: str, kind: Kind, model: ApiModel,
            parent: DesiredObject | None, nested: Nested | None, which_shown: bool = False) -> list[DesiredObject]:
    fields, positions = _written(data, positions, kind, model, parent, nested)
    key = desired_key(kind, fields)
    which = data.get(kind.disambiguator) if kind.disambiguator else None
    parent_address = parent.address if parent else None
    obj = DesiredObject(
        kind=kind.name,
        key=key,
        address=address(kind, key, which if which_shown else None, parent_address),
        fields=fields,
        file=file,
        positions=positions,
        state=data.get("state", "present"),
        update=data.get("update", "patch"),
        ignore_changes=frozenset(data.get("ignore_changes", [])),
        which=which,
        parent=parent_address,
        nesting=nested,
        manages=tuple(n for list_name, n in kind.nested.items() if list_name in data),
        generate=data.get("generate") if kind.generate else None,
    )
    return [obj, *_expand_nested(data, positions, file, kind, model, obj)]


def _written(data: JsonObject, positions: dict[KeyPath, Position], kind: Kind, model: ApiModel,
             parent: DesiredObject | None, nested: Nested | None) -> tuple[JsonObject, dict[KeyPath, Position]]:
    """The fields an entry writes and their positions. A nested entry's also point back at its
    parent (written where the entry starts), and its keys written as bare values name their target."""
    fields = {k: _named(kind.fields[k], v) if k in kind.fields else v
              for k, v in data.items() if k not in CONTROL_KEYS and k not in kind.nested}
    if parent is None or nested is None:
        return fields, positions
    target = model.target_of(model.kinds[parent.kind])
    fields[nested.parent] = Ref(str(target), parent.key, address=parent.address)
    for name, written_target in nested.keys.items():
        if name in fields and fields[name] is not None:
            fields[name] = {written_target: fields[name]}
    return fields, {**positions, (nested.parent,): positions[()]}


def _named(spec: Field, value: Json) -> Json:
    """A reference written plainly by natural key (`provider: grafana-oauth`) in the form every
    later step reads (`{provider: grafana-oauth}`); a UUID or an integer stays an id."""
    if not spec.plain or spec.reference is None:
        return value
    if isinstance(value, list):
        return [_named(spec, item) for item in value]
    if isinstance(value, str) and not is_uuid(value):
        return {spec.reference: value}
    return value


def _expand_nested(data: JsonObject, positions: dict[KeyPath, Position], file: str, kind: Kind,
                   model: ApiModel, obj: DesiredObject) -> list[DesiredObject]:
    """The entries nested in `obj`'s, each list in turn; an entry whose own key repeats in its
    list shows its disambiguator in its address."""
    objects: list[DesiredObject] = []
    by_entry: dict[KeyPath, dict[KeyPath, Position]] = {}
    for path, pos in positions.items():  # once, so a flow of a thousand bindings stays linear
        if len(path) >= 2 and path[0] in kind.nested:
            by_entry.setdefault(path[:2], {})[path[2:]] = pos
    for list_name, child_nesting in kind.nested.items():
        entries = data.get(list_name) or []
        child_kind = model.kinds[child_nesting.kind]
        own_keys = [_own(child_kind, entry, child_nesting) for entry in entries]
        repeated = Counter(own_keys)
        for index, (entry, own) in enumerate(zip(entries, own_keys, strict=True)):
            objects += _expand(entry, by_entry.get((list_name, index), {}), file, child_kind, model, obj,
                               child_nesting, repeated[own] > 1)
    return objects


def _own(kind: Kind, entry: JsonObject, nested: Nested) -> Key:
    """A nested entry's key without its parent, as written (to tell whether it repeats)."""
    fields = {name: ({nested.keys[name]: value} if name in nested.keys and value is not None else value)
              for name, value in entry.items()}
    return own_key(kind, desired_key(kind, {**fields, nested.parent: None}), nested.parent)
