"""Applying a plan: one call per change, in the plan's order, stopping at the first failure with
an exact account of what was applied, what failed, what has an unknown outcome (a write whose
answer never came) and what was not attempted."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.apimodel import ApiModel
from reconciler.client import Client
from reconciler.errors import ApiError, ApplyError, ReconcilerError
from reconciler.plan import Change, Create, Delete, Plan, with_values
from reconciler.state import SecretState
from reconciler.values import Ref, Secret, plain, secrets_in, walk

__all__ = ["ApplyResult", "apply_plan"]

log = logging.getLogger(__name__)


@dataclass
class ApplyResult:
    """What an apply did: `applied` in order; the change that `failed` (if any), or whose outcome
    is `unknown` (the server may have acted: its answer was lost, or the apply was interrupted
    while waiting for it); and the ones `not_applied` because of it."""

    applied: list[Change] = field(default_factory=list)
    failed: Change | None = None
    unknown: Change | None = None
    error: str = ""
    not_applied: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None and self.unknown is None

    @property
    def data(self) -> dict[str, Any]:
        def names(changes: list[Change]) -> list[dict[str, Any]]:
            return [{"action": c.action, "address": c.address, "method": c.method, "path": "/api/v3" + c.path}
                    for c in changes]

        return {"applied": names(self.applied), "failed": names([self.failed] if self.failed else []),
                "unknown": names([self.unknown] if self.unknown else []), "not_applied": names(self.not_applied),
                "error": self.error}


def _with_ids(change: Change, created: dict[str, Any]) -> Change:
    """References to objects created earlier in this apply get the ids the server gave them."""
    def leaf(value: Secret | Ref) -> Any:
        if isinstance(value, Ref) and value.pk is None and value.address in created:
            return Ref(value.target, value.key, created[value.address], value.address)
        return value

    return with_values(change, lambda value: walk(value, leaf))


async def apply_plan(plan: Plan, client: Client, model: ApiModel, secrets: SecretState,
                     progress: Callable[[Change], None] | None = None) -> ApplyResult:
    """Make every call of `plan`; record fingerprints of the write-only values sent. Raises
    `ApplyError` carrying the `ApplyResult` when a call fails or the apply is interrupted."""
    result = ApplyResult()
    for change in plan.changes:
        client.add_secrets(secrets_in(change.body()))
    try:
        await _apply_changes(plan, client, model, secrets, progress, result)
    except ApplyError:
        secrets.disown_ids({str(c.id) for c in result.applied if isinstance(c, Delete)})
        try:
            secrets.save()  # keep the fingerprints of what was applied before the failure
        except ReconcilerError as exc:
            log.error("%s", exc)
        raise
    secrets.disown_ids({str(c.id) for c in result.applied if isinstance(c, Delete)})
    try:
        secrets.save()
    except ReconcilerError as exc:
        raise ApplyError(f"every change was applied, but {exc}", result) from exc
    return result


async def _apply_changes(plan: Plan, client: Client, model: ApiModel, secrets: SecretState,
                         progress: Callable[[Change], None] | None, result: ApplyResult) -> None:
    created: dict[str, Any] = {}
    for index, planned in enumerate(plan.changes):
        if progress:
            progress(planned)
        change = _with_ids(planned, created)
        kind = model.kinds[change.kind]
        body = change.body()
        try:
            answer = await client.request(change.method, change.path, body=None if body is None else plain(body))
        except ApiError as exc:
            result.error = str(exc)
            if exc.outcome_unknown:
                result.unknown = planned
            else:
                result.failed = planned
            result.not_applied = list(plan.changes[index + 1:])
            raise ApplyError(f"{change.address}: {exc}", result) from exc
        except asyncio.CancelledError:
            # Ctrl-C while the call was in flight: the server may or may not have acted.
            result.unknown = planned
            result.error = "interrupted"
            result.not_applied = list(plan.changes[index + 1:])
            raise ApplyError("interrupted", result, interrupted=True) from None
        result.applied.append(planned)
        pk = answer.get(kind.id_field) if isinstance(change, Create) and isinstance(answer, dict) else change.id
        if isinstance(change, Create):
            created[change.address] = pk
            secrets.own(change.address, change.kind, pk)  # what the repository creates, it owns
        if isinstance(change, Delete):
            secrets.forget(change.address)
        elif body is not None:
            for name in kind.write_only_fields & set(body):
                value = body[name]
                secrets.record(change.address, str(pk), name, value.reveal() if isinstance(value, Secret) else value)
        log.info("%s %s: %s %s", change.action, change.address, change.method, change.path)
