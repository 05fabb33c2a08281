"""Plans: an ordered list of changes, each a plain record that says exactly which call apply will
make, and that leaves the process as JSON (`Plan.data`) and comes back (`Plan.from_data`) with
everything apply needs. Secrets are carried as their source plus a keyed fingerprint, never as
values; references as their natural key plus the id they had."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from reconciler.errors import CycleError, PlanFileError
from reconciler.values import IdKey, Json, JsonObject, Key, Ref, Secret, plain, redact

__all__ = ["UNKNOWN", "FORMAT_VERSION", "FieldChange", "SentAlong", "LiveFingerprint", "Owned", "Unmanaged", "Change",
           "Create", "Update", "Replace", "Delete", "Plan", "API_PREFIX", "order_changes", "encode", "decode"]

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


def _decode_secret(source: Json) -> Secret:
    if source is not None and not (isinstance(source, dict) and all(isinstance(v, str) for v in source.values())):
        raise PlanFileError(f"a secret's source must be a mapping of strings, not {source!r}")
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

    @property
    def name(self) -> str:
        return self.address.split("/", 1)[1]

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

    @property
    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "unchanged": self.unchanged}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def data(self) -> JsonObject:
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
        }

    @classmethod
    def from_data(cls, data: Json) -> Plan:
        """A plan as `data` wrote it; a `PlanFileError` naming what is wrong otherwise."""
        changes = _changes_of(data)
        manifests = data.get("manifests") or {}
        try:
            return cls(
                api_version=_text(data, "api_version"),
                server=_text(data, "server"),
                created_at=str(data.get("created_at") or ""),
                manifests_digest=str(manifests.get("digest") or ""),
                manifest_files=int(manifests.get("files") or 0),
                key_id=str(data.get("fingerprint_key") or ""),
                state_file=data.get("state_file") if isinstance(data.get("state_file"), str) else None,
                changes=tuple(_change(item, index) for index, item in enumerate(changes)),
                unchanged=int((data.get("summary") or {}).get("unchanged", 0)),
                unmanaged=_unmanaged(data.get("unmanaged") or []),
                forced=data.get("forced") is True,
                owns=_owns(data.get("owns") or []),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFileError(f"malformed plan: {exc.__class__.__name__}: {exc}") from exc


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


def _unmanaged(items: Json) -> tuple[Unmanaged, ...]:
    return tuple(Unmanaged(str(u["kind"]), str(u["address"]), u.get("id")) for u in items)


def _owns(items: Json) -> tuple[Owned, ...]:
    return tuple(Owned(str(o["address"]), str(o["kind"]), _scalar(o.get("id")),
                       o.get("file") if isinstance(o.get("file"), str) else None)
                 for o in items)


def _text(data: JsonObject, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise PlanFileError(f"{key!r} must be a string")
    return value


def _change(item: Json, index: int) -> Change:
    """One change as `Change.data` wrote it, checked as far as apply relies on it."""
    where = f"change {index + 1}"
    cls = _action(item, where)
    path = _text(item, "path")
    if not path.startswith(API_PREFIX + "/"):
        raise PlanFileError(f"{where}: path {path!r} is not below {API_PREFIX}/")
    body = decode(item.get("body"))
    if cls is not Delete and not isinstance(body, dict):
        raise PlanFileError(f"{where}: a {cls.action} needs a body")
    common = _common(item, path, body)
    if cls is Replace:
        return Replace(**common, full=body)
    return cls(**common)


def _action(item: Json, where: str) -> type[Change]:
    if not isinstance(item, dict):
        raise PlanFileError(f"{where}: must be an object")
    cls = ACTIONS.get(item.get("action"))  # type: ignore[arg-type]
    if cls is None:
        raise PlanFileError(f"{where}: unknown action {item.get('action')!r}")
    return cls


def _common(item: JsonObject, path: str, body: Json) -> JsonObject:
    """The arguments every kind of change takes, read from a change's JSON (a bad value raises as
    it is reached, so the first problem named stays the first one in this order)."""
    shown = item.get("fields") or {}
    before = {name: decode(value) for name, value in (item.get("before") or {}).items()}
    sensitive = set(item.get("sensitive") or [])
    companions = {name: str(spec.get("why", "")) for name, spec in (item.get("companions") or {}).items()}
    return dict(
        kind=_text(item, "kind"),
        address=_text(item, "address"),
        key=_key(item.get("key") or []),
        path=path[len(API_PREFIX):],
        id=_scalar(item.get("id")),
        fields=_field_changes(shown, before, body, sensitive),
        companions=tuple(SentAlong(name, body[name], why) for name, why in companions.items()),
        **_context(item),
        **_checks(item),
    )


def _field_changes(shown: Json, before: JsonObject, body: Json, sensitive: set[Json]) -> tuple[FieldChange, ...]:
    """The changed fields: what each was (`before`) and becomes (the body's value)."""
    return tuple(FieldChange(name, before.get(name), body.get(name) if isinstance(body, dict) else None,
                             name in sensitive, str(spec.get("note", "")), tuple(spec.get("details", [])))
                 for name, spec in shown.items())


def _context(item: JsonObject) -> JsonObject:
    """What the change waits for, and the notes planning made about it."""
    return dict(depends_on=frozenset(str(a) for a in item.get("depends_on") or []),
                notes=tuple(str(n) for n in item.get("notes") or []))


def _checks(item: JsonObject) -> JsonObject:
    """What a saved plan is checked against: the inverse of `Change._recorded`."""
    live = item.get("live")
    return dict(
        live=LiveFingerprint(str(live["fingerprint"]), {str(k): str(v) for k, v in live["fields"].items()})
        if isinstance(live, dict) else None,
        secrets={str(k): str(v) for k, v in (item.get("secrets") or {}).items()},
        same_key=tuple(_scalar(ident) for ident in item.get("same_key") or ()),
        takes=tuple(_id_key(entry) for entry in item.get("takes") or ()),
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
