"""Plans: an ordered list of changes, each a plain record that says exactly which call apply will
make, and that leaves the process as JSON (`Plan.data`) and comes back (`Plan.from_data`) with
everything apply needs. Secrets are carried as their source plus a keyed fingerprint, never as
values; references as their natural key plus the id they had."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar

from reconciler.errors import CycleError, PlanFileError
from reconciler.model.identity import address_name
from reconciler.values import IdKey, Json, JsonObject, Key, Ref, Secret, plain, redact

__all__ = ["UNKNOWN", "FORMAT_VERSION", "BlueprintConflict", "Impact",
           "FieldChange", "SentAlong", "LiveFingerprint", "Owned", "Unmanaged", "Change",
           "Create", "Update", "Replace", "Delete", "Plan", "PlanDigest", "API_PREFIX", "order_changes", "encode",
           "decode", "content_digest"]

API_PREFIX = "/api/v3"
FORMAT_VERSION = 1


class _Unknown:
    """The live value of a write-only field the server never returns and the tool has no record of."""

    def __repr__(self) -> str:
        return "(unknown)"


UNKNOWN = _Unknown()


# -- typed JSON for values ---------------------------------------------------------------------
def encode(value: Json) -> Json:
    """A value as saved-plan JSON: references and secrets as tagged objects (a secret by its
    source only), plain mappings that could be mistaken for a tag wrapped in `$data`."""
    if value is UNKNOWN:
        return {"$unknown": True}
    if isinstance(value, Secret):
        return {"$secret": value.source}
    if isinstance(value, Ref):
        return {"$ref": {"target": value.target, "key": encode(list(value.key)) if value.key is not None else None,
                         "id": value.pk, "address": value.address}}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if any(str(k).startswith("$") for k in value):
            return {"$data": value}
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(value: Json) -> Json:
    """The inverse of `encode`; a secret comes back as a `Secret` with its source and no value."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = next(iter(value)) if len(value) == 1 else None
    if tag in _TAGS:
        return _TAGS[tag](value[tag])
    if any(str(k).startswith("$") for k in value):
        raise PlanFileError(f"unknown tag in {sorted(value)}")
    return {k: decode(v) for k, v in value.items()}


def _json_type(value: Json) -> str:
    """What a JSON value is, in words, without the value itself (it may be a secret)."""
    names = {str: "text", bool: "true or false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), "null")


def _decode_secret(source: Json) -> Secret:
    if source is not None and not (isinstance(source, dict) and all(isinstance(v, str) for v in source.values())):
        # the type, never the value: it may be a secret written in by hand
        raise PlanFileError(f"a secret's source must be a mapping of strings, not {_json_type(source)}")
    return Secret(None, source=source)


def _decode_ref(ref: Json) -> Ref:
    if not isinstance(ref, dict) or not isinstance(ref.get("target"), str):
        raise PlanFileError(f"a reference must name its target: {ref!r}")
    key = ref.get("key")
    return Ref(ref["target"], _key(key) if isinstance(key, list) else None, _scalar(ref.get("id")),
               ref.get("address") if isinstance(ref.get("address"), str) else None)


_TAGS: dict[str, Callable[[Json], Json]] = {
    "$unknown": lambda _: UNKNOWN,
    "$secret": _decode_secret,
    "$data": lambda data: data,
    "$ref": _decode_ref,
}
"""The tagged objects `encode` writes, each a mapping of one tag, by tag (a dispatch table)."""


def _scalar(value: Json) -> Json:
    """An id or a key part: text, a number or null, nothing a crafted file could nest."""
    if value is not None and not isinstance(value, str | int):
        raise PlanFileError(f"expected text, a number or null, not {type(value).__name__}")
    return value


def _id_key(entry: Json) -> IdKey:
    """A scoped id (`[scope, id]`): what a delete takes with it."""
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
            and isinstance(entry[1], str | int) and not isinstance(entry[1], bool)):
        raise PlanFileError("each entry of 'takes' must be [scope, id] (a plan from an older version of the tool: "
                            "plan again)")
    return IdKey(entry[0], entry[1])


