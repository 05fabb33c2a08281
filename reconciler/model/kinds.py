"""The compact model of one authentik API version, generated into `schemas/` by
`scripts/generate_model.py`. The validator, the diff, the client and the sandbox all read it, so a
new authentik version is data, not code. Identity is data too: each kind says its natural key,
the field in its URL and the scope in which its key is unique."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property

from reconciler.model.versions import known_versions, schema_dir
from reconciler.values import IdKey, Json, JsonObject, Ref, typed_id

__all__ = ["ApiModel", "Companion", "Field", "Kind", "Nested", "Target", "load_model", "schema_dir",
           "known_versions", "model_of", "typed_id"]


@dataclass(frozen=True)
class Field:
    """One writable field: its JSON type and constraints as the request schema gives them."""

    name: str
    spec: JsonObject

    @property
    def type(self) -> str:
        return str(self.spec.get("type", "string"))

    @property
    def nullable(self) -> bool:
        return bool(self.spec.get("nullable"))

    @property
    def write_only(self) -> bool:
        return bool(self.spec.get("write_only"))

    @property
    def sensitive(self) -> bool:
        """Write-only fields and the known secrets the server returns in clear."""
        return self.write_only or bool(self.spec.get("sensitive"))

    @property
    def reference(self) -> str | None:
        """The target (`flow`, `stage`, ...) when the field holds ids of other objects."""
        ref = self.spec.get("reference")
        return str(ref) if ref else None

    @property
    def plain(self) -> bool:
        """A reference written as the target's key alone (`provider: NAME`), as well as `{provider: NAME}`."""
        return bool(self.spec.get("plain"))

    @property
    def reference_kind(self) -> str | None:
        """The one kind a stage reference accepts (`password_stage`: `password`), if restricted."""
        kind = self.spec.get("reference_kind")
        return str(kind) if kind else None

    @property
    def action(self) -> JsonObject | None:
        """`{path, method}` when the field is set by a call of its own below the object's URL (a
        user's password: `set_password/`), never in the object's body."""
        action = self.spec.get("action")
        return dict(action) if action else None

    @property
    def python(self) -> str | None:
        """`always` when the field holds Python that authentik compiles (an expression policy's
        `expression`), the boolean field that makes it Python (a prompt field's `initial_value`:
        `initial_value_expression`), or None."""
        switch = self.spec.get("python")
        return "always" if switch is True else switch if isinstance(switch, str) else None

    def holds_python(self, written: Mapping[str, Json]) -> bool:
        """Whether the field holds Python, given the entry's written fields."""
        switch = self.python
        return switch == "always" or (switch is not None and written.get(switch) is True)

    @property
    def is_list(self) -> bool:
        return self.type == "array"

    @property
    def items(self) -> JsonObject:
        return dict(self.spec.get("items", {}))


@dataclass(frozen=True)
class Companion:
    """Unchanged fields a write must carry to be accepted (see the generator's WRITE_COMPANIONS):
    `always` sends them; `one_truthy` sends the first one holding a value unless the body holds
    one; `together` sends the others when the body holds one; `put_leaves_out` keeps them out of a
    PUT while they hold their live value. `why` is what the plan says."""

    rule: str
    fields: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Nested:
    """A list written inside another kind's manifest entries: its kind, the child field that
    points at the parent, and the entry fields written as plain natural keys of a target."""

    name: str
    kind: str
    parent: str
    keys: dict[str, str]


