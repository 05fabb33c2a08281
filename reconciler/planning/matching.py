"""Matching desired objects to live ones by natural key, the model's way: top-level objects by
their key in their kind, nested ones among the live children of their parent's live object. Pure:
what it returns says, for every desired object, the live object it will change (or none: a
create), and which live objects no manifest describes."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import ManifestError, Problem
from reconciler.manifests.desired import DesiredObject
from reconciler.model.defaults import is_default
from reconciler.model.identity import address, own_key
from reconciler.model.kinds import ApiModel, Kind, Nested
from reconciler.model.live import LiveState
from reconciler.repo import named_path
from reconciler.state import OwnedRecord
from reconciler.values import IdKey, JsonObject, Key, Ref, Value

__all__ = ["Matching", "Orphan", "Pair", "match", "prune", "described_parent", "refuse_partial"]


@dataclass(frozen=True)
class Pair:
    desired: DesiredObject
    live: JsonObject | None


@dataclass(frozen=True)
class Orphan:
    """A live object no manifest describes. `managed`: the plan deletes it, for `reason` (it is in
    a set a manifest manages exactly, such as the bindings of a flow that lists its bindings; or
    the repository owns it and prunes); otherwise it is only reported. `parent` is the address of
    the manifest entry whose set it is in."""

    kind: str
    address: str
    live: JsonObject
    managed: bool
    parent: str | None = None
    reason: str = ""


@dataclass
class Matching:
    pairs: list[Pair]
    orphans: list[Orphan]
    problems: list[Problem]
    _by_address: dict[str, Pair] = field(default_factory=dict, repr=False)
    _by_live: dict[int, DesiredObject] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_address = {pair.desired.address: pair for pair in self.pairs}
        # Built once: every delete and every pruned record asks it (a prune of thousands stays linear).
        self._by_live = {id(pair.live): pair.desired for pair in self.pairs if pair.live is not None}

    def live_of(self, address: str) -> JsonObject | None:
        pair = self._by_address.get(address)
        return pair.live if pair else None

    def desired_of(self, live: JsonObject) -> DesiredObject | None:
        """The manifest entry paired with the live object `live`, if any."""
        return self._by_live.get(id(live))

    def rebind(self, desired: list[DesiredObject]) -> Matching:
        """The same pairs for new versions of the same desired objects (references resolved)."""
        return Matching([Pair(obj, self._by_address[obj.address].live) for obj in desired], self.orphans,
                        self.problems)


def _pair_by(kind: Kind, desired: list[DesiredObject], live: list[JsonObject]) -> list[Pair]:
    """Objects with the same key told apart by the disambiguator (a stage bound twice to a flow):
    the same value pairs first, the rest in ascending order, so a new order is a PATCH of `order`
    rather than a delete and a create."""
    field_name = str(kind.disambiguator)
    free = list(live)
    paired: dict[str, JsonObject | None] = {}
    for obj in desired:
        same = next((candidate for candidate in free if candidate.get(field_name) == obj.which), None)
        if same is not None:
            free.remove(same)
            paired[obj.address] = same
    rest = sorted((obj for obj in desired if obj.address not in paired), key=lambda o: _sortable(o.which))
    free.sort(key=lambda candidate: (_sortable(candidate.get(field_name)), str(candidate.get(kind.id_field))))
    for obj in rest:
        paired[obj.address] = free.pop(0) if free else None
    return [Pair(obj, paired[obj.address]) for obj in desired]


def _sortable(value: Value) -> tuple[bool, bool, float, str]:
    """Ascending: numbers by value (negative orders included), then text, then nothing."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return value is None, not number, float(value) if number else 0.0, "" if number else str(value)


def match(desired: list[DesiredObject], live: LiveState, model: ApiModel) -> Matching:
    """Pair every desired object with its live object; list the live objects nobody describes."""
    pairs: dict[str, Pair] = {}
    problems: list[Problem] = []
    siblings = _Siblings(live, model)
    for (kind_name, parent, key), members in _groups(desired, model).items():
        kind = model.kinds[kind_name]
        nesting = members[0].nesting
        if parent is None or nesting is None:
            candidates = live.find(kind, members[0].key)
        else:
            candidates = siblings.under(pairs.get(parent), kind, nesting.parent, key)
        if kind.disambiguator:
            found = _pair_by(kind, members, candidates)
        else:
            found = _pair_one(kind, members, candidates, problems)
        pairs.update((pair.desired.address, pair) for pair in found)
    ordered = [pairs[obj.address] for obj in desired]
    matched = {id(pair.live) for pair in ordered if pair.live is not None}
    return Matching(pairs=ordered, orphans=_orphans(desired, ordered, matched, live, model), problems=problems)


