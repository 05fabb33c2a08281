"""The sandbox's state: the objects of every kind, kept as the writable values the API accepted
plus the few values the server holds itself (a second UUID, a 2023 flow background), and the
read-only lists of the seed (sources, groups, users, ...) that references point at."""
from __future__ import annotations

import copy
import uuid
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager

from reconciler.model.kinds import ApiModel, Field, Kind, typed_id
from reconciler.values import Json, JsonObject, ObjectId

from .quirks import creation_defaults

PTR_ID = "policybindingmodel_ptr_id"
"""The UUID of the PolicyBindingModel row behind a flow or a flow-stage binding: another UUID than
its `pk` (flows FINDINGS "two UUIDs", 03, 76)."""
# A seeded object keeps every value its list showed that the API takes as no writable field
# (a 2023 flow's background, flows 03; the self-signed certificate's fingerprints, apps 16): the
# sandbox computes them for the objects it creates, from what they hold.


class Store:
    """Objects by kind and pk; `kind_of` keeps every pk in insertion order, the database order
    that unordered lists (`/stages/all/`, 105) show."""

    def __init__(self, model: ApiModel, seed: Mapping[str, Json]) -> None:
        self.model = model
        self.values: dict[str, dict[ObjectId, JsonObject]] = {name: {} for name in model.kinds}
        self.kind_of: dict[ObjectId, str] = {}
        self.held: dict[ObjectId, JsonObject] = {}
        self.lists: dict[str, list[JsonObject]] = {}
        self.opaque: dict[str, tuple[str, int]] = {}
        self._reference_fields: dict[str, list[tuple[Kind, list[Field]]]] = {}
        self.generation = 0
        """Counts writes, so what is rendered from the objects can be kept until one: every write
        goes through a method here (`insert`, `update`, `hold`, `delete`, `add_listed`)."""
        self.written: dict[ObjectId, int] = {}
        """The `generation` of each object's last write: PostgreSQL keeps a small table's rows in
        this order (an UPDATE writes the row's new version last), which reads without an ORDER BY
        show (`written_order`; directory 415, 434)."""
        self._indexes: dict[tuple[str, str], dict[Json, list[Json]]] | None = None
        """Reference look-ups indexed while `reading()`: None outside, where they scan."""
        self.last_int = 0
        """The last integer pk handed out: one sequence for every kind with integer ids, so their
        pks never meet in `kind_of` (authentik numbers each table on its own; a client cannot tell)."""
        self.next_ids: list[ObjectId] = []
        """Ids to hand out before generated ones (UUIDs; integers, or integers as text, for the
        integer sequence): the fidelity replay gives the recorded server's, so lists ordered by pk
        or by binding-model UUID come out as recorded."""
        self.next_secrets: list[str] = []
        """Random values to hand out before drawn ones (a new OAuth2 provider's client id and
        secret), as `next_ids`."""
        family_paths = {t.path: name for name, t in model.targets.items() if t.path and model.kinds_of(name)}
        self.seed(seed.get("lists", {}), family_paths)
        self.place_opaque_targets()

    def seed(self, lists: Mapping[str, Json], family_paths: Mapping[str, str]) -> None:
        """Read-only lists as they are; kinds' objects from their own lists, which show every
        field, then a family's members no kind's list held (`/policies/all/`)."""
        for path, objects in lists.items():
            if self.model.kind_for_path(path) is None and path not in family_paths:
                self.lists[path] = copy.deepcopy(list(objects))
        for path, objects in lists.items():
            kind = self.model.kind_for_path(path)
            if kind is not None:
                for obj in objects:
                    self.insert_seeded(kind, obj)
        held = {str(pk) for pk in self.kind_of}
        for path, objects in lists.items():
            if path not in family_paths or self.model.kind_for_path(path) is not None:
                continue
            for obj in objects:
                member = self.member_kind(family_paths[path], obj)
                if member is not None and str(obj.get("pk")) not in held:
                    self.insert_seeded(member, obj)
                elif member is None:  # a member of no kind of the model: the built-in source (directory 11)
                    self.lists.setdefault(path, []).append(copy.deepcopy(dict(obj)))

    def member_kind(self, target: str, obj: Mapping[str, Json]) -> Kind | None:
        """The kind of a family member as `/policies/all/` lists it, by its `meta_model_name`."""
        return next((kind for kind in self.model.kinds_of(target)
                     if kind.constants.get("meta_model_name") == obj.get("meta_model_name")), None)

    def insert_seeded(self, kind: Kind, obj: Mapping[str, Json]) -> None:
        values = {f: copy.deepcopy(obj[f]) for f in kind.fields if f in obj}
        given = obj.get(kind.id_field) or obj.get("pk")
        pk = typed_id(kind.id_type, given) if given else self.new_pk(kind)
        if isinstance(pk, int):
            self.last_int = max(self.last_int, pk)
        self.insert(kind, pk, {**creation_defaults(kind), **values},
                    {key: obj[key] for key in obj if key not in kind.fields and key != "pk"})

    def place_opaque_targets(self) -> None:
        """Seeded policy bindings may target objects the sandbox does not model (notification
        rules). They stay valid targets; for lists sorted by the target's binding-model UUID
        (2023, flows 224) each sorts right after the known target listed before it in the seed."""
        unions = {name for name, target in self.model.targets.items() if target.union}
        previous = ""
        for kind in self.model.kinds.values():
            fields = [f for f in kind.fields.values() if f.reference in unions]
            for values in self.values[kind.name].values():
                for field in fields:
                    target = values.get(field.name)
                    if not isinstance(target, str) or target in self.opaque:
                        continue
                    if self.resolve(str(field.reference), target) is not None:
                        previous = self.ptr_of(target) or target
                    else:
                        self.opaque[target] = (previous, len(self.opaque) + 1)

    def target_sort_key(self, target: str) -> tuple[str, int]:
        """Where a binding's target sorts in a list ordered by the target's binding-model UUID."""
        return self.opaque.get(target) or (self.ptr_of(target) or target, 0)

    # -- objects of the kinds -------------------------------------------------------------------
    def insert(self, kind: Kind, pk: ObjectId, values: JsonObject, held: Mapping[str, Json] | None = None) -> None:
        self.generation += 1
        self.written[pk] = self.generation
        self.values[kind.name][pk] = values
        self.kind_of[pk] = kind.name
        self.held[pk] = dict(held or {})
        if PTR_ID in kind.read_only and PTR_ID not in self.held[pk]:
            self.held[pk][PTR_ID] = self.new_id()

    def update(self, kind: Kind, pk: ObjectId, values: Mapping[str, Json]) -> None:
        self.generation += 1
        self.written[pk] = self.generation
        self.values[kind.name][pk].update(values)

    def hold(self, pk: ObjectId, key: str, value: Json) -> None:
        """Set a value the server holds itself (a 2023 flow's background)."""
        self.generation += 1
        self.held[pk][key] = value

    def add_listed(self, path: str, obj: Mapping[str, Json]) -> None:
        """Add an object to a read-only list (what the seed's lists hold)."""
        self.generation += 1
        self.lists.setdefault(path, []).append(copy.deepcopy(dict(obj)))

    def new_id(self) -> str:
        return str(self.next_ids.pop(0)) if self.next_ids else str(uuid.uuid4())

    def new_pk(self, kind: Kind) -> ObjectId:
        """A new object's pk: the next integer where the model types the kind's ids as integers
        (providers), else a UUID."""
        if kind.id_type == "int":
            given = self.next_ids[0] if self.next_ids else None
            if isinstance(given, int) or (isinstance(given, str) and given.isdigit()):  # the replay's recorded pk
                self.next_ids.pop(0)
                self.last_int = max(self.last_int, int(given))
                return int(given)
            self.last_int += 1
            return self.last_int
        return self.new_id()

    def kind_at(self, pk: ObjectId) -> Kind | None:
        name = self.kind_of.get(pk)
        return self.model.kinds[name] if name else None

    def find(self, kind: Kind, ident: str) -> ObjectId | None:
        """The pk of the object a URL names: by pk, or by the kind's URL field (a flow's slug,
        compared case-sensitively: flows 15, 17)."""
        if kind.url_field in ("pk", kind.id_field):  # entitlements: `pbm_uuid` (apps 446)
            pk = self.pk_for(kind, ident)
            return pk if pk is not None and pk in self.values[kind.name] else None
        return next((pk for pk, values in self.values[kind.name].items() if values.get(kind.url_field) == ident), None)

    @staticmethod
    def pk_for(kind: Kind, ident: str) -> ObjectId | None:
        """The pk a URL's text names for objects of `kind`: typed as the model types its ids (a
        UUID in its normal form, any case accepted), None when it cannot be one."""
        return typed_id(kind.id_type, ident) if kind.id_type == "int" else normal_uuid(ident)

    def member(self, target: str, ident: str) -> tuple[Kind, ObjectId] | None:
        """The family member a URL under the family's path names (`/stages/all/{ident}/`)."""
        for kind in self.model.kinds_of(target):
            pk = self.pk_for(kind, ident) if kind.url_field == "pk" else self.find(kind, ident)
            if pk is not None and self.kind_of.get(pk) == kind.name:
                return kind, pk
        return None

    def listed_by_url(self, target: str, ident: str) -> JsonObject | None:
        """A listed object of `target` a URL names by the target's natural key (a source's slug)."""
        spec = self.model.targets[target]
        return next((o for o in self.lists.get(spec.path, []) if any(o.get(key) == ident for key in spec.key)), None)

    def members(self, family: str) -> Iterator[tuple[Kind, ObjectId]]:
        """Objects of a family (all stage kinds share one) in insertion order."""
        for pk, name in self.kind_of.items():
            kind = self.model.kinds[name]
            if kind.family == family:
                yield kind, pk

    def value_taken(self, kind: Kind, field: str, value: Json, exclude: ObjectId | None) -> bool:
        """Unique columns sit on the family's base table: names across stage kinds (71, 72) and
        across policy kinds (flows 203, 204)."""
        return any(pk != exclude and self.values[other.name][pk].get(field) == value
                   for other, pk in self.members(kind.family))

    def ptr_of(self, pk: ObjectId) -> str | None:
        ptr = self.held.get(pk, {}).get(PTR_ID)
        return str(ptr) if ptr else None

    def delete(self, pk: ObjectId) -> None:
        """Delete like the database would: objects whose cascading reference points at this one go
        with it (bindings with their stage, flow or policy: flows 119-124, 276-283), other
        references are nulled (nullable foreign keys) or dropped from lists (many-to-many)."""
        kind = self.kind_at(pk)
        if kind is None:
            return
        self.generation += 1
        del self.values[kind.name][pk]
        del self.kind_of[pk]
        self.held.pop(pk, None)
        self.written.pop(pk, None)
        target = self.model.target_of(kind)
        if target is None:
            return
        for other, other_pk, field in list(self.referrers(target, pk)):
            values = self.values[other.name].get(other_pk)
            if values is None:
                continue  # already gone with an earlier cascade
            if field.name in other.cascade or not (field.is_list or field.nullable):
                self.delete(other_pk)
            elif field.is_list:
                values[field.name] = [item for item in values[field.name] if item != pk]
            else:
                values[field.name] = None
                self.written[other_pk] = self.generation  # Django's SET_NULL is an UPDATE

    def written_order(self, pks: list[ObjectId]) -> list[ObjectId]:
        """`pks` in the order their rows were last written (see `written`)."""
        return sorted(pks, key=lambda pk: self.written.get(pk, 0))

    # -- references -----------------------------------------------------------------------------
    def containing(self, target: str) -> set[str]:
        """The target and the union targets it belongs to (a flow is a `binding_target`)."""
        return {target} | {name for name, t in self.model.targets.items() if target in t.union}

    def resolve(self, target: str, ident: Json, only_kind: str | None = None) -> Json:
        """The id a reference to `ident` is stored as, or None when nothing matches. Union targets
        take an object's pk or its binding-model UUID and answer with the pk (flows 233)."""
        spec = self.model.targets[target]
        if spec.union:
            return self.resolve_member(spec.union, ident)
        kinds = self.model.kinds_of(target)
        if kinds:
            kind = self.kind_at(ident)
            if kind in kinds and only_kind in (None, kind.name):
                return ident
            if kind is not None or only_kind is not None:
                return None
        owner = self.model.kind_for_path(spec.path)
        if owner is not None:  # a kind's objects by another of their ids (a user's uuid: directory 465)
            return ident if any((values.get(spec.id) or self.held.get(pk, {}).get(spec.id)) == ident
                                for pk, values in self.values[owner.name].items()) else None
        listed = self.listed_object(target, ident)
        return listed.get(spec.id) if listed is not None else None

    def resolve_member(self, union: tuple[str, ...], ident: Json) -> Json:
        """The pk of the union member `ident` names: by a member's own ids (as given: a member may
        have integer ids), else by its binding-model UUID, else an opaque id."""
        for member in union:
            found = self.resolve(member, ident)
            if found is not None:
                return found
        text = str(ident)
        return next((pk for pk, held in self.held.items() if held.get(PTR_ID) == text),
                    text if text in self.opaque else None)

    def listed_object(self, target: str, ident: Json) -> JsonObject | None:
        spec = self.model.targets[target]
        return next((o for o in self.lists.get(spec.path, []) if str(o.get(spec.id)) == str(ident)), None)

    def reference_fields(self, target: str) -> list[tuple[Kind, list[Field]]]:
        """Each kind with its fields that can hold a `target` (or a union holding it): fixed for a
        model, so worked out once per target (every rendered policy asks, for its `bound_to`)."""
        if target not in self._reference_fields:
            targets = self.containing(target)
            self._reference_fields[target] = [(kind, [f for f in kind.fields.values() if f.reference in targets])
                                              for kind in self.model.kinds.values()]
        return self._reference_fields[target]

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A block that writes nothing (rendering a list), in which `referrers` and `referring`
        answer from an index built on first use: rendering a list asks, for every object, which
        objects point at it (a stage's flows, a policy's binding count), and scanning each time
        made a page of /stages/all/ with 6,000 stages cost 2 s (python -m bench)."""
        outer = self._indexes
        if outer is None:
            self._indexes = {}
        try:
            yield
        finally:
            if outer is None:
                self._indexes = None

    def _indexed(self, key: tuple[str, str], build: Iterator[tuple[Json, Json]]) -> dict[Json, list[Json]]:
        assert self._indexes is not None
        if key not in self._indexes:
            index: dict[Json, list[Json]] = {}
            for held, entry in build:
                index.setdefault(held, []).append(entry)
            self._indexes[key] = index
        return self._indexes[key]

    def referrers(self, target: str, pk: Json) -> Iterator[tuple[Kind, ObjectId, Field]]:
        """Stored objects whose reference fields to `target` (or a union holding it) hold `pk`."""
        if self._indexes is not None and isinstance(pk, Hashable):
            yield from self._indexed(("referrers", target), self._referrer_entries(target)).get(pk, [])
            return
        for kind, fields in self.reference_fields(target):
            if not fields:
                continue
            for other_pk, values in self.values[kind.name].items():
                for field in fields:
                    held = values.get(field.name)
                    if held == pk or (field.is_list and isinstance(held, list) and pk in held):
                        yield kind, other_pk, field

    def _referrer_entries(self, target: str) -> Iterator[tuple[Json, tuple[Kind, ObjectId, Field]]]:
        """(held id, referrer) pairs in the order `referrers` scans them."""
        for kind, fields in self.reference_fields(target):
            for other_pk, values in self.values[kind.name].items():
                for field in fields:
                    held = values.get(field.name)
                    if field.is_list and isinstance(held, list):
                        for item in dict.fromkeys(item for item in held if isinstance(item, Hashable)):
                            yield item, (kind, other_pk, field)
                    elif isinstance(held, Hashable):
                        yield held, (kind, other_pk, field)

    def referring(self, kind_name: str, field: str, pk: Json) -> list[tuple[ObjectId, JsonObject]]:
        """Objects of one kind whose `field` holds `pk`, in insertion order."""
        if self._indexes is not None and isinstance(pk, Hashable):
            entries = ((values.get(field), (other_pk, values)) for other_pk, values in self.values[kind_name].items()
                       if isinstance(values.get(field), Hashable))
            return list(self._indexed(("referring", f"{kind_name}.{field}"), entries).get(pk, []))
        return [(other_pk, values) for other_pk, values in self.values[kind_name].items()
                if values.get(field) == pk]


def normal_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
