"""The jobs, each composed of the pipeline's steps: validate manifests, plan against live state,
apply (planning first, or a saved plan after checking it is not stale), export live state as
manifests. The CLI and the Python API both call these; nothing here prints."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.applying.runner import DEFAULT_PARALLELISM, ApplyResult, ChangeOutcome, apply_plan, check_parallelism
from reconciler.errors import ApplyError, StalePlanError, UnsafePlanError
from reconciler.exporting.entries import Export, ExportOptions, make_export
from reconciler.exporting.scaffold import Scaffold, ScaffoldOptions, example_scaffold, make_scaffold
from reconciler.manifests.desired import DesiredObject
from reconciler.manifests.secrets import FileRule
from reconciler.manifests.variables import Variables
from reconciler.model.kinds import ApiModel
from reconciler.model.live import LiveState
from reconciler.planning import pipeline
from reconciler.planning.changes import Plan
from reconciler.planning.pipeline import PlanOptions
from reconciler.planning.planfile import plan_key, seal, trusted
from reconciler.planning.stale import read_secrets, saved_plan_paths, saved_plan_scope, stale_reasons
from reconciler.repo import repository_root
from reconciler.server.client import Client, Connection
from reconciler.state import StateFile

__all__ = ["Adoption", "ApplyOutcome", "PlanOptions", "validate_paths", "plan", "apply", "apply_saved", "adopt",
           "ExportOptions", "export", "ScaffoldOptions", "new_repository"]


def validate_paths(paths: list[str | Path], api_version: str | None = None,
                   variables: Variables | None = None) -> list[DesiredObject]:
    """Offline: load the manifests, put in the `variables` (`{var: NAME}`) and validate them,
    compiling their Python (also the Python `{file}` sources inside their repository hold); raise
    `ManifestError` with every problem."""
    model = pipeline.model_for(None, api_version)
    return pipeline.validate(pipeline.substitute(pipeline.load(paths), variables or Variables()), model,
                             FileRule(repository_root(paths)))


def plan(paths: list[str | Path], connection: Connection, options: PlanOptions | None = None) -> Plan:
    """Fetch live state and return the plan for the manifests under `paths`, sealed with its keyed
    digest (`RECONCILER_PLAN_KEY`, else the state file's key) so a saved plan edited without the
    key is refused by `apply_saved`."""
    options = options or PlanOptions()

    async def run() -> Plan:
        async with Client(connection) as client:
            session = await pipeline.make_plan(client, paths, options)
            return seal(session.plan, plan_key(options.env, session.secrets.key.decode()))
    return asyncio.run(run())


@dataclass(frozen=True)
class ApplyOutcome:
    """What `apply` planned, what it did, and (with `verify`) the plan made right after."""

    plan: Plan
    result: ApplyResult
    verified: Plan | None = None


Confirm = Callable[[Plan], bool]
Progress = Callable[[ChangeOutcome], None]
"""Called as each change ends (applied, failed, unknown outcome), in the order they end."""


def _for_apply(connection: Connection, parallelism: int) -> Connection:
    """The client's own bound on requests in flight must not be below the apply's."""
    check_parallelism(parallelism)  # before planning: a wrong value is refused before any call
    return replace(connection, max_concurrency=max(connection.max_concurrency, parallelism))


def apply(paths: list[str | Path], connection: Connection, options: PlanOptions | None = None, *,
          confirm: Confirm | None = None, on_change: Progress | None = None, verify: bool = False,
          parallelism: int = DEFAULT_PARALLELISM) -> ApplyOutcome:
    """Plan, ask `confirm` (when given), and apply, at most `parallelism` changes at once (1: one
    after the other, in the plan's order); with `verify`, plan again on the same connection and
    secret state. Raises `ApplyError` (with the result and the plan) when the apply does not make
    every change; the result is empty when the plan has no changes, and every change is not
    attempted when it was not confirmed."""
    options = options or PlanOptions()

    async def run() -> ApplyOutcome:
        async with Client(_for_apply(connection, parallelism)) as client:
            session = await pipeline.make_plan(client, paths, options)
            result = await _carry_out(session.plan, session.plan, client, session.model, session.live,
                                      session.secrets, confirm, on_change, parallelism)
            verified = (await pipeline.make_plan(client, paths, options, session.secrets)).plan \
                if verify and result.applied else None
            return ApplyOutcome(session.plan, result, verified)
    return asyncio.run(run())


def apply_saved(saved: Plan, connection: Connection, options: PlanOptions | None = None, *,
                confirm: Confirm | None = None, on_change: Progress | None = None,
                plan_file: Path | None = None, parallelism: int = DEFAULT_PARALLELISM) -> ApplyOutcome:
    """Apply exactly a saved plan. Before any call, check its keyed digest (`RECONCILER_PLAN_KEY`,
    else `RECONCILER_STATE_KEY` or the token) and that it holds no secret in clear: a
    `PlanFileError` otherwise. Before the first write, read again the live objects it touches
    (one list call per kind) and raise `StalePlanError` with every reason when the server, its
    version, the fingerprint key, a touched object, an object to create or a secret's value has
    changed since the plan: a refused plan makes no write. `plan_file` is where the plan was read
    from: the state file is looked for from there. `parallelism` as for `apply`."""
    options = options or PlanOptions()
    saved = trusted(saved, plan_key(options.env, connection.token), plan_file)

    async def run() -> ApplyOutcome:
        async with Client(_for_apply(connection, parallelism)) as client:
            server_version = await client.version()
            model = pipeline.model_for(server_version, None)
            # The state file: --state, the one the plan names, else the nearest from the plan file.
            secrets = pipeline.open_state(client, options, [plan_file] if plan_file else [],
                                            recorded=saved.state_file)
            live = await pipeline.fetch(client, model, saved_plan_paths(saved, model) if saved.api_version ==
                                        model.version else set(), options.progress, saved_plan_scope(saved))
            files = options.file_rule([])
            reasons = stale_reasons(saved, live, model, secrets, server=connection.display_url,
                                    server_version=server_version, files=files)
            if reasons:
                raise StalePlanError(reasons)
            guarded = pipeline.guarded_deletes(saved.changes, live, model) if saved.guarded and not saved.forced else []
            if guarded:  # a brand may have taken up a flow since the plan
                raise UnsafePlanError([reason for reason, _ in guarded],
                                      [f"{change.action} {change.address}" for _, change in guarded],
                                      advice="plan again with --force to accept it")
            checked, reasons = read_secrets(saved, live, model, secrets, options.env, files)
            if reasons:
                raise StalePlanError(reasons)
            return ApplyOutcome(saved, await _carry_out(saved, checked, client, model, live, secrets, confirm,
                                                        on_change, parallelism))
    return asyncio.run(run())


async def _carry_out(plan: Plan, ready: Plan, client: Client, model: ApiModel, live: LiveState, secrets: StateFile,
                     confirm: Confirm | None, on_change: Progress | None, parallelism: int) -> ApplyResult:
    """Confirm `plan`, own what it describes, and make the calls of `ready` (the same plan with its
    secrets read); an empty result when it has nothing to do, nothing attempted when it was not
    confirmed. An `ApplyError` leaves with the plan it was applying."""
    if confirm is not None and plan.has_changes and not confirm(plan):
        return ApplyResult.untouched(plan.changes)
    record_ownership(plan, secrets, live, model)
    secrets.mark_applied(datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    if not plan.has_changes:
        secrets.save()
        return ApplyResult()
    try:
        return await apply_plan(ready, client, model, secrets, on_change, parallelism)
    except ApplyError as exc:
        exc.plan = plan
        raise


def record_ownership(plan: Plan, secrets: StateFile, live: LiveState, model: ApiModel,
                     existing_only: bool = False) -> None:
    """The objects a plan's manifests describe become the repository's (the objects the apply
    creates get their ids as it creates them, and those it deletes are dropped); records of
    objects gone from the server (deleted by hand, or in a cascade) are dropped too."""
    for owned in plan.owns:
        if owned.id is not None or not existing_only:
            secrets.own(owned.address, owned.kind, owned.id, owned.file)
    secrets.disown_objects(pipeline.gone(secrets.owned(), live, model))


@dataclass(frozen=True)
class Adoption:
    """What `adopt` recorded: the objects now owned, and those the manifests describe that do not
    exist yet (an apply creates them, and then owns them)."""

    plan: Plan
    adopted: tuple[str, ...]
    missing: tuple[str, ...]


def adopt(paths: list[str | Path], connection: Connection, options: PlanOptions | None = None) -> Adoption:
    """Record as owned every live object the manifests describe, without a call that writes: from
    then on, `--prune` deletes them once the manifests leave them out."""
    options = replace(options or PlanOptions(), prune=False, force=True)  # no write: no threshold to guard

    async def run() -> Adoption:
        async with Client(connection) as client:
            session = await pipeline.make_plan(client, paths, options)
            before = set(session.secrets.owned())
            record_ownership(session.plan, session.secrets, session.live, session.model, existing_only=True)
            session.secrets.save()
            described = {o.address for o in session.plan.owns if o.id is not None}
            missing = tuple(c.address for c in session.plan.changes if c.action == "create")
            return Adoption(session.plan, tuple(sorted(described - before)), missing)
    return asyncio.run(run())


def export(connection: Connection, options: ExportOptions | None = None) -> Export:
    """Read live state and return it as manifests (both layouts, and the variables they read);
    `reconciler.write_export` (exporting/folder.py) writes them into a folder."""
    async def run() -> Export:
        async with Client(connection) as client:
            return await make_export(client, options or ExportOptions())
    return asyncio.run(run())



def new_repository(connection: Connection | None, options: ScaffoldOptions,
                   api_version: str | None = None) -> Scaffold:
    """The files of a new config repository (`reconciler init`): the login flow of the server
    `connection` reaches, as manifests that plan no change, or the example when it is None."""
    if connection is None:
        return example_scaffold(options, api_version)
    server = connection

    async def run() -> Scaffold:
        async with Client(server) as client:
            return await make_scaffold(client, options, api_version)
    return asyncio.run(run())
