"""What an apply did, change by change: the record the engine returns, the CLI renders and
`--format json` prints. Data only, so rendering it needs no client."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.planning.changes import API_PREFIX, Change
from reconciler.values import JsonObject

__all__ = ["APPLIED", "FAILED", "UNKNOWN_OUTCOME", "NOT_ATTEMPTED", "ChangeOutcome", "ApplyResult"]

APPLIED = "applied"
FAILED = "failed"
UNKNOWN_OUTCOME = "unknown"
NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class ChangeOutcome:
    """What became of one change: its `status` (`applied`, `failed`, `unknown`, `not_attempted`),
    the `error` that ended it (never a secret: the client scrubs them), and a `note` on how it was
    made (found on the server after its answer was lost, sent again)."""

    change: Change
    status: str
    error: str = ""
    note: str = ""
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """The error itself (an `ApiError` with the call and the answer), for chaining."""

    @property
    def data(self) -> JsonObject:
        out: JsonObject = {"action": self.change.action, "address": self.change.address,
                               "method": self.change.method, "path": API_PREFIX + self.change.path}
        if self.status in (FAILED, UNKNOWN_OUTCOME):
            out["error"] = self.error
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class ApplyResult:
    """What an apply did, one outcome per change of the plan, in the plan's order whatever order
    the calls completed in."""

    outcomes: list[ChangeOutcome] = field(default_factory=list)

    def _with(self, status: str) -> list[ChangeOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def applied(self) -> list[Change]:
        return [o.change for o in self._with(APPLIED)]

    @property
    def failed(self) -> list[ChangeOutcome]:
        return self._with(FAILED)

    @property
    def unknown(self) -> list[ChangeOutcome]:
        """Writes that may have been carried out: their answer was lost, or they were in flight
        when the apply was interrupted."""
        return self._with(UNKNOWN_OUTCOME)

    @property
    def not_attempted(self) -> list[Change]:
        return [o.change for o in self._with(NOT_ATTEMPTED)]

    @property
    def ok(self) -> bool:
        return all(o.status == APPLIED for o in self.outcomes)

    @property
    def data(self) -> JsonObject:
        return {"applied": [o.data for o in self._with(APPLIED)], "failed": [o.data for o in self.failed],
                "unknown": [o.data for o in self.unknown],
                "not_attempted": [o.data for o in self._with(NOT_ATTEMPTED)]}

    @classmethod
    def untouched(cls, changes: Sequence[Change]) -> ApplyResult:
        return cls([ChangeOutcome(change, NOT_ATTEMPTED) for change in changes])