@dataclass(frozen=True, eq=False)  # one object per kind per loaded model: identity is equality
class Kind:
    """An object kind: where it lives, how its objects are known, and what its fields are.

    `key`: the fields that make an object's natural key (`name`; a flow's `slug`; a binding's
    `target` and `stage`). `disambiguator`: the field that tells apart objects with the same key
    (a stage bound twice to one flow, at two orders). `family`: the scope in which the key is
    unique (`stage` for every stage kind: one unique column on the base table). `url_field`:
    the field in the object's URL (`pk`, or a flow's `slug`). `cascade`: the reference fields
    whose target's deletion deletes this object too."""

    name: str
    path: str
    model: str
    section: str | None
    manifest_kind: str
    family: str
    key: tuple[str, ...]
    disambiguator: str | None
    url_field: str
    nested: dict[str, Nested]
    fields: dict[str, Field]
    required: tuple[str, ...]
    read_only: tuple[str, ...]
    response_order: tuple[str, ...]
    defaults: JsonObject
    no_default: tuple[str, ...]
    constants: JsonObject
    companions: tuple[Companion, ...]
    cascade: tuple[str, ...]
    id_field: str = "pk"
    """The field holding an object's id, in answers and in other objects' references."""
    id_type: str = "uuid"
    """`int` (providers, users), `uuid`, or `str`: what the id field holds."""
    list_params: dict[str, str] = field(default_factory=dict)
    """Query parameters every read of its list sends (applications: `superuser_full_list`)."""
    opt_in: bool = False
    """Its objects are data (users): only those a manifest names are planned, exports and prunes
    take them only when asked for by kind."""
    mirrored: dict[str, str] = field(default_factory=dict)
    """Fields holding a relation another kind's field holds too (a group's `users`, `user.groups`):
    exports write that other side only."""
    export_unchanged_defaults: bool = True
    """False: export leaves out a fresh install's object that is as installed (issue 17)."""
    takes: tuple[str, ...] = ()
    """Reference fields whose targets authentik deletes with the object (an application's
    backchannel providers, apps 529, 549)."""
    generate: JsonObject | None = None
    """How authentik generates an object instead of taking its fields (a certificate key pair):
    `path`, `key_field` (the parameter the natural key goes in), `fields`, `required`."""
    key_fallback: dict[str, str] = field(default_factory=dict)
    """Key field -> the field whose value stands in for it when it is empty (a blueprint instance
    is known by its file `path`, or by `name` when it has no file)."""
    lists_also: tuple[str, ...] = ()
    """Kinds whose objects this kind's list shows too, as objects of this kind (a proxy provider
    under /providers/oauth2/, apps 296): they are theirs, not this kind's."""
    singleton: bool = False
    """One object at `path` itself (the system settings): read with one GET, written with one
    PATCH of the fields a manifest sets; never created, deleted, pruned or reported unmanaged."""

    def key_value(self, name: str, values: Mapping[str, Json]) -> Json:
        """The value of key field `name` in `values`, or its stand-in's when it is empty."""
        value = values.get(name)
        if value in (None, "") and name in self.key_fallback:
            return values.get(self.key_fallback[name])
        return value

    def id_key(self, value: object) -> IdKey:
        """An id of this kind's objects, with its scope, for sets that mix kinds."""
        return IdKey(self.family, typed_id(self.id_type, value))

    def detail_path(self, obj: Mapping[str, Json]) -> str:
        """The object's URL below `/api/v3` (flows are addressed by slug, FINDINGS flows 49, 51; a
        singleton is its path)."""
        if self.singleton:
            return self.path
        return f"{self.path}{obj[self.url_field]}/"

    @cached_property
    def sensitive_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.fields.items() if f.sensitive)

    @cached_property
    def action_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.fields.items() if f.action)

    @cached_property
    def python_fields(self) -> tuple[str, ...]:
        """The fields that may hold Python (`Field.holds_python` says when they do)."""
        return tuple(name for name, f in self.fields.items() if f.python)

    @cached_property
    def write_only_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.fields.items() if f.write_only)

    @cached_property
    def alternatives(self) -> tuple[str, ...]:
        """Key fields of which an object sets one (a policy binding's policy, group or user)."""
        optional = tuple(name for name in self.key if self.fields[name].nullable)
        return optional if len(optional) > 1 else ()


@dataclass(frozen=True)
class Target:
    """Objects a reference can point at: `{flow: SLUG}` looks up `slug` in `/flows/instances/`.
    A `union` target is any of several (a policy binding's target: a flow or a binding)."""

    name: str
    path: str = ""
    key: tuple[str, ...] = ()
    id: str = "pk"
    union: tuple[str, ...] = ()
    id_type: str = "uuid"
    guards: dict[str, str] = field(default_factory=dict)
    """Fields of its objects whose target must not be deleted while they point at it (a brand's
    `flow_authentication` guards that flow): field -> target. Any family may carry them."""


