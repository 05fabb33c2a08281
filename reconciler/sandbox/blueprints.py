"""Blueprint instances (`/managed/blueprints/`) as authentik's worker runs them: the state the
server keeps for an instance (status, last applied, hash, metadata), `POST .../apply/`, which
imports the instance's blueprint, and the worker's list of blueprint files
(`.../available/`). As observed (authentik-blueprints/README.md, directory recordings): each
`present` entry writes exactly the attributes it lists onto the object it identifies and makes
the object when none is identified (2023 directory 449: an inline blueprint's group), `created`
entries only make missing objects, and a disabled instance is skipped. Entries of models the
sandbox does not model are left alone.

A stalled worker (the seed's `"worker": "stalled"`: a worker that takes no task, as the 2026 lab's
did under a queue of thousands of event tasks) makes every wait on it time out: the file list is a
500 page, a `path` check the write server error (2026 directory 25, 437, 441), a 2023 `apply` (which
waits for the import) the write server error too, and a 2026 `apply` queues an import that never
runs, so the instance stays as it was (2026 directory 29, 444-450).
"""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import yaml

from reconciler.model.blueprints import Blueprint, BlueprintFacts, Entry, blueprint_facts, identifies, is_reference
from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import Json, JsonObject, ObjectId

from .profile import BlueprintAnswers
from .quirks import format_datetime
from .rules import ServerFault
from .store import Store

KIND = "blueprint_instance"
NO_FILE = "Blueprint file does not exist"  # directory 441
STATE_FIELDS = ("last_applied", "last_applied_hash", "status", "managed_models", "metadata")
"""Read-only fields the server keeps for an instance itself."""
FILES_PATH = "/managed/blueprints/available/"
"""The worker's blueprint files, as the seed holds them (path, version, hash, last_m, meta)."""
TASKS_PATH = "/tasks/tasks/"
"""The worker's task rows (2026), as the seed holds them: each names the object it ran for."""
APPLY_ACTOR = "authentik.blueprints.v1.tasks.apply_blueprint"
STALLED = "stalled"
Create = Callable[[Kind, JsonObject], ObjectId]


class WorkerTimeout(Exception):
    """A wait on the worker timed out (ResultTimeout): a 500 page for a read, the write server
    error for a write."""


def created_state(kind: Kind) -> JsonObject:
    """What a new instance holds before it is applied (directory 28): status unknown, no hash, no
    metadata; `last_applied` is the time of creation."""
    if kind.name != KIND:
        return {}
    return {"last_applied": format_datetime(datetime.now(UTC)), "last_applied_hash": "", "status": "unknown",
            "managed_models": [], "metadata": {}}