def _groups(desired: list[DesiredObject], model: ApiModel) -> dict[tuple[str, str | None, Key], list[DesiredObject]]:
    """The desired objects by kind, parent and own key (the key without the parent), in the order
    of the manifests: each group pairs with the live objects of that key."""
    groups: dict[tuple[str, str | None, Key], list[DesiredObject]] = {}
    for obj in desired:
        parent_field = obj.nesting.parent if obj.nesting else None
        groups.setdefault((obj.kind, obj.parent, own_key(model.kinds[obj.kind], obj.key, parent_field)),
                          []).append(obj)
    return groups


def _pair_one(kind: Kind, members: list[DesiredObject], candidates: list[JsonObject],
              problems: list[Problem]) -> list[Pair]:
    """Objects of a kind whose key is unique: the one live object with it; several are a problem
    only authentik's side can resolve."""
    if len(candidates) > 1:
        obj = members[0]
        problems.append(Problem(obj.file, *obj.position(), f"{len(candidates)} live {kind.name} objects "
                                f"have this key ({', '.join(str(c.get(kind.id_field)) for c in candidates)}): "
                                "resolve the duplicate in authentik first", obj.address))
    return [Pair(obj, candidates[0] if candidates else None) for obj in members]


class _Siblings:
    """The live children of each parent, indexed once by their key without the parent: matching a
    flow of a thousand bindings stays linear."""

    def __init__(self, live: LiveState, model: ApiModel) -> None:
        self.live = live
        self.model = model
        self.index: dict[tuple[str, str, str], dict[Key, list[JsonObject]]] = {}

    def under(self, parent: Pair | None, kind: Kind, parent_field: str, key: Key) -> list[JsonObject]:
        """The live children with `key` of the live object `parent` was paired with (none when the
        parent is to be created)."""
        if parent is None or parent.live is None:
            return []
        parent_kind = self.model.kinds[parent.desired.kind]
        return self.of(kind, parent_field, parent.live[parent_kind.id_field], key)

    def of(self, kind: Kind, parent_field: str, parent_id: Value, key: Key) -> list[JsonObject]:
        slot = (kind.name, parent_field, str(parent_id))
        if slot not in self.index:
            grouped: dict[Key, list[JsonObject]] = {}
            for obj in self.live.children(kind, parent_field, parent_id):
                grouped.setdefault(own_key(kind, self.live.key_of(kind, obj), parent_field), []).append(obj)
            self.index[slot] = grouped
        return list(self.index[slot].get(key, []))


def _orphans(desired: list[DesiredObject], pairs: list[Pair], matched: set[int], live: LiveState,
             model: ApiModel) -> list[Orphan]:
    orphans: list[Orphan] = []
    for pair in pairs:
        if pair.live is None or pair.desired.state == "absent":
            continue
        for nested in pair.desired.manages:
            orphans += _children(pair, nested, matched, live, model)
    top_kinds = dict.fromkeys(obj.kind for obj in desired if obj.parent is None)
    for kind_name in top_kinds:
        kind = model.kinds[kind_name]
        if kind.opt_in:  # data (users): only the objects a manifest names are ever planned
            continue
        for obj in live.objects(kind):
            if id(obj) not in matched:
                orphans.append(Orphan(kind.name, address(kind, live.key_of(kind, obj)), obj, managed=False))
    return orphans


def _children(pair: Pair, nested: Nested, matched: set[int], live: LiveState, model: ApiModel) -> list[Orphan]:
    """The live children of a parent that manages them which no manifest entry describes."""
    assert pair.live is not None
    kind = model.kinds[nested.kind]
    parent = pair.desired
    orphans = []
    for obj in live.children(kind, nested.parent, pair.live[model.kinds[parent.kind].id_field]):
        if id(obj) in matched:
            continue
        full = tuple(Ref(str(model.target_of(model.kinds[parent.kind])), parent.key, address=parent.address)
                     if name == nested.parent else part
                     for name, part in zip(kind.key, live.key_of(kind, obj), strict=True))
        orphans.append(Orphan(kind.name, live_address(kind, obj, full, live, parent.address), obj, managed=True,
                              parent=parent.address, reason=f"not listed in {parent.address}"))
    return orphans


def live_address(kind: Kind, obj: JsonObject, key: Key, live: LiveState, parent: str | None = None) -> str:
    """How a plan names a live object no manifest entry stands for: by its key, with its
    disambiguator when another live object shares the key (a stage bound twice to one flow)."""
    repeated = kind.disambiguator is not None and len(live.find(kind, key)) > 1
    return address(kind, key, obj.get(kind.disambiguator) if repeated and kind.disambiguator else None, parent)


def refuse_partial(skipped: Iterable[tuple[str, str]]) -> None:
    """Refuse a plan that prunes when discovery skipped a path (a link it could not follow, a folder
    it could not read): what the manifests there describe would look removed, and be deleted."""
    problems = [Problem(path, 0, 0, f"skipped: {why}; --prune needs every manifest read, or what this one "
                        "describes would be deleted: fix or remove it, or plan without --prune")
                for path, why in skipped]
    if problems:
        raise ManifestError(problems)