@dataclass(frozen=True, eq=False)  # one object per version (load_model caches it): identity is equality
class ApiModel:
    version: str
    kinds: dict[str, Kind]
    targets: dict[str, Target]
    sections: dict[str, dict[str, str]]
    """Manifest sections in the order exports write them, each manifest kind -> model kind."""
    section_nouns: dict[str, tuple[str, str]]
    """Each section's noun, singular and plural (`stage`, `stages`), for messages."""
    raw: JsonObject = field(repr=False, compare=False)

    @property
    def counterparts(self) -> dict[str, str]:
        """Names of other versions' sections and fields -> this version's name for the same thing
        (`tenants` -> `brands` in 2026; a group's `parent` -> `parents`)."""
        return dict(self.raw.get("counterparts", {}))

    @property
    def python(self) -> tuple[int, ...] | None:
        """The Python version this release runs expressions with, when the model knows it."""
        version = self.raw.get("python")
        return tuple(int(part) for part in version.split(".")) if isinstance(version, str) else None

    def ref_keys(self, ref: Ref) -> tuple[IdKey, ...]:
        """The scoped ids a reference with an id may name: one, or one per member of a union
        target (a policy binding's target is a flow or a binding)."""
        if ref.pk is None or ref.target not in self.targets:
            return ()
        spec = self.targets[ref.target]
        members = spec.union or (ref.target,)
        return tuple(IdKey(member, typed_id(self.targets[member].id_type, ref.pk)) for member in members
                     if member in self.targets)

    def target_of(self, kind: Kind) -> str | None:
        """The reference target a kind's objects are (`stage` for every stage kind, `flow`,
        `prompt_field`), if references can point at them."""
        for name in (kind.family, kind.name):
            if name in self.targets:
                return name
        return None

    def kinds_of(self, target: str) -> list[Kind]:
        """The kinds whose objects a target lists (every stage kind for `stage`)."""
        return [kind for kind in self.kinds.values() if self.target_of(kind) == target]

    def aliases(self, kind: Kind) -> list[str]:
        """Targets that list a kind's objects by another of their ids: the `reviewer` of a
        lifecycle rule is a user named by its UUID (2026 directory 465), not by its pk."""
        return self._aliases[kind.name]

    @cached_property
    def _aliases(self) -> dict[str, list[str]]:
        """`aliases` of every kind, worked out once (asked per object a plan resolves or prunes)."""
        return {kind.name: [name for name, spec in self.targets.items()
                            if spec.path == kind.path and name != self.target_of(kind) and not spec.union]
                for kind in self.kinds.values()}

    def id_keys(self, kind: Kind, obj: Mapping[str, Json]) -> frozenset[IdKey]:
        """Every scoped id a reference may name `obj` by: its kind's, and those of the targets that
        list it by another id (`aliases`: a lifecycle rule's reviewer is a user's UUID)."""
        keys = {kind.id_key(obj.get(kind.id_field))}
        for alias in self.aliases(kind):
            spec = self.targets[alias]
            if obj.get(spec.id) is not None:
                keys.add(IdKey(alias, typed_id(spec.id_type, obj.get(spec.id))))
        return frozenset(keys)

    def kind_listing(self, target: str) -> Kind | None:
        """The kind whose list a target is (`flow`, `prompt_field`, `flow_stage_binding`), if any:
        its objects are then known by that kind's key. (The `source` target lists sources, not
        the `source` stage kind.)"""
        spec = self.targets[target]
        kind = self.kind_for_path(spec.path) if spec.path else None
        return kind if kind is not None and self.target_of(kind) == target else None

    def parents_of(self, kind: Kind) -> list[tuple[Kind, Nested]]:
        """The kinds whose entries nest `kind`, and how (a policy binding sits in a flow's
        `policies` and in a binding's); empty for a kind written at the top of a manifest."""
        return self._parents.get(kind.name, [])

    @cached_property
    def _parents(self) -> dict[str, list[tuple[Kind, Nested]]]:
        parents: dict[str, list[tuple[Kind, Nested]]] = {}
        for parent in self.kinds.values():
            for nested in parent.nested.values():
                parents.setdefault(nested.kind, []).append((parent, nested))
        return parents

    def parent_field(self, kind: Kind) -> str | None:
        """The field of a kind written nested in another's entries that points at that parent (a
        binding's `target`), or None for a kind written at the top of a manifest."""
        return next((nested.parent for _, nested in self.parents_of(kind)), None)

    def shared_scope(self, kind: Kind) -> str | None:
        """The family list in which `kind`'s key is unique together with other kinds (stage names
        across stage kinds, `/stages/all/`), or None when the key is the kind's own."""
        family = kind.family
        return family if family in self.targets and len(self.kinds_of(family)) > 1 else None

    def cascades_from(self, kind: Kind) -> list[tuple[Kind, str]]:
        """The (kind, field) pairs whose objects go when an object of `kind` is deleted: a stage
        takes the bindings whose `stage` points at it."""
        target = self.target_of(kind)
        if target is None:
            return []
        return [(other, name) for other in self.kinds.values() for name in other.cascade
                if (other.fields[name].reference or "") == target
                or target in self.targets[other.fields[name].reference or ""].union]

    def kind_in(self, section: str, manifest_kind: str) -> Kind | None:
        """The kind an entry of `section` names with `kind:` (`policies`/`password`)."""
        name = self.sections.get(section, {}).get(manifest_kind)
        return self.kinds[name] if name else None

    def singleton_section(self, section: str) -> bool:
        """Whether `section` is one mapping (a singleton's) rather than a list of entries."""
        kinds = self.sections.get(section, {})
        return len(kinds) == 1 and self.kinds[next(iter(kinds.values()))].singleton

    def kind_for_path(self, path: str) -> Kind | None:
        return self._by_path.get(path)

    def list_params(self, path: str) -> dict[str, str]:
        """The query parameters a read of the list at `path` sends."""
        kind = self.kind_for_path(path)
        return dict(kind.list_params) if kind is not None else {}

    @cached_property
    def _by_path(self) -> dict[str, Kind]:
        return {kind.path: kind for kind in self.kinds.values()}

    def key_fields(self, target: str) -> tuple[str, ...]:
        return self.targets[target].key