class Importer:
    """Applies blueprint instances to the objects of a store; `create` makes an object of a kind
    from the values an entry gives it, as the API's create does."""

    def __init__(self, model: ApiModel, store: Store, answers: BlueprintAnswers, create: Create, *,
                 stalled: bool = False) -> None:
        self.model = model
        self.store = store
        self.answers = answers
        self.create = create
        self.stalled = stalled
        self.facts: BlueprintFacts = blueprint_facts(model.version)
        self.kinds_by_model: dict[str, list[Kind]] = {}
        for kind in model.kinds.values():
            name = self.facts.model_of(kind)
            if name:
                self.kinds_by_model.setdefault(name, []).append(kind)

    def refused(self, kind: Kind, body: Mapping[str, Json]) -> JsonObject | None:
        """Why a write of an instance is refused, in the serializer's field order: a path that
        names no blueprint file of the worker (directory 441; it asks the worker, so a stalled one
        times out), content that is no YAML (442, the server-error quirk: `ServerFault`), content
        naming a model authentik does not have (443)."""
        if kind.name != KIND:
            return None
        if body.get("path") and body["path"] not in {str(f.get("path")) for f in self.files()}:
            return {"path": [NO_FILE]}
        blueprint = inline_blueprint(str(body["content"])) if body.get("content") else None
        if body.get("content") and blueprint is None:
            raise ServerFault(kind.name)
        if blueprint is not None and self.unknown_models(blueprint):
            return {"content": list(self.answers.unknown_model)}
        return None

    def unknown_models(self, blueprint: Blueprint) -> list[str]:
        known = self.facts.known_models
        return [entry.model for entry in blueprint.entries if known and entry.model not in known]

    def files(self) -> list[JsonObject]:
        """The worker's blueprint files (the seed's; else the ones the release ships)."""
        if self.stalled:
            raise WorkerTimeout
        if FILES_PATH in self.store.lists:
            return copy.deepcopy(self.store.lists[FILES_PATH])
        return [{"path": path, "version": 1, "hash": blueprint.sha512, "last_m": 0,
                 "meta": {"name": blueprint.name, "labels": blueprint.labels}}
                for path, blueprint in self.facts.blueprints.items()]

    @property
    def answers_before_import(self) -> bool:
        return self.answers.queued_apply

    def apply(self, pk: ObjectId) -> None:
        """Import the instance `pk` (skipped when it is disabled), then record the run on it; a
        2026 apply is a task row of the worker's, run at once unless the worker is stalled."""
        if self.answers.task_rows:
            self.store.add_listed(TASKS_PATH, {"message_id": self.store.new_id(), "actor_name": APPLY_ACTOR,
                                               "rel_obj_app_label": "authentik_blueprints",
                                               "rel_obj_model": "blueprintinstance", "rel_obj_id": str(pk)})
        if self.stalled and self.answers.queued_apply:
            return
        if self.stalled:
            raise WorkerTimeout
        values = self.store.values[KIND][pk]
        if values.get("enabled") is False:
            return
        path = str(values.get("path") or "")
        blueprint = self.facts.blueprints.get(path) if path else inline_blueprint(str(values.get("content") or ""))
        if blueprint is None:
            self.record(pk, "error", "", {})
            return
        for entry in blueprint.entries:
            if entry.state in ("present", "created"):
                self.write(entry)
        self.record(pk, "successful", blueprint.sha512, {"name": blueprint.name, "labels": blueprint.labels})

    def task_rows(self, pk: ObjectId) -> list[JsonObject]:
        """`used_by` entries of the worker's task rows for `pk` (2026 directory 457, flows 295)."""
        return [{"app": "authentik_tasks", "model_name": "task", "pk": row["message_id"],
                 "name": row["message_id"], "action": "cascade"}
                for row in self.store.lists.get(TASKS_PATH, []) if row.get("rel_obj_id") == str(pk)]

    def record(self, pk: ObjectId, status: str, digest: str, metadata: JsonObject) -> None:
        for key, value in (("last_applied", format_datetime(datetime.now(UTC))), ("status", status),
                           ("last_applied_hash", digest), ("metadata", metadata)):
            self.store.hold(pk, key, value)

    def write(self, entry: Entry) -> None:
        """Write the entry's listed attributes onto each object it identifies (a `present` entry
        only), or make the object when none is (directory 449)."""
        kinds = self.kinds_by_model.get(entry.model, [])
        found = [(kind, pk) for kind in kinds for pk, values in list(self.store.values[kind.name].items())
                 if identifies(entry.identifiers, kind, values, self.lookup)]
        if entry.state == "present":
            for kind, pk in found:
                self.store.update(kind, pk, self.attributes(kind, entry))
        plain = {name: value for name, value in entry.identifiers.items() if not isinstance(value, dict)}
        if not found and kinds and len(plain) == len(entry.identifiers):
            kind = kinds[0]
            self.create(kind, {**{k: v for k, v in plain.items() if k in kind.fields}, **self.attributes(kind, entry)})

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
    """An instance's inline content as a blueprint: its metadata, the hash authentik records
    (SHA-512 of the stored content, 2023 directory 28, 29) and its entries (YAML tags kept as
    `{"!Tag": value}`, which the import cannot evaluate)."""
    try:
        document = yaml.load(content, Loader=_TaggedLoader)
    except yaml.YAMLError:
        return None
    document = document if isinstance(document, dict) else {}
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    entries = document.get("entries")
    entries = entries if isinstance(entries, list) else []
    return Blueprint(path="", name=str(metadata.get("name", "")), instantiate=True,
                     sha512=hashlib.sha512(content.encode()).hexdigest(),
                     labels=dict(metadata.get("labels") or {}),
                     entries=tuple(inline_entry(entry) for entry in entries if isinstance(entry, dict)))


def inline_entry(raw: Mapping[str, Json]) -> Entry:
    identifiers = raw.get("identifiers")
    attrs = raw.get("attrs")
    values = dict(attrs) if isinstance(attrs, dict) else {}
    return Entry(model=str(raw.get("model") or ""), state=str(raw.get("state") or "present"),
                 identifiers=dict(identifiers) if isinstance(identifiers, dict) else {},
                 attrs=tuple(values), values=values)


class _TaggedLoader(yaml.SafeLoader):
    """Reads authentik's YAML tags (`!KeyOf`, `!Find`, ...) as `{"!Tag": value}`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Json:
    if isinstance(node, yaml.SequenceNode):
        value: Json = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return {f"!{suffix}": value}


_TaggedLoader.add_multi_constructor("!", _tagged)
