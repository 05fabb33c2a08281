"""The errors a user can act on. The CLI turns each into one message and exit code 1."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ReconcilerError", "Problem", "ManifestError", "ApiError", "PlanError", "ApplyError", "CycleError",
           "PlanFileError", "StalePlanError", "UnsafePlanError"]


class ReconcilerError(Exception):
    """Base of every error the tool reports without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, located at `file:line:column`."""

    file: str
    line: int
    column: int
    message: str
    subject: str = ""  # "kind/name", when the problem belongs to an object
    field: str = ""

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:{self.column}"]
        if self.subject:
            parts.append(self.subject)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ManifestError(ReconcilerError):
    """Every problem found in the manifests, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class PlanError(ManifestError):
    """Problems that only show against live state (missing required field, unresolved reference)."""


class CycleError(ReconcilerError):
    """Changes that each wait for the next: a reference cycle among objects to create."""

    def __init__(self, members: tuple[str, ...]) -> None:
        self.members = members
        super().__init__("reference cycle: " + " -> ".join(members))


class PlanFileError(ReconcilerError):
    """A saved plan that cannot be read: not JSON, another format, or a malformed change."""


class StalePlanError(ReconcilerError):
    """A saved plan that no longer describes the server: every reason, each naming the object
    and field (or the variable or file of a secret, never its value). Nothing was called."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(f"the saved plan is stale, nothing was applied ({len(reasons)} "
                         f"reason{'s' if len(reasons) != 1 else ''}):\n" + "\n".join(f"  {r}" for r in reasons))


class UnsafePlanError(ReconcilerError):
    """A plan over the repository's safety thresholds (octoDNS's `raise_if_unsafe`): too many
    deletes, or a flow a brand uses. `changes` lists what it would delete or replace and why;
    `--force` accepts it."""

    def __init__(self, reasons: list[str], changes: list[str], advice: str = "pass --force to accept it") -> None:
        self.reasons = reasons
        self.changes = changes
        super().__init__(f"the plan is unsafe, nothing was applied; {advice}:\n"
                         + "\n".join(f"  {reason}" for reason in reasons)
                         + "".join(f"\n    {change}" for change in changes))


class ApiError(ReconcilerError):
    """A call to authentik failed. Carries the call and the answer; bodies are redacted upstream."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 body: Any = None, outcome_unknown: bool = False) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.outcome_unknown = outcome_unknown
        """A write that may have reached the server, whose answer never came."""
        super().__init__(message)


class ApplyError(ReconcilerError):
    """An apply stopped on a failed call, a lost answer, an interruption or an internal error
    (`internal`: chained to the exception); `result` says what was applied, what failed or has an
    unknown outcome, and what was not attempted; `plan` the plan it applied (set by the engine)."""

    def __init__(self, message: str, result: Any, *, interrupted: bool = False, internal: bool = False,
                 plan: Any = None) -> None:
        self.result = result
        self.interrupted = interrupted
        self.internal = internal
        self.plan = plan
        super().__init__(message)
