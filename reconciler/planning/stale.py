"""Checking a saved plan against the server before it is applied (Terraform refuses a stale saved
plan; octoDNS an apply whose plan checksum changed), in two steps: `stale_reasons` says whether
the plan still describes the server, `read_secrets` reads its secrets from their sources. Every
reason is collected, each naming the object and field, or the variable or file of a secret,
never its value.

A saved plan is checked, not trusted: every call it would make must be the one the model gives
for that kind and object (a crafted file cannot send a DELETE elsewhere), every object it changes
must carry the fingerprint it was computed from, and a secret can only come from a source the
plan fingerprinted."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath

from reconciler.manifests.secrets import FileRule, SourceError, read_field_source
from reconciler.model.identity import address, own_key
from reconciler.model.kinds import ApiModel, Kind
from reconciler.model.live import LiveState, OwnListScope, paths_for_deletes, paths_for_kinds, paths_for_targets
from reconciler.planning.changes import API_PREFIX, Change, Create, Delete, LiveFingerprint, Plan, with_values
from reconciler.state import StateFile
from reconciler.values import Json, JsonObject, Ref, Secret, refs_in, walk

__all__ = ["saved_plan_paths", "stale_reasons", "read_secrets", "live_fingerprint", "same_key_ids"]


def live_fingerprint(kind: Kind, obj: JsonObject, secrets: StateFile) -> LiveFingerprint:
    """Keyed fingerprints of a live object's writable fields, the whole and each: what a saved
    plan is checked against. Read-only fields are left out: they change on their own (a flow's
    `cache_count`, a policy's `bound_to`); reference lists are taken as sets, as the server keeps
    them (recordings 19, 20)."""
    values = {}
    for name, spec in kind.fields.items():
        if name in obj:
            value = obj[name]
            if spec.reference and isinstance(value, list):
                value = sorted(value, key=str)
            values[name] = value
    return LiveFingerprint(secrets.digest(values), {name: secrets.digest(value, 16) for name, value in values.items()})


def same_key_ids(kind: Kind, change: Change, live: LiveState, model: ApiModel) -> list[Json]:
    """Ids of the live objects that have the natural key of the object `change` creates: among the
    children of its parent for a nested kind (a flow's bindings), else among the kind's objects."""
    parent_field = model.parent_field(kind)
    if parent_field is not None:
        parent = (change.body() or {}).get(parent_field)
        if not isinstance(parent, Ref) or parent.pk is None:
            return []  # the parent is created by the same plan: nothing can share its key yet
        wanted = own_key(kind, change.key, parent_field)
        candidates = [obj for obj in live.children(kind, parent_field, parent.pk)
                      if own_key(kind, live.key_of(kind, obj), parent_field) == wanted]
    else:
        candidates = live.find(kind, change.key)
    return [obj.get(kind.id_field) for obj in candidates]


def saved_plan_paths(plan: Plan, model: ApiModel) -> set[str]:
    """The lists to read again: the kinds the plan touches and what their keys need, the family
    lists that say whether the key of an object it creates is taken, and the targets its
    references point at."""
    kinds = {model.kinds[c.kind] for c in plan.changes if c.kind in model.kinds}
    families = {scope for c in plan.changes if isinstance(c, Create) and c.kind in model.kinds
                if (scope := model.shared_scope(model.kinds[c.kind]))}
    targets = {ref.target for change in plan.changes for ref in refs_in(change.body()) if ref.pk is not None}
    doomed = {model.kinds[c.kind] for c in plan.changes if isinstance(c, Delete) and c.kind in model.kinds}
    return (paths_for_kinds(model, kinds) | paths_for_targets(model, families | targets)
            | paths_for_deletes(model, doomed))


def saved_plan_scope(plan: Plan) -> OwnListScope:
    """The objects whose lists of their own (a role's permissions) to read again: those the plan
    changes, as the plan read them (`pipeline.own_list_scope`)."""
    return OwnListScope(frozenset((c.kind, c.key) for c in plan.changes),
                        frozenset((c.kind, str(c.id)) for c in plan.changes if c.id is not None))


def _describe(source: dict[str, str] | None) -> str:
    if not source:
        return "written in the manifest"
    if "env" in source:
        return f"environment variable {source['env']}"
    if "file" in source:
        return f"file {source['file']}"
    return f"live field {source.get('live')}"


def _check_call(change: Change, kind: Kind, current: JsonObject | None) -> list[str]:
    """The call a change makes must be the model's call for that kind and object."""
    expected = kind.path if isinstance(change, Create) else kind.detail_path(current) if current else None
    generating = kind.generate is not None and isinstance(change, Create) and change.path == kind.generate["path"]
    if expected is not None and change.path != expected and not generating:
        return [f"{change.address}: the plan calls {API_PREFIX}{change.path}, but that object lives at "
                f"{API_PREFIX}{expected}"]
    return []


def _check_create(change: Change, kind: Kind, live: LiveState, model: ApiModel) -> list[str]:
    now = [ident for ident in same_key_ids(kind, change, live, model) if ident not in change.same_key]
    if now:
        return [f"{change.address}: to be created, but it exists now (id {now[0]})"]
    if model.parent_field(kind) is None and model.shared_scope(kind):
        other = live.member_kind(kind.family, change.key)
        if other is not None and other != kind.name:
            return [f"{change.address}: to be created, but a live {other} {kind.family} has its "
                    f"{'+'.join(kind.key)} now"]
    return []


def _check_live(change: Change, kind: Kind, current: JsonObject | None, live: LiveState,
                secrets: StateFile) -> list[str]:
    if current is None:
        return [f"{change.address}: deleted since the plan (id {change.id})"]
    if change.live is None:
        return [f"{change.address}: the plan carries no fingerprint of the object it changes"]
    reasons = _check_cascade(change, kind, current, live) if isinstance(change, Delete) else []
    now = live_fingerprint(kind, current, secrets)
    if now.object == change.live.object:
        return reasons
    changed = sorted(name for name in set(now.fields) | set(change.live.fields)
                     if now.fields.get(name) != change.live.fields.get(name))
    return reasons + [f"{change.address}: changed since the plan: {', '.join(changed) or 'its fields'}"]


def _check_cascade(change: Change, kind: Kind, current: JsonObject, live: LiveState) -> list[str]:
    """A delete takes with it no more than it did when planned."""
    planned = set(change.takes)
    more = sorted(address(other, live.key_of(other, dependent))
                  for ident, other, dependent in live.cascade_ids(kind, current) if ident not in planned)
    if more:
        return [f"{change.address}: authentik would now also delete {', '.join(more)} with it"]
    return []


def _check_refs(change: Change, live: LiveState, model: ApiModel) -> list[str]:
    """Each object the body points at by id must still be the one the plan named."""
    reasons = []
    for ref in refs_in(change.body()):
        if ref.pk is None or ref.target not in model.targets:
            continue
        now = live.ref_of(ref.target, ref.pk)
        if now.key is None:
            reasons.append(f"{change.address}: refers to {ref}, which is gone (id {ref.pk})")
        elif ref.key is not None and now.key != ref.key:
            reasons.append(f"{change.address}: refers to {ref}, which is {now} now")
    return reasons


def _check_secrets(change: Change, kind: Kind, files: FileRule | None) -> list[str]:
    """A secret comes from a source the plan fingerprinted: a variable, a file inside the working
    folder, or (for a field the model knows as a secret the server returns) the live object."""
    reasons = []
    for name, value in (change.body() or {}).items():
        if not isinstance(value, Secret):
            continue
        problem = _secret_problem(change, kind, name, value.source or {}, files)
        if problem:
            reasons.append(f"{change.address}: {name}: the secret from {_describe(value.source)} {problem}")
    return reasons


def _secret_problem(change: Change, kind: Kind, name: str, source: dict[str, str], files: FileRule | None) -> str:
    """What keeps the secret in field `name` from being carried by the saved plan ("": nothing)."""
    if not source:
        return "cannot be carried by a saved plan; write it as {env: VAR} or {file: PATH}"
    if "live" in source:
        returned = source["live"] == name and name in kind.sensitive_fields and change.id is not None
        return "" if returned else "is not a secret this object returns"
    if name not in change.secrets:
        return "carries no fingerprint"
    if "file" in source and _outside(PurePosixPath(source["file"]), files):
        return "is outside the working folder"
    return ""


def _outside(path: PurePosixPath, files: FileRule | None) -> bool:
    """A secret file outside the working folder, and outside the folders `files` allows."""
    return (path.is_absolute() or ".." in path.parts) and not (files and files.allows_outside(Path(path)))


def stale_reasons(plan: Plan, live: LiveState, model: ApiModel, secrets: StateFile, *, server: str,
                  server_version: str, files: FileRule | None = None) -> list[str]:
    """Every reason the saved plan may not be applied to this server now (none: go); a secret file
    outside the working folder only from a folder `files` allows."""
    reasons: list[str] = []
    if plan.server != server:
        reasons.append(f"the plan was made for {plan.server}, not {server}")
    if plan.api_version != model.version:
        reasons.append(f"the plan was made for authentik {plan.api_version}; the server runs {server_version}")
    if plan.key_id and plan.key_id != secrets.key_id:
        reasons.append("the fingerprint key differs from the plan's: set RECONCILER_STATE_KEY (or the token) "
                       "as when the plan was made")
    if reasons:
        return reasons
    for change in plan.changes:
        kind = model.kinds.get(change.kind)
        if kind is None:
            reasons.append(f"{change.address}: authentik {model.version} has no kind {change.kind!r}")
            continue
        current = live.written(kind, change.id)
        reasons += _check_call(change, kind, current)
        if isinstance(change, Create):
            reasons += _check_create(change, kind, live, model)
        else:
            reasons += _check_live(change, kind, current, live, secrets)
        reasons += _check_refs(change, live, model) + _check_secrets(change, kind, files)
    return reasons


def read_secrets(plan: Plan, live: LiveState, model: ApiModel, secrets: StateFile,
                 environ: Mapping[str, str], files: FileRule | None = None) -> tuple[Plan, list[str]]:
    """The plan with each secret read from its source, and every secret that no longer matches
    the fingerprint the plan recorded (or cannot be read, or `files` refuses: the rule planning
    follows, after resolving symlinks). Run after `stale_reasons` found none."""
    reasons: list[str] = []
    changes = []
    for change in plan.changes:
        kind = model.kinds[change.kind]
        current = live.written(kind, change.id)
        filled = {id(value): _read(change, name, value, current, secrets, environ, reasons, files,
                                   kind.fields[name].type if name in kind.fields else None)
                  for name, value in (change.body() or {}).items() if isinstance(value, Secret)}
        changes.append(_with_secrets(change, filled) if filled else change)
    return replace(plan, changes=tuple(changes)), reasons


def _with_secrets(change: Change, filled: dict[int, Secret]) -> Change:
    """`change` with each secret of its body replaced by the one read for it."""
    def leaf(value: Secret | Ref) -> Json:
        return filled.get(id(value), value)

    return with_values(change, lambda value: walk(value, leaf))


def _read(change: Change, name: str, value: Secret, current: JsonObject | None, secrets: StateFile,
          environ: Mapping[str, str], reasons: list[str], files: FileRule | None, field_type: str | None) -> Secret:
    source = value.source or {}
    if "live" in source:
        return Secret(current[name], source=source) if current is not None and name in current else value
    try:
        found = read_field_source(source, field_type, environ, files)
    except SourceError as exc:
        reasons.append(f"{change.address}: {name}: {exc}")
        return value
    if secrets.fingerprint(change.address, name, found.reveal()) != change.secrets.get(name):
        reasons.append(f"{change.address}: {name}: the secret from {_describe(source)} changed since the plan")
    return found