def prune(matching: Matching, live: LiveState, model: ApiModel, owned: Mapping[str, OwnedRecord],
          within: list[Path], referenced: set[IdKey], links: Iterable[tuple[str, str]] = (),
          kinds: Collection[str] | None = None) -> Matching:
    """`matching` with the owned objects no manifest describes any more planned for deletion,
    found by the id the repository recorded. Left alone: objects described from manifests outside
    `within` (a plan of part of the repository prunes only that part; a manifest read through a
    symlink is where the link is, and a record of its target, as made before, counts where a link
    in `links`, each as named with its target, stands), objects whose address the
    manifests still describe (renamed by hand: drift, not a delete), objects a described entry
    still points at (`referenced` ids), the bindings of a flow the manifests describe without
    listing them, objects a fresh install has (authentik's own defaults), and objects of kinds
    outside `kinds` (None: every kind; users are data, pruned only when named)."""
    pruner = _Pruner(matching, live, model, _Within(within, links), referenced)
    records = sorted((owned_address, record) for owned_address, record in owned.items()
                     if kinds is None or record.kind in kinds)
    pruned = [orphan for owned_address, record in records
              if (orphan := pruner.orphan(owned_address, record)) is not None]
    kept = [o for o in matching.orphans if o.managed or id(o.live) not in pruner.taken]
    return Matching(matching.pairs, kept + pruned, matching.problems)


class _Pruner:
    """One prune: what it leaves alone, and what is taken so far (live objects paired, deleted or
    pruned; addresses the plan uses)."""

    def __init__(self, matching: Matching, live: LiveState, model: ApiModel, within: _Within,
                 referenced: set[IdKey]) -> None:
        self.matching = matching
        self.live = live
        self.model = model
        self.within = within
        self.referenced = referenced
        self.taken = {id(pair.live) for pair in matching.pairs if pair.live is not None}
        self.taken |= {id(o.live) for o in matching.orphans if o.managed}
        self.described = {pair.desired.address for pair in matching.pairs}
        self.used = self.described | {o.address for o in matching.orphans if o.managed}

    def orphan(self, owned_address: str, record: OwnedRecord) -> Orphan | None:
        """The delete of one owned object, or None when it is gone or left alone."""
        kind = self.model.kinds.get(record.kind)
        obj = self.live.by_id(kind, record.id) if kind is not None and record.id is not None else None
        if kind is None or obj is None or self.left_alone(owned_address, record, kind, obj):
            return None
        key = self.live.key_of(kind, obj)
        if is_default(self.model, kind, key):
            return None
        shown = live_address(kind, obj, key, self.live)
        if shown in self.used:
            shown = f"{shown}#{record.id}"
        self.used.add(shown)
        self.taken.add(id(obj))
        return Orphan(kind.name, shown, obj, managed=True,
                      reason="owned by this repository, no longer in the manifests")

    def left_alone(self, owned_address: str, record: OwnedRecord, kind: Kind, obj: JsonObject) -> bool:
        """Taken already, still described, outside `within`, still referenced, or in a list the
        manifests describe without managing."""
        if id(obj) in self.taken or owned_address in self.described:
            return True
        if not self.within.holds(record.file) or self.model.id_keys(kind, obj) & self.referenced:
            return True
        # a flow described without its list leaves that list alone
        return described_parent(kind, obj, self.live, self.model, self.matching) is not None


def described_parent(kind: Kind, obj: JsonObject, live: LiveState, model: ApiModel,
                     matching: Matching) -> DesiredObject | None:
    """The manifest entry `obj` is nested under live (a binding's flow), when the manifests
    describe it without managing that list (a list it manages pairs or deletes all its members)."""
    for parent_kind, nested in model.parents_of(kind):
        parent = live.by_id(parent_kind, obj.get(nested.parent))
        desired = matching.desired_of(parent) if parent is not None else None
        if desired is not None and desired.state == "present" and nested not in desired.manages:
            return desired
    return None


class _Within:
    """Which manifest files a prune may act for: those under the paths planned, compared as named
    (a symlinked manifest by the link, not its target), plus the targets of the links read there
    (records made by versions that kept the target). Each file is worked out once."""

    def __init__(self, roots: list[Path], links: Iterable[tuple[str, str]]) -> None:
        self.roots = roots
        self.targets = {Path(target) for link, target in links if self._under(named_path(link))}
        self.known: dict[str, bool] = {}

    def holds(self, file: str | None) -> bool:
        if file is None:
            return False
        if file not in self.known:
            self.known[file] = self._under(named_path(file)) or (bool(self.targets)
                                                                 and Path(file).resolve() in self.targets)
        return self.known[file]

    def _under(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.roots)
