"""The errors a user can act on. The CLI turns each into one message and exit code 1."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ReconcilerError", "Problem", "ManifestError", "ApiError", "PlanError", "ApplyError"]


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


class ApiError(ReconcilerError):
    """A call to authentik failed. Carries the call and the answer; bodies are redacted upstream."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 body: Any = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(message)


class ApplyError(ReconcilerError):
    """An apply stopped on a failed call; `result` says what was and was not applied."""

    def __init__(self, message: str, result: Any) -> None:
        self.result = result
        super().__init__(message)