def _key(parts: list[Json]) -> tuple[Json, ...]:
    """A natural key: scalars and references (whose keys are checked the same way)."""
    key = tuple(decode(part) for part in parts)
    for part in key:
        if not isinstance(part, Ref):
            _scalar(part)
    return key


# -- records -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldChange:
    """One field's move from `before` to `after`. Sensitive values render as `(sensitive)`;
    `details` says what changed inside a nested value (`fixed_data.env: "a" -> "b"`)."""

    field: str
    before: Json
    after: Json
    sensitive: bool = False
    note: str = ""
    details: tuple[str, ...] = ()

    @property
    def data(self) -> JsonObject:
        out = {"before": _shown(self.before, self.sensitive), "after": _shown(self.after, self.sensitive)}
        if self.note:
            out["note"] = self.note
        if self.details:
            out["details"] = list(self.details)
        return out


@dataclass(frozen=True)
class SentAlong:
    """An unchanged field a write must carry, and why (the recordings that show it)."""

    field: str
    value: Json
    why: str


@dataclass(frozen=True)
class LiveFingerprint:
    """Keyed fingerprints of the live object a change was computed from: the whole (writable
    fields) and per field, so a stale saved plan can say which fields changed."""

    object: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Owned:
    """A live object the manifests describe: applying the plan makes the repository own it."""

    address: str
    kind: str
    id: Json
    file: str | None = None

    @property
    def data(self) -> JsonObject:
        return {"address": self.address, "kind": self.kind, "id": self.id, "file": self.file}


@dataclass(frozen=True)
class Unmanaged:
    """A live object of a managed kind that no manifest describes (reported, never deleted)."""

    kind: str
    address: str
    id: Json

    @property
    def data(self) -> JsonObject:
        return {"kind": self.kind, "address": self.address, "id": self.id}


@dataclass(frozen=True)
class BlueprintConflict:
    """An enabled authentik blueprint instance whose `present` entry sets `fields` of the changed
    object (for a delete: the entry makes the object), so applying it again sets them back.
    `drift`: when the instance was applied after this repository's last apply, its time (the
    change then most likely undoes what the blueprint did)."""

    blueprint: str
    instance: str
    fields: tuple[str, ...]
    drift: str | None = None

    @property
    def data(self) -> JsonObject:
        out: JsonObject = {"blueprint": self.blueprint, "instance": self.instance, "fields": list(self.fields)}
        if self.drift is not None:
            out["drift"] = self.drift
        return out


@dataclass(frozen=True)
class Impact:
    """What runs or uses a changed object: the flows running it, and the brands and applications
    using those flows or the object; `every_login` when a brand's default authentication flow is
    among them."""

    flows: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    every_login: bool = False

    def __bool__(self) -> bool:
        return bool(self.flows or self.brands or self.applications)

    @property
    def data(self) -> JsonObject:
        out: JsonObject = {name: list(values) for name, values in (
            ("flows", self.flows), ("brands", self.brands), ("applications", self.applications)) if values}
        if self.every_login:
            out["every_login"] = True
        return out


def _shown(value: Json, sensitive: bool) -> Json:
    if value is UNKNOWN:
        return "(unknown)"
    if sensitive and value is not None:
        return "(sensitive)"
    return redact(value)


