"""The three jobs, as functions: validate manifests, plan against live state, apply a plan.
The CLI and the Python API both call these; nothing here prints."""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reconciler.apimodel import ApiModel, known_versions, load_model
from reconciler.apply import ApplyResult, apply_plan
from reconciler.client import Client, Connection
from reconciler.desired import DesiredObject
from reconciler.diff import diff
from reconciler.errors import PlanError, Problem, ReconcilerError
from reconciler.live import LiveState, fetch_live
from reconciler.manifest import load_manifests
from reconciler.plan import Change, Plan, order_changes
from reconciler.refs import resolve_refs
from reconciler.schema import validate
from reconciler.secrets import resolve_secrets
from reconciler.state import STATE_FILE, SecretState

__all__ = ["ApplyOutcome", "PlanOptions", "PlanSession", "validate_paths", "plan", "apply", "pick_version",
           "latest_version"]

log = logging.getLogger(__name__)

STATE_KEY_ENV = "RECONCILER_STATE_KEY"
T = TypeVar("T")


def latest_version() -> str:
    return known_versions()[-1]


def pick_version(server_version: str) -> str:
    """The model for a server: its own version, else the newest older model we have."""
    known = known_versions()
    if server_version in known:
        return server_version

    def numbers(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    older = [v for v in known if numbers(v) <= numbers(server_version)]
    if not older:
        raise ReconcilerError(f"authentik {server_version} is older than every API model this tool has "
                              f"({', '.join(known)})")
    log.warning("no API model for authentik %s; using %s", server_version, older[-1])
    return older[-1]


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """How to plan. `state_path=None` derives `reconciler.state.json` beside the manifests;
    `keep_state=False` keeps fingerprints in memory (the sandbox)."""

    api_version: str | None = None
    resend_secrets: bool = False
    ignore_changes: frozenset[str] = frozenset()
    state_path: Path | None = None
    keep_state: bool = True
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    progress: Callable[[str], None] | None = field(default=None, compare=False)


def validate_paths(paths: list[str | Path], api_version: str | None = None) -> list[DesiredObject]:
    """Offline: load and validate the manifests; raise `ManifestError` with every problem."""
    model = _model(api_version or latest_version())
    return validate(load_manifests(paths), model)


def _model(version: str) -> ApiModel:
    try:
        return load_model(version)
    except KeyError as exc:
        raise ReconcilerError(str(exc.args[0])) from exc


def default_state_path(paths: list[str | Path]) -> Path:
    """The state file for manifests under `paths`: the nearest `reconciler.state.json` from the
    first path up to the repository root, so `plan repo/` and `plan repo/sub/` share one; a new
    one goes to the repository root (the folder holding `.git`), else beside the manifests."""
    first = Path(paths[0]).resolve() if paths else Path.cwd()
    start = first if first.is_dir() else first.parent
    for folder in (start, *start.parents):
        if (folder / STATE_FILE).exists():
            return folder / STATE_FILE
        if (folder / ".git").exists():
            return folder / STATE_FILE
    return start / STATE_FILE


@dataclass
class PlanSession:
    """A plan and what it was made from, so apply can run it on the same connection."""

    plan: Plan
    model: ApiModel
    live: LiveState
    secrets: SecretState


async def _make_plan(client: Client, paths: list[str | Path], options: PlanOptions,
                     secrets: SecretState | None = None) -> PlanSession:
    raws = load_manifests(paths)
    server_version = await client.version()
    version = options.api_version or pick_version(server_version)
    if options.api_version and server_version in known_versions() and server_version != options.api_version:
        # A wrong model writes values of the wrong type (TOTP digits 6 vs "6") that never plan clean.
        raise ReconcilerError(f"the server runs authentik {server_version}, not {options.api_version}: "
                              "drop --api-version to use the server's own model")
    model = _model(version)
    desired = validate(raws, model)
    env = os.environ if options.environ is None else options.environ
    desired = resolve_secrets(desired, model, env)
    kinds = {o.kind for o in desired}
    targets: set[str] = {spec.reference for o in desired for name, spec in model.kinds[o.kind].fields.items()
               if spec.reference and name in o.fields}
    if any(model.kinds[k].family == "stage" for k in kinds):
        targets.add("stage")  # names are unique across stage kinds: check conflicts
    live = await fetch_live(client, model, kinds, targets, options.progress)
    _check_kind_conflicts(desired, model, live)
    desired = resolve_refs(desired, model, live)
    if secrets is None:
        key = env.get(STATE_KEY_ENV) or client.connection.token
        state_path = (options.state_path or default_state_path(paths)) if options.keep_state else None
        secrets = SecretState(key=key.encode(), server=client.connection.display_url, path=state_path)
    result = diff(desired, live, model, secrets, resend_secrets=options.resend_secrets,
                  ignore=options.ignore_changes)
    if result.problems:
        raise PlanError(result.problems)
    try:
        changes = order_changes(result.changes)
    except ValueError as exc:
        members = str(exc).split(" -> ")
        raise PlanError([Problem(o.file, *o.position(), f"reference cycle: {exc}", o.address)
                         for o in desired if o.address in members]) from exc
    plan = Plan(api_version=version, changes=changes, unchanged=result.unchanged,
                server=client.connection.display_url)
    return PlanSession(plan=plan, model=model, live=live, secrets=secrets)


def _check_kind_conflicts(desired: list[DesiredObject], model: ApiModel, live: LiveState) -> None:
    """A stage whose name a live stage of another kind holds cannot be created (the server says
    `stage with this name already exists`, recordings 71, 72): say so at plan time."""
    problems = []
    for obj in desired:
        if obj.state != "present" or model.kinds[obj.kind].family != "stage" or live.get(obj.kind, obj.name):
            continue
        other = live.stage_kind_of(obj.name)
        if other is not None and other != obj.kind:
            problems.append(Problem(obj.file, *obj.position("name"),
                                    f"a live {other} stage already has this name (stage names are unique "
                                    "across kinds); rename one or change the kind", obj.address, "name"))
    if problems:
        raise PlanError(problems)


def plan(paths: list[str | Path], connection: Connection, options: PlanOptions | None = None) -> Plan:
    """Fetch live state and return the plan for the manifests under `paths`."""
    async def run() -> Plan:
        async with Client(connection) as client:
            return (await _make_plan(client, paths, options or PlanOptions())).plan
    return _run(run())


@dataclass(frozen=True)
class ApplyOutcome:
    """What `apply` planned, what it did, and (with `verify`) the plan made right after."""

    plan: Plan
    result: ApplyResult
    verified: Plan | None = None


def apply(paths: list[str | Path], connection: Connection, options: PlanOptions | None = None, *,
          confirm: Callable[[Plan], bool] | None = None, on_change: Callable[[Change], None] | None = None,
          verify: bool = False) -> ApplyOutcome:
    """Plan, ask `confirm` (when given), and apply; with `verify`, plan again on the same
    connection and secret state. Raises `ApplyError` (with the result) when a call fails; the
    result is empty when the plan has no changes or was not confirmed."""
    options = options or PlanOptions()

    async def run() -> ApplyOutcome:
        async with Client(connection) as client:
            session = await _make_plan(client, paths, options)
            if not session.plan.has_changes or (confirm is not None and not confirm(session.plan)):
                return ApplyOutcome(session.plan, ApplyResult(not_applied=list(session.plan.changes)))
            result = await apply_plan(session.plan, client, session.model, session.secrets, on_change)
            verified = (await _make_plan(client, paths, options, session.secrets)).plan if verify else None
            return ApplyOutcome(session.plan, result, verified)
    return _run(run())


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)
