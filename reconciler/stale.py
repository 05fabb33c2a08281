"""Checking a saved plan against the server before it is applied (Terraform refuses a stale saved
plan; octoDNS an apply whose plan checksum changed). Every reason is collected, each naming the
object and field, or the variable or file of a secret, never its value. A plan that passes comes
back with its secret values read from their sources."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reconciler.apimodel import ApiModel, Kind
from reconciler.live import LiveState, paths_for_kinds
from reconciler.plan import Change, Create, LiveFingerprint, Plan, with_values
from reconciler.secrets import SourceError, read_source
from reconciler.state import SecretState
from reconciler.values import Ref, Secret, walk

__all__ = ["saved_plan_paths", "check_saved_plan", "live_fingerprint"]


def live_fingerprint(kind: Kind, obj: dict[str, Any], secrets: SecretState) -> LiveFingerprint:
    """Keyed fingerprints of a live object's writable fields, the whole and each: what a saved
    plan is checked against. Read-only fields are left out: they change on their own (a flow's
    `cache_count`, a policy's `bound_to`)."""
    values = {name: obj[name] for name in kind.fields if name in obj}
    return LiveFingerprint(secrets.digest(values), {name: secrets.digest(value, 16) for name, value in values.items()})


def saved_plan_paths(plan: Plan, model: ApiModel) -> set[str]:
    """The lists to read again: one per kind the plan touches, and what those kinds' keys need."""
    return paths_for_kinds(model, {model.kinds[c.kind] for c in plan.changes if c.kind in model.kinds})


def _describe(source: dict[str, str] | None) -> str:
    if not source:
        return "written in the manifest"
    if "env" in source:
        return f"environment variable {source['env']}"
    if "file" in source:
        return f"file {source['file']}"
    return f"live field {source.get('live')}"


def _check_change(change: Change, live: LiveState, model: ApiModel, secrets: SecretState) -> list[str]:
    kind = model.kinds.get(change.kind)
    if kind is None:
        return [f"{change.address}: the API model of this version has no kind {change.kind!r}"]
    if isinstance(change, Create):
        which = (change.body() or {}).get(kind.disambiguator) if kind.disambiguator else None
        existing = [obj for obj in live.find(kind, change.key)
                    if not kind.disambiguator or obj.get(kind.disambiguator) == which]
        return [f"{change.address}: to be created, but it exists now (id {existing[0].get('pk')})"] if existing else []
    current = live.by_id(kind, change.id)
    if current is None:
        return [f"{change.address}: deleted since the plan (id {change.id})"]
    if change.live is None:
        return []
    now = live_fingerprint(kind, current, secrets)
    if now.object == change.live.object:
        return []
    changed = sorted(name for name in set(now.fields) | set(change.live.fields)
                     if now.fields.get(name) != change.live.fields.get(name))
    return [f"{change.address}: changed since the plan: {', '.join(changed) or 'its fields'}"]


def _fill_secrets(change: Change, live: LiveState, model: ApiModel, secrets: SecretState,
                  environ: Mapping[str, str], reasons: list[str]) -> Change:
    """Read each secret of the body from its source and check it against the plan's fingerprint."""
    current = live.by_id(model.kinds[change.kind], change.id) if change.id is not None else None
    body = change.body() or {}

    def read(name: str, value: Secret) -> Any:
        source = value.source or {}
        what = f"{change.address}: {name}: the secret from {_describe(value.source)}"
        if "live" in source:
            if current is None or source["live"] not in current:
                reasons.append(f"{what} is no longer on the server")
                return value
            return Secret(current[source["live"]], source=source)
        if not source:
            reasons.append(f"{what} cannot be carried by a saved plan; write it as {{env: VAR}} or {{file: PATH}}")
            return value
        try:
            found = read_source(source, environ)
        except SourceError as exc:
            reasons.append(f"{change.address}: {name}: {exc}")
            return value
        expected = change.secrets.get(name)
        if expected is not None and secrets.fingerprint(change.address, name, found.reveal()) != expected:
            reasons.append(f"{what} changed since the plan")
        return found

    filled = {name: read(name, value) for name, value in body.items() if isinstance(value, Secret)}
    if not filled:
        return change
    by_id = {id(value): filled[name] for name, value in body.items() if isinstance(value, Secret)}

    def leaf(value: Secret | Ref) -> Any:
        return by_id.get(id(value), value)

    return with_values(change, lambda value: walk(value, leaf))


def check_saved_plan(plan: Plan, live: LiveState, model: ApiModel, secrets: SecretState, *, server: str,
                     server_version: str, environ: Mapping[str, str]) -> tuple[Plan, list[str]]:
    """The plan with its secrets read, and every reason it may not be applied (none: go)."""
    reasons: list[str] = []
    if plan.server != server:
        reasons.append(f"the plan was made for {plan.server}, not {server}")
    if plan.api_version != model.version:
        reasons.append(f"the plan was made for authentik {plan.api_version}; the server runs {server_version}")
    if plan.key_id and plan.key_id != secrets.key_id:
        reasons.append("the fingerprint key differs from the plan's: set RECONCILER_STATE_KEY (or the token) "
                       "as when the plan was made")
    if reasons:
        return plan, reasons
    changes = []
    for change in plan.changes:
        reasons += _check_change(change, live, model, secrets)
        changes.append(_fill_secrets(change, live, model, secrets, environ, reasons))
    return replace(plan, changes=tuple(changes)), reasons