@dataclass(frozen=True, kw_only=True)
class Change:
    """One call. `path` is the API path without `/api/v3`; `id` the live object's id (None for a
    create); `depends_on` the addresses of the changes that must be done first (objects this one
    references that the same apply creates; for a delete, objects pointing at it)."""

    action: ClassVar[str] = ""
    method: ClassVar[str] = ""
    symbol: ClassVar[str] = ""

    kind: str
    address: str
    key: Key
    path: str
    id: Json = None
    fields: tuple[FieldChange, ...] = ()
    companions: tuple[SentAlong, ...] = ()
    depends_on: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    live: LiveFingerprint | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    """Keyed fingerprints of the secret values in the body, by field (for saved plans)."""
    same_key: tuple[Json, ...] = ()
    """For a create: ids of the live objects that shared its key when planned (a stage bound twice)."""
    takes: tuple[IdKey, ...] = ()
    """For a delete: ids of the live objects authentik deletes with it, as planned."""
    blueprint_conflicts: tuple[BlueprintConflict, ...] = ()
    """authentik's blueprint instances that will set this change back (planning/consequences.py)."""
    impact: Impact = field(default_factory=Impact)
    """What runs or uses the changed object (planning/impact.py)."""

    @property
    def name(self) -> str:
        return address_name(self.address)

    def body(self) -> JsonObject | None:
        """The request body with every reference still a `Ref` (apply fills in new ids)."""
        return {**{c.field: c.value for c in self.companions}, **{c.field: c.after for c in self.fields}}

    def wire_body(self) -> JsonObject | None:
        body = self.body()
        return None if body is None else plain(body)

    @property
    def data(self) -> JsonObject:
        """The change as the contract's JSON, extended with what a saved plan needs; never a
        secret in clear."""
        body = self.body()
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "address": self.address,
            "key": encode(list(self.key)),
            "id": self.id,
            "method": self.method,
            "path": API_PREFIX + self.path,
            "fields": {c.field: c.data for c in self.fields},
            **self._explained(),
            "body": None if body is None else encode(body),
            "before": self._before(),
            "sensitive": sorted(c.field for c in self.fields if c.sensitive),
            "depends_on": sorted(self.depends_on),
            **self._recorded(),
        }

    def _explained(self) -> JsonObject:
        """Why unchanged fields are sent along, and the notes, when there are any."""
        out: JsonObject = {}
        if self.companions:
            out["companions"] = {c.field: {"value": redact(c.value), "why": c.why} for c in self.companions}
        if self.notes:
            out["notes"] = list(self.notes)
        if self.blueprint_conflicts:
            out["blueprint_conflicts"] = [conflict.data for conflict in self.blueprint_conflicts]
        if self.impact:
            out["impact"] = self.impact.data
        return out

    def _before(self) -> JsonObject:
        # What a sensitive field held is a secret too, though the model may not say so (a value
        # from {env} in an ordinary field): only its source is written, never the value.
        return {c.field: encode(Secret(None, source=getattr(c.before, "source", None))
                                if c.sensitive and c.before is not UNKNOWN else c.before)
                for c in self.fields if c.before is not None}

    def _recorded(self) -> JsonObject:
        """What a saved plan is checked against before it is applied, when there is any."""
        out: JsonObject = {}
        if self.live is not None:
            out["live"] = {"fingerprint": self.live.object, "fields": dict(self.live.fields)}
        if self.secrets:
            out["secrets"] = dict(self.secrets)
        if self.same_key:
            out["same_key"] = list(self.same_key)
        if self.takes:
            out["takes"] = [[scope, ident] for scope, ident in self.takes]
        return out


@dataclass(frozen=True, kw_only=True)
class Create(Change):
    action: ClassVar[str] = "create"
    method: ClassVar[str] = "POST"
    symbol: ClassVar[str] = "+"


@dataclass(frozen=True, kw_only=True)
class Update(Change):
    """A PATCH with only the changed fields, plus `companions`: unchanged fields the server demands
    alongside (identification: recordings 2023.10.7/17, 18)."""

    action: ClassVar[str] = "update"
    method: ClassVar[str] = "PATCH"
    symbol: ClassVar[str] = "~"


@dataclass(frozen=True, kw_only=True)
class Replace(Change):
    """A PUT of the full object: `full` holds every writable field (changed or not)."""

    action: ClassVar[str] = "replace"
    method: ClassVar[str] = "PUT"
    symbol: ClassVar[str] = "~"

    full: JsonObject = field(default_factory=dict)

    def body(self) -> JsonObject | None:
        return dict(self.full)