@cache
def load_model(version: str) -> ApiModel:
    """Load the model of `version`; raises `KeyError` naming the versions that exist. Cached per
    process: `RECONCILER_MODEL_DIR` is read when a version is first loaded."""
    path = schema_dir() / f"api-{version}.json"
    if not path.exists():
        raise KeyError(f"no API model for authentik {version} (known: {', '.join(known_versions())})")
    return model_of(json.loads(path.read_text()))


def model_of(raw: JsonObject) -> ApiModel:
    """The model a generated `api-<version>.json` holds; a model whose ids would be scoped two ways
    (a kind listed as a target other than its family) is refused."""
    kinds = {name: _kind(name, spec) for name, spec in raw["kinds"].items()}
    targets = {name: Target(name=name, path=spec.get("path", ""), key=tuple(spec.get("key", ())),
                            id=spec.get("id", "pk"), union=tuple(spec.get("union", ())),
                            id_type=spec.get("id_type", "uuid"), guards=dict(spec.get("guards", {})))
               for name, spec in raw["targets"].items()}
    model = ApiModel(version=raw["api_version"], kinds=kinds, targets=targets,
                     sections={s: dict(k) for s, k in raw["sections"].items()},
                     section_nouns={s: (words[0], words[1]) for s, words in raw["section_nouns"].items()}, raw=raw)
    for kind in kinds.values():  # one scope for ids: a kind's own (`Kind.id_key`) is its target's
        target = model.target_of(kind)
        if target is not None and target != kind.family:
            raise ValueError(f"model {model.version}: kind {kind.name} is listed as target {target} but its ids are "
                             f"scoped to its family {kind.family}")
    return model


def _kind(name: str, spec: JsonObject) -> Kind:
    return Kind(
        name=name,
        path=spec["path"],
        model=spec["model"],
        section=spec["section"],
        manifest_kind=spec["manifest_kind"],
        family=spec["family"],
        key=tuple(spec["key"]),
        disambiguator=spec["disambiguator"],
        url_field=spec["url_field"],
        nested={list_name: Nested(list_name, n["kind"], n["parent"], dict(n["keys"]))
                for list_name, n in spec["nested"].items()},
        fields={fname: Field(fname, fspec) for fname, fspec in spec["fields"].items()},
        required=tuple(spec["required"]),
        read_only=tuple(spec["read_only"]),
        response_order=tuple(spec["response_order"]),
        defaults=dict(spec["defaults"]),
        no_default=tuple(spec.get("no_default", [])),
        constants=dict(spec["constants"]),
        companions=tuple(Companion(c["rule"], tuple(c["fields"]), c["why"]) for c in spec["write_companions"]),
        cascade=tuple(spec["cascade"]),
        id_field=spec["id_field"],
        id_type=spec["id_type"],
        list_params=dict(spec.get("list_params", {})),
        opt_in=bool(spec.get("opt_in")),
        mirrored=dict(spec.get("mirrored", {})),
        export_unchanged_defaults=bool(spec.get("export_unchanged_defaults", True)),
        generate=dict(spec["generate"]) if spec.get("generate") else None,
        key_fallback=dict(spec.get("key_fallback", {})),
        takes=tuple(spec.get("takes", ())),
        lists_also=tuple(spec.get("lists_also", ())),
        singleton=bool(spec.get("singleton")),
    )
