"""Blueprint instances (`/managed/blueprints/`) as authentik's worker runs them: the state the
server keeps for an instance (status, last applied, hash, metadata), and `POST .../apply/`, which
imports the instance's blueprint. As observed (authentik-blueprints/README.md, turn-1 recordings):
each `present` entry writes exactly the attributes it lists onto the object it identifies,
`created` entries never overwrite, and a disabled instance is skipped. Entries of kinds the
sandbox does not model, and objects that are missing, are left alone (no object is created)."""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

import yaml

from reconciler.model.blueprints import Blueprint, BlueprintFacts, Entry, blueprint_facts, identifies, is_reference
from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import Json, JsonObject, ObjectId

from .quirks import format_datetime
from .rules import ServerFault
from .store import Store

KIND = "blueprint_instance"
NO_FILE = "Blueprint file does not exist"  # directory 441
STATE_FIELDS = ("last_applied", "last_applied_hash", "status", "managed_models", "metadata")
"""Read-only fields the server keeps for an instance itself."""
ASYNC_APPLY = {"2026.2.2"}
"""Versions whose `apply` only queues the import and answers the instance as it was (2026
directory 29); 2023 imports before answering (2023 directory 29). The sandbox's worker is never
busy: the import has run by the next read."""


def created_state(kind: Kind) -> JsonObject:
    """What a new instance holds before it is applied (directory 28): status unknown, no hash, no
    metadata; `last_applied` is the time of creation."""
    if kind.name != KIND:
        return {}
    return {"last_applied": format_datetime(datetime.now(UTC)), "last_applied_hash": "", "status": "unknown",
            "managed_models": [], "metadata": {}}


class Importer:
    """Applies blueprint instances to the objects of a store."""

    def __init__(self, model: ApiModel, store: Store) -> None:
        self.model = model
        self.store = store
        self.facts: BlueprintFacts = blueprint_facts(model.version)
        self.kinds_by_model: dict[str, list[Kind]] = {}
        for kind in model.kinds.values():
            name = self.facts.model_of(kind)
            if name:
                self.kinds_by_model.setdefault(name, []).append(kind)

    def refused(self, kind: Kind, body: Mapping[str, Json]) -> JsonObject | None:
        """Why a write of an instance is refused: a path that names no blueprint file (directory
        441; the files are the ones the release ships); content that is no YAML fails in the
        server (442, the 405 server-error quirk: `ServerFault`)."""
        if kind.name != KIND:
            return None
        if body.get("content") and inline_blueprint(str(body["content"])) is None:
            raise ServerFault(kind.name)
        if body.get("path") and body["path"] not in self.facts.blueprints:
            return {"path": [NO_FILE]}
        return None

    @property
    def answers_before_import(self) -> bool:
        return self.model.version in ASYNC_APPLY

    def apply(self, pk: ObjectId) -> None:
        """Import the instance `pk` (skipped when it is disabled), then record the run on it."""
        values = self.store.values[KIND][pk]
        if values.get("enabled") is False:
            return
        path = str(values.get("path") or "")
        blueprint = self.facts.blueprints.get(path) if path else inline_blueprint(str(values.get("content") or ""))
        if blueprint is None:
            self.record(pk, "error", "", {})
            return
        for entry in blueprint.entries:
            if entry.state == "present":
                self.write(entry)
        self.record(pk, "successful", blueprint.sha512, {"name": blueprint.name, "labels": blueprint.labels})

    def record(self, pk: ObjectId, status: str, digest: str, metadata: JsonObject) -> None:
        for key, value in (("last_applied", format_datetime(datetime.now(UTC))), ("status", status),
                           ("last_applied_hash", digest), ("metadata", metadata)):
            self.store.hold(pk, key, value)

    def write(self, entry: Entry) -> None:
        """Write the entry's listed attributes onto each object it identifies."""
        for kind in self.kinds_by_model.get(entry.model, []):
            for pk, values in list(self.store.values[kind.name].items()):
                if identifies(entry.identifiers, kind, values, self.lookup):
                    self.store.update(kind, pk, self.attributes(kind, entry))

    def attributes(self, kind: Kind, entry: Entry) -> JsonObject:
        """The entry's attributes the kind has, references resolved to ids; an attribute whose
        value this sandbox cannot evaluate (`!Env`, `!Context`, ...) is left out."""
        found: JsonObject = {}
        for name in entry.attrs:
            if name not in kind.fields or name not in entry.values:
                continue
            value = self.evaluate(entry.values[name])
            if value is not _UNKNOWN:
                found[name] = value
        return found

    def evaluate(self, value: Json) -> Json:
        if is_reference(value):
            return self.find(value["model"], value["identifiers"])
        if isinstance(value, dict) and set(value) == {"!Find"}:
            model_name, *pairs = value["!Find"]
            return self.find(model_name, {str(pair[0]): pair[1] for pair in pairs})
        if isinstance(value, dict) and any(str(key).startswith("!") for key in value):
            return _UNKNOWN
        if isinstance(value, list):
            items = [self.evaluate(item) for item in value]
            return _UNKNOWN if _UNKNOWN in items else items
        return copy.deepcopy(value)

    def find(self, model_name: str, identifiers: Mapping[str, Json]) -> Json:
        """The pk of the object of `model_name` the identifiers pick out (None when none does)."""
        for kind in self.kinds_by_model.get(model_name, []):
            for pk, values in self.store.values[kind.name].items():
                if identifies(identifiers, kind, values, self.lookup):
                    return pk
        return None

    def lookup(self, target: str, ident: Json) -> tuple[Kind | None, Mapping[str, Json]] | None:
        kind = self.store.kind_at(ident)
        return (kind, self.store.values[kind.name][ident]) if kind is not None else None


class _Unknown:
    pass


_UNKNOWN: Json = _Unknown()


def inline_blueprint(content: str) -> Blueprint | None:
    """An instance's inline content as a blueprint: its metadata, and the hash authentik records
    (SHA-512 of the stored content, 2023 directory 28, 29). Its entries are not imported."""
    try:
        document = yaml.load(content, Loader=_TaggedLoader)
    except yaml.YAMLError:
        return None
    metadata = document.get("metadata") if isinstance(document, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    return Blueprint(path="", name=str(metadata.get("name", "")), instantiate=True,
                     sha512=hashlib.sha512(content.encode()).hexdigest(),
                     labels=dict(metadata.get("labels") or {}), entries=())


class _TaggedLoader(yaml.SafeLoader):
    """Reads authentik's YAML tags (`!KeyOf`, `!Find`, ...) as plain values."""


_TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
