"""Applying a plan: one call per change, in the plan's order, stopping at the first failure with
an exact account of what was and was not applied."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.apimodel import ApiModel
from reconciler.client import Client
from reconciler.errors import ApiError, ApplyError, ReconcilerError
from reconciler.plan import Change, Create, Delete, Plan, secrets_in
from reconciler.state import SecretState
from reconciler.values import Ref, Secret, plain

__all__ = ["ApplyResult", "apply_plan"]

log = logging.getLogger(__name__)


@dataclass
class ApplyResult:
    """What an apply did: `applied` in order, the change that `failed` (if any) and the ones that
    were `not_applied` because of it."""

    applied: list[Change] = field(default_factory=list)
    failed: Change | None = None
    error: str = ""
    not_applied: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None


def _fill_ids(value: Any, created: dict[tuple[str, str], str]) -> Any:
    """References to objects created earlier in this apply get the ids the server gave them."""
    if isinstance(value, Ref) and value.pk is None and value.key is not None:
        return Ref(value.target, value.key, created.get((value.target, value.key)))
    if isinstance(value, list):
        return [_fill_ids(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _fill_ids(v, created) for k, v in value.items()}
    return value


async def apply_plan(plan: Plan, client: Client, model: ApiModel, secrets: SecretState,
                     progress: Callable[[Change], None] | None = None) -> ApplyResult:
    """Make every call of `plan`; record fingerprints of the write-only values sent. Raises
    `ApplyError` carrying the `ApplyResult` when a call fails."""
    result = ApplyResult()
    created: dict[tuple[str, str], str] = {}
    for change in plan.changes:
        client.add_secrets(secrets_in(change.body()))
    try:
        await _apply_changes(plan, client, model, secrets, progress, result, created)
    except ApplyError:
        try:
            secrets.save()  # keep the fingerprints of what was applied before the failure
        except ReconcilerError as exc:
            log.error("%s", exc)
        raise
    try:
        secrets.save()
    except ReconcilerError as exc:
        raise ApplyError(f"every change was applied, but {exc}", result) from exc
    return result


async def _apply_changes(plan: Plan, client: Client, model: ApiModel, secrets: SecretState,
                         progress: Callable[[Change], None] | None, result: ApplyResult,
                         created: dict[tuple[str, str], str]) -> None:
    for index, change in enumerate(plan.changes):
        if progress:
            progress(change)
        body = _fill_ids(change.body(), created)
        try:
            answer = await client.request(change.method, change.path,
                                          body=None if body is None else plain(body))
        except ApiError as exc:
            result.failed = change
            result.error = str(exc)
            result.not_applied = list(plan.changes[index + 1:])
            raise ApplyError(f"{change.address}: {exc}", result) from exc
        result.applied.append(change)
        kind = model.kinds[change.kind]
        pk = str(answer["pk"]) if isinstance(change, Create) and isinstance(answer, dict) else change.pk
        target = model.target_of(kind)
        if isinstance(change, Create) and target is not None:
            created[(target, change.name)] = pk
        if isinstance(change, Delete):
            secrets.forget(change.address)
        elif body is not None:
            for name in kind.write_only_fields & set(body):
                value = body[name]
                secrets.record(change.address, pk, name, value.reveal() if isinstance(value, Secret) else value)
        log.info("%s %s: %s %s", change.action, change.address, change.method, change.path)