@dataclass(frozen=True, kw_only=True)
class Delete(Change):
    action: ClassVar[str] = "delete"
    method: ClassVar[str] = "DELETE"
    symbol: ClassVar[str] = "-"

    def body(self) -> JsonObject | None:
        return None


ACTIONS: dict[str, type[Change]] = {cls.action: cls for cls in (Create, Update, Replace, Delete)}

MAC = "hmac_sha256"
"""The member of a plan's `digest` holding the keyed digest itself: the one thing it does not cover."""


@dataclass(frozen=True)
class PlanDigest:
    """The keyed digest a saved plan carries: HMAC-SHA256 (`mac`) over `content`, the SHA-256 of
    the canonical JSON of the whole plan but `mac`; `key` says which key made it
    (`RECONCILER_PLAN_KEY`, or `state`: the state file's key) and `key_id` names it without
    revealing it. `content` is never written: it is worked out from the file as read."""

    mac: str
    key: str
    key_id: str
    content: str = field(default="", compare=False, repr=False)

    @property
    def data(self) -> JsonObject:
        return {"key": self.key, "key_id": self.key_id, MAC: self.mac}


def content_digest(data: JsonObject) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of a plan's data without its
    digest's `mac`: what the keyed digest covers."""
    digest = data.get("digest")
    covered = {**data, "digest": {k: v for k, v in digest.items() if k != MAC}} if isinstance(digest, dict) else data
    text = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Changes in the order apply makes them, what was compared, and what a saved plan needs to
    be checked before it is applied: the server and API version, the fingerprint key's id, and
    a digest of the manifests it was made from."""

    api_version: str
    changes: tuple[Change, ...]
    unchanged: int
    server: str = ""
    unmanaged: tuple[Unmanaged, ...] = ()
    manifests_digest: str = ""
    manifest_files: int = 0
    key_id: str = ""
    created_at: str = ""
    state_file: str | None = None
    owns: tuple[Owned, ...] = ()
    forced: bool = False
    """Made with --force: its deletes were accepted over the safety thresholds."""
    guarded: bool = True
    """Made with the guard rule on (`[safety] protect_brand_flows`): apply checks it again."""
    digest: PlanDigest | None = field(default=None, compare=False)
    """The keyed digest of a saved plan (`planfile.seal`); None before it is sealed."""

    @property
    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "unchanged": self.unchanged}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @cached_property
    def data(self) -> JsonObject:
        """Built once per plan (a plan is frozen; `replace` makes a new one): sealing, saving and
        rendering it as JSON each asked for it, a third of a saved plan's time."""
        return {
            "format_version": FORMAT_VERSION,
            "api_version": self.api_version,
            "server": self.server,
            "created_at": self.created_at,
            "manifests": {"digest": self.manifests_digest, "files": self.manifest_files},
            "fingerprint_key": self.key_id,
            "state_file": self.state_file,
            "changes": [c.data for c in self.changes],
            "summary": self.summary,
            "unmanaged": [u.data for u in self.unmanaged],
            "owns": [o.data for o in self.owns],
            "forced": self.forced,
            **({} if self.guarded else {"guarded": False}),
            **({"digest": self.digest.data} if self.digest is not None else {}),
        }

    @classmethod
    def from_data(cls, data: Json) -> Plan:
        """A plan as `data` wrote it, every record type-checked; a `PlanFileError` naming the key
        that is wrong otherwise."""
        changes = _changes_of(data)
        try:
            return cls._checked(data, changes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a check missed: still one error
            raise PlanFileError(f"malformed plan: {exc.__class__.__name__}: {exc}") from exc

    @classmethod
    def _checked(cls, data: JsonObject, changes: list[Json]) -> Plan:
        manifests = _typed(data, "manifests", "an object", "", {})
        return cls(
            api_version=_typed(data, "api_version", "text", ""),
            server=_typed(data, "server", "text", ""),
            created_at=_typed(data, "created_at", "text", "", ""),
            manifests_digest=_typed(manifests, "digest", "text", "manifests", ""),
            manifest_files=_typed(manifests, "files", "a whole number", "manifests", 0),
            key_id=_typed(data, "fingerprint_key", "text", "", ""),
            state_file=_typed(data, "state_file", "text", "", None),
            changes=tuple(_change(item, index) for index, item in enumerate(changes)),
            unchanged=_typed(_typed(data, "summary", "an object", "", {}), "unchanged", "a whole number", "summary", 0),
            unmanaged=tuple(_unmanaged(item, f"unmanaged[{i}]") for i, item in enumerate(_list(data, "unmanaged", ""))),
            forced=_typed(data, "forced", "true or false", "", False),
            guarded=_typed(data, "guarded", "true or false", "", True),
            owns=tuple(_owned(item, f"owns[{i}]") for i, item in enumerate(_list(data, "owns", ""))),
            digest=_digest(data),
        )


# -- reading a plan file: every record type-checked, each error naming its key -----------------
_KINDS: dict[str, tuple[type, ...]] = {"text": (str,), "a list": (list,), "an object": (dict,),
                                        "true or false": (bool,), "a whole number": (int,),
                                        "text, a number or null": (str, int, type(None))}


def _is(value: Json, what: str) -> bool:
    return isinstance(value, _KINDS[what]) and not (isinstance(value, bool) and what != "true or false")


def _at(where: str, key: str) -> str:
    """A key as errors name it: `api_version`, `manifests.files`, `change 3: path`,
    `change 3: live.fingerprint`."""
    if not where:
        return key
    return f"{where}: {key}" if _CHANGE.fullmatch(where) else f"{where}.{key}"


_CHANGE = re.compile(r"change \d+")


_REQUIRED: Any = object()


def _typed(item: JsonObject, key: str, what: str, where: str, default: Any = _REQUIRED) -> Any:
    """`item[key]`, which must be `what`; missing or null is `default` when one is given."""
    value = item.get(key)
    if value is None and default is not _REQUIRED:
        return default
    if not _is(value, what):
        raise PlanFileError(f"{_at(where, key)} must be {what}")
    return value


def _list(item: JsonObject, key: str, where: str, of: str | None = None) -> list[Any]:
    """`item[key]`: a list (missing or null: empty), each entry `of` when given."""
    values: list[Any] = _typed(item, key, "a list", where, [])
    for index, value in enumerate(values):
        if of is not None and not _is(value, of):
            raise PlanFileError(f"{_at(where, key)}[{index}] must be {of}")
    return values


def _mapping(item: JsonObject, key: str, where: str, of: str | None = None) -> dict[str, Any]:
    """`item[key]`: an object (missing or null: empty), each value `of` when given."""
    values: dict[str, Any] = _typed(item, key, "an object", where, {})
    for name, value in values.items():
        if of is not None and not _is(value, of):
            raise PlanFileError(f"{_at(where, key)}[{name!r}] must be {of}")
    return values


def _changes_of(data: Json) -> list[Json]:
    """The changes of a plan file, once it is known to be a plan of this format."""
    if not isinstance(data, dict):
        raise PlanFileError("a plan is a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"unsupported plan format_version {data.get('format_version')!r} "
                            f"(this tool reads {FORMAT_VERSION})")
    changes = data.get("changes")
    if not isinstance(changes, list):
        raise PlanFileError("'changes' must be a list")
    return changes


def _unmanaged(item: Json, where: str) -> Unmanaged:
    if not isinstance(item, dict):
        raise PlanFileError(f"{where} must be an object")
    return Unmanaged(_typed(item, "kind", "text", where), _typed(item, "address", "text", where),
                     _typed(item, "id", "text, a number or null", where))


def _owned(item: Json, where: str) -> Owned:
    if not isinstance(item, dict):
        raise PlanFileError(f"{where} must be an object")
    return Owned(_typed(item, "address", "text", where), _typed(item, "kind", "text", where),
                 _typed(item, "id", "text, a number or null", where), _typed(item, "file", "text", where, None))


def _digest(data: JsonObject) -> PlanDigest | None:
    """The plan's keyed digest, with the digest of the content it covers; None when it has none."""
    if data.get("digest") is None:
        return None
    digest = _typed(data, "digest", "an object", "")
    return PlanDigest(mac=_typed(digest, MAC, "text", "digest"), key=_typed(digest, "key", "text", "digest"),
                      key_id=_typed(digest, "key_id", "text", "digest"), content=content_digest(data))


def _change(item: Json, index: int) -> Change:
    """One change as `Change.data` wrote it, every key type-checked."""
    where = f"change {index + 1}"
    cls = _action(item, where)
    path = _typed(item, "path", "text", where)
    if not path.startswith(API_PREFIX + "/"):
        raise PlanFileError(f"{where}: path {path!r} is not below {API_PREFIX}/")
    body = _decoded(item.get("body"), f"{where}: body")
    if cls is not Delete and not isinstance(body, dict):
        raise PlanFileError(f"{where}: a {cls.action} needs a body")
    method = _typed(item, "method", "text", where)
    if method != cls.method:
        raise PlanFileError(f"{where}: method {method!r} does not match its action {cls.action!r} "
                            f"(a {cls.action} is a {cls.method}): the plan was edited; plan again")
    common = _common(item, where, path, body if isinstance(body, dict) else {})
    if cls is Replace:
        return Replace(**common, full=body)
    return cls(**common)


def _decoded(value: Json, where: str) -> Json:
    """`decode(value)`, its error naming where the value sits."""
    try:
        return decode(value)
    except PlanFileError as exc:
        raise PlanFileError(f"{where}: {exc}") from exc


def _action(item: Json, where: str) -> type[Change]:
    if not isinstance(item, dict):
        raise PlanFileError(f"{where}: must be an object")
    cls = ACTIONS.get(item.get("action"))  # type: ignore[arg-type]
    if cls is None:
        raise PlanFileError(f"{where}: unknown action {item.get('action')!r}")
    return cls


def _address(item: JsonObject, where: str) -> str:
    address: str = _typed(item, "address", "text", where)
    kind, slash, name = address.partition("/")
    singleton = not slash and item.get("key") == []  # the settings: known by their kind alone
    if not kind or not (name or singleton):
        raise PlanFileError(f"{where}: address {address!r} must be KIND/NAME (KIND alone for the settings)")
    return address


def _common(item: JsonObject, where: str, path: str, body: JsonObject) -> JsonObject:
    """The arguments every kind of change takes, read from a change's JSON (a bad value raises as
    it is reached, so the first problem named stays the first one in this order)."""
    shown = _mapping(item, "fields", where, "an object")
    before = {name: _decoded(value, f"{where}: before[{name!r}]")
              for name, value in _mapping(item, "before", where).items()}
    sensitive = set(_list(item, "sensitive", where, "text"))
    companions = _mapping(item, "companions", where, "an object")
    for name, spec in companions.items():
        if name not in body:
            raise PlanFileError(f"{_at(where, 'companions')}[{name!r}] is not in the body")
        _typed(spec, "why", "text", f"{_at(where, 'companions')}[{name!r}]", "")
    return dict(
        kind=_typed(item, "kind", "text", where),
        address=_address(item, where),
        key=_key(_list(item, "key", where)),
        path=path[len(API_PREFIX):],
        id=_typed(item, "id", "text, a number or null", where),
        fields=_field_changes(shown, before, body, sensitive, where),
        companions=tuple(SentAlong(name, body[name], spec.get("why") or "") for name, spec in companions.items()),
        depends_on=frozenset(_list(item, "depends_on", where, "text")),
        notes=tuple(_list(item, "notes", where, "text")),
        blueprint_conflicts=tuple(
            _conflict(entry, f"{_at(where, 'blueprint_conflicts')}[{index}]")
            for index, entry in enumerate(_list(item, "blueprint_conflicts", where, "an object"))),
        impact=_impact(_typed(item, "impact", "an object", where, {}), _at(where, "impact")),
        **_checks(item, where),
    )


def _conflict(entry: JsonObject, where: str) -> BlueprintConflict:
    return BlueprintConflict(_typed(entry, "blueprint", "text", where), _typed(entry, "instance", "text", where),
                             tuple(_list(entry, "fields", where, "text")), _typed(entry, "drift", "text", where, None))


def _impact(entry: JsonObject, where: str) -> Impact:
    return Impact(flows=tuple(_list(entry, "flows", where, "text")),
                  brands=tuple(_list(entry, "brands", where, "text")),
                  applications=tuple(_list(entry, "applications", where, "text")),
                  every_login=_typed(entry, "every_login", "true or false", where, False))


def _field_changes(shown: dict[str, Any], before: JsonObject, body: JsonObject, sensitive: set[Json],
                   where: str) -> tuple[FieldChange, ...]:
    """The changed fields: what each was (`before`) and becomes (the body's value)."""
    found = []
    for name, spec in shown.items():
        at = f"{_at(where, 'fields')}[{name!r}]"
        found.append(FieldChange(name, before.get(name), body.get(name), name in sensitive,
                                 _typed(spec, "note", "text", at, ""), tuple(_list(spec, "details", at, "text"))))
    return tuple(found)


def _checks(item: JsonObject, where: str) -> JsonObject:
    """What a saved plan is checked against: the inverse of `Change._recorded`."""
    live = _typed(item, "live", "an object", where, None)
    at = _at(where, "live")
    return dict(
        live=None if live is None else LiveFingerprint(_typed(live, "fingerprint", "text", at),
                                                       _mapping(live, "fields", at, "text")),
        secrets=_mapping(item, "secrets", where, "text"),
        same_key=tuple(_list(item, "same_key", where, "text, a number or null")),
        takes=tuple(_id_key(entry) for entry in _list(item, "takes", where)),
    )


def with_values(change: Change, transform: Callable[[Json], Json]) -> Change:
    """`change` with every value of its body (changed fields, companions, a PUT's full body)
    passed through `transform` (apply fills in secret values and new ids this way)."""
    updated: JsonObject = {
        "fields": tuple(replace(c, after=transform(c.after)) for c in change.fields),
        "companions": tuple(replace(c, value=transform(c.value)) for c in change.companions),
    }
    if isinstance(change, Replace):
        updated["full"] = {name: transform(value) for name, value in change.full.items()}
    return replace(change, **updated)


def order_changes(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Creates, updates and replaces with every change after the ones it depends on (manifest
    order otherwise), then deletes in reverse manifest order, each after the deletes of what
    points at it. Linear in the changes and their dependencies. Raises `CycleError` with the
    members of a cycle."""
    changes = list(changes)
    writes = [c for c in changes if c.action != Delete.action]
    deletes = [c for c in reversed(changes) if c.action == Delete.action]
    return (*_topological(writes), *_topological(deletes))


def _topological(changes: list[Change]) -> list[Change]:
    by_address = {c.address: c for c in changes}
    ordered: list[Change] = []
    done: set[str] = set()
    visiting: dict[str, int] = {}
    path: list[str] = []

    def visit(change: Change) -> None:
        stack = [(change, iter(sorted(change.depends_on)))]
        visiting[change.address] = len(path)
        path.append(change.address)
        while stack:
            current, pending = stack[-1]
            for dependency in pending:
                if dependency in done or dependency not in by_address:
                    continue
                if dependency in visiting:
                    raise CycleError(tuple(path[visiting[dependency]:]) + (dependency,))
                visiting[dependency] = len(path)
                path.append(dependency)
                stack.append((by_address[dependency], iter(sorted(by_address[dependency].depends_on))))
                break
            else:
                stack.pop()
                path.pop()
                del visiting[current.address]
                done.add(current.address)
                ordered.append(current)

    for change in changes:
        if change.address not in done:
            visit(change)
    return ordered
