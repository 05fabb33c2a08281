"""Live state: the lists authentik holds now, by API path, indexed by the model's identity rules:
objects of a kind by natural key, reference targets by key and by id. Plain data over the model, so
the fresh-install defaults and the server reader build the same thing."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from reconciler.model.identity import live_key
from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import IdKey, Json, JsonObject, Key, Ref

__all__ = ["LiveState", "OwnListScope", "id_fields", "paths_for_deletes", "paths_for_kinds", "paths_for_targets"]


@dataclass(frozen=True)
class OwnListScope:
    """The listed objects whose lists of their own are read (a role's permissions: one call per
    object): those a plan names, by natural key, and those it may delete, by id. A read without
    one reads them for every object (an export). The 2026 lab holds a managed role per user
    (`ak-managed-role--user-N`, directory 06): a plan of two roles should not read them all."""

    keys: frozenset[tuple[str, Key]] = frozenset()
    ids: frozenset[tuple[str, str]] = frozenset()

    def wants(self, kind: Kind, obj: JsonObject) -> bool:
        if (kind.name, str(obj.get(kind.id_field))) in self.ids:
            return True
        if any(kind.fields[name].reference for name in kind.key):
            return True  # a key that points at other objects needs their lists to compare: read them all
        return (kind.name, tuple(kind.key_value(name, obj) for name in kind.key)) in self.keys


@dataclass
class LiveState:
    """The lists read from the server by API path. Indexes are built once per kind or target, on
    first use: the diff asks them for every reference it compares."""

    model: ApiModel
    lists: dict[str, list[JsonObject]] = field(default_factory=dict)
    own_lists: OwnListScope | None = None
    """Whose lists of their own were read (None: every object's), so lists read later read the same."""
    _by_key: dict[str, dict[Key, list[JsonObject]]] = field(default_factory=dict, repr=False)
    _target_ids: dict[str, dict[str, tuple[str, JsonObject]]] = field(default_factory=dict, repr=False)
    _target_keys: dict[str, dict[Key, list[Json]]] = field(default_factory=dict, repr=False)
    _children: dict[tuple[str, str], dict[str, list[JsonObject]]] = field(default_factory=dict, repr=False)
    _by_id: dict[str, dict[str, JsonObject]] = field(default_factory=dict, repr=False)

    # -- objects of a kind ----------------------------------------------------------------------
    def objects(self, kind: Kind) -> list[JsonObject]:
        """The objects of `kind`: its list, without the objects of the kinds it lists too (a proxy
        provider is listed by /providers/oauth2/ as well, apps 296)."""
        listed = self.lists.get(kind.path, [])
        if not kind.lists_also:
            return listed
        others = {obj.get(other.id_field) for name in kind.lists_also
                  for other in (self.model.kinds[name],) for obj in self.lists.get(other.path, [])}
        return [obj for obj in listed if obj.get(kind.id_field) not in others]

    def key_of(self, kind: Kind, obj: JsonObject) -> Key:
        return live_key(kind, obj, self.ref_of)

    def find(self, kind: Kind, key: Key) -> list[JsonObject]:
        """Live objects of `kind` with natural key `key` (several only for a disambiguated kind)."""
        if kind.name not in self._by_key:
            index: dict[Key, list[JsonObject]] = {}
            for obj in self.objects(kind):
                index.setdefault(self.key_of(kind, obj), []).append(obj)
            self._by_key[kind.name] = index
        return list(self._by_key[kind.name].get(key, []))

    def children(self, kind: Kind, parent_field: str, parent_id: Json) -> list[JsonObject]:
        """Live objects of `kind` whose `parent_field` holds `parent_id` (a flow's bindings)."""
        if (kind.name, parent_field) not in self._children:
            index: dict[str, list[JsonObject]] = {}
            for obj in self.objects(kind):
                index.setdefault(str(obj.get(parent_field)), []).append(obj)
            self._children[kind.name, parent_field] = index
        return list(self._children[kind.name, parent_field].get(str(parent_id), []))

    def dependents(self, kind: Kind, obj: JsonObject) -> list[tuple[Kind, JsonObject]]:
        """Live objects authentik deletes with `obj` directly (a stage's bindings)."""
        return [(other, dependent) for other, name in self.model.cascades_from(kind)
                for dependent in self.children(other, name, obj[kind.id_field])] + self.taken(kind, obj)

    def taken(self, kind: Kind, obj: JsonObject) -> list[tuple[Kind, JsonObject]]:
        """The objects `obj`'s `takes` fields point at (an application's backchannel providers),
        as far as the lists read hold them."""
        found: list[tuple[Kind, JsonObject]] = []
        for name in kind.takes:
            target = kind.fields[name].reference or ""
            for ident in obj.get(name) or []:
                found += [(other, taken) for other in self.model.kinds_of(target)
                          if (taken := self.by_id(other, ident)) is not None]
        return found

    def cascade_ids(self, kind: Kind, obj: JsonObject) -> list[tuple[IdKey, Kind, JsonObject]]:
        """What authentik deletes with `obj`, all the way down, each with its scoped id: what a
        delete `takes`, and what a saved plan's delete is checked against."""
        return [(other.id_key(dependent[other.id_field]), other, dependent)
                for other, dependent in self.cascade(kind, obj)]

    def cascade(self, kind: Kind, obj: JsonObject,
                descend: Callable[[Kind, JsonObject], bool] | None = None) -> list[tuple[Kind, JsonObject]]:
        """Everything authentik deletes with `obj`, all the way down (a stage, its bindings,
        their policy bindings), breadth first; `descend(kind, dependent)` may stop the walk below
        a dependent (one deleted by a change of its own says itself what goes with it)."""
        found: list[tuple[Kind, JsonObject]] = []
        seen = {id(obj)}
        pending = [(kind, obj)]
        while pending:
            for other, dependent in self.dependents(*pending.pop(0)):
                if id(dependent) not in seen:
                    seen.add(id(dependent))
                    found.append((other, dependent))
                    if descend is None or descend(other, dependent):
                        pending.append((other, dependent))
        return found

    def written(self, kind: Kind, ident: Json) -> JsonObject | None:
        """The live object a change of `kind` writes: by its id, or a singleton's one object."""
        if kind.singleton:
            return next(iter(self.objects(kind)), None)
        return self.by_id(kind, ident) if ident is not None else None

    def by_id(self, kind: Kind, ident: Json) -> JsonObject | None:
        if kind.name not in self._by_id:
            self._by_id[kind.name] = {str(obj.get(kind.id_field)): obj for obj in self.objects(kind)}
        return self._by_id[kind.name].get(str(ident))

    # -- reference targets ----------------------------------------------------------------------
    def _target_index(self, target: str) -> dict[str, tuple[str, JsonObject]]:
        """id -> (concrete target, object); a union target merges its members."""
        if target not in self._target_ids:
            spec = self.model.targets[target]
            index: dict[str, tuple[str, JsonObject]] = {}
            for member in spec.union or (target,):
                member_spec = self.model.targets[member]
                for obj in self.lists.get(member_spec.path, []):
                    index.setdefault(str(obj.get(member_spec.id)), (member, obj))
            self._target_ids[target] = index
        return self._target_ids[target]

    def _target_key(self, target: str, obj: JsonObject) -> Key:
        kind = self.model.kind_listing(target)
        if kind is not None:  # a kind that is a target of its own (a binding): its identity
            return self.key_of(kind, obj)
        return tuple(obj.get(name) for name in self.model.targets[target].key)

    def ref_of(self, target: str, ident: Json) -> Ref:
        """What a reference id points at, as a `Ref` with its natural key (None when unknown)."""
        found = self._target_index(target).get(str(ident))
        if found is None:
            return Ref(target, None, ident)
        member, obj = found
        return Ref(member, self._target_key(member, obj), ident)

    def target_object(self, target: str, ident: Json) -> tuple[Kind | None, JsonObject] | None:
        """The object a reference id points at, with its kind when the model has one for it (a
        flow, a binding; a stage's by the `meta_model_name` `/stages/all/` shows); None when the
        lists read do not hold it."""
        found = self._target_index(target).get(str(ident))
        if found is None:
            return None
        member, obj = found
        model_name = obj.get("meta_model_name")
        kind = self.model.kind_listing(member) or next(
            (k for k in self.model.kinds_of(member) if k.constants.get("meta_model_name") == model_name), None)
        return kind, obj

    def _keys_index(self, target: str) -> dict[Key, list[Json]]:
        if target not in self._target_keys:
            index: dict[Key, list[Json]] = {}
            for member, obj in self._target_index(target).values():
                index.setdefault(self._target_key(member, obj), []).append(obj.get(self.model.targets[member].id))
            self._target_keys[target] = index
        return self._target_keys[target]

    def ids_of(self, target: str, key: Key) -> list[Json]:
        """Ids of the `target` objects whose natural key is `key` (more than one is ambiguous)."""
        return list(self._keys_index(target).get(key, []))

    def keys(self, target: str) -> list[Key]:
        return list(self._keys_index(target))

    def member_kind(self, target: str, key: Key) -> str | None:
        """The kind of the live object a family target lists under `key` (a stage's kind, from
        `/stages/all/`'s `meta_model_name`): stage names are unique across stage kinds (FINDINGS
        2023.10.7 [71, 72]), so a name alone does not say the kind."""
        ids = self.ids_of(target, key)
        if len(ids) != 1:
            return None
        _, obj = self._target_index(target)[str(ids[0])]
        model_name = obj.get("meta_model_name")
        for kind in self.model.kinds_of(target):
            if kind.constants.get("meta_model_name") == model_name:
                return kind.name
        return str(model_name) if model_name else None


def _target_paths(model: ApiModel, target: str, seen: set[str]) -> set[str]:
    """The lists a target's keys need: its own, and those of the targets its key points at."""
    if target in seen:
        return set()
    seen.add(target)
    spec = model.targets[target]
    if spec.union:
        return set().union(*(_target_paths(model, member, seen) for member in spec.union))
    paths = {spec.path}
    kind = model.kind_listing(target)
    if kind is not None:
        paths |= paths_for_kinds(model, [kind], seen)
    return paths


def paths_for_deletes(model: ApiModel, doomed: Iterable[Kind]) -> set[str]:
    """The lists needed to say what deleting objects of `doomed` takes with it, all the way down
    (a stage, its bindings, their policy bindings), and the objects that may guard one of them (a
    brand's flows)."""
    reach = set(doomed)
    pending = list(reach)
    while pending:
        kind = pending.pop()
        taken = [(other, name) for name in kind.takes for other in model.kinds_of(kind.fields[name].reference or "")]
        for other, _ in [*model.cascades_from(kind), *taken]:
            if other not in reach:
                reach.add(other)
                pending.append(other)
    reached = {model.target_of(kind) for kind in reach}
    guards = {name for name, spec in model.targets.items() if reached & set(spec.guards.values())}
    return paths_for_kinds(model, reach) | paths_for_targets(model, guards)


def paths_for_targets(model: ApiModel, targets: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    return set().union(set(), *(_target_paths(model, t, seen) for t in targets if t in model.targets))


def paths_for_kinds(model: ApiModel, kinds: Iterable[Kind], seen: set[str] | None = None) -> set[str]:
    """The lists needed to know the objects of `kinds` by key: their own lists, and the targets
    their key fields point at (a binding's flow and stage)."""
    seen = set() if seen is None else seen
    paths: set[str] = set()
    for kind in kinds:
        paths.add(kind.path)
        paths.update(model.kinds[name].path for name in kind.lists_also)  # to tell their objects apart
        for name in kind.key:
            reference = kind.fields[name].reference
            if reference:
                paths |= _target_paths(model, reference, seen)
    return paths


def id_fields(model: ApiModel, path: str) -> set[str]:
    """The fields every object listed at `path` must carry, since live state indexes it by them:
    the id of the kind listed there and of each target listed there (`pk`; a brand's
    `brand_uuid`), and the kind's natural key where it is a field of its own (a stage's `name`, a
    flow's `slug`: without it the object would match no entry, and be planned as a create). A
    key that is a reference (a binding's `target`) is not: authentik leaves a policy binding's
    `group` or `user` out when it is unset."""
    kind = model.kind_for_path(path)
    keys = {name for name in kind.key if kind.fields[name].reference is None} if kind else set()
    keys |= set(kind.key_fallback.values()) if kind else set()
    return ({kind.id_field} if kind else set()) | keys | {t.id for t in model.targets.values() if t.path == path}
