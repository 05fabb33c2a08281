"""authentik-reconciler: GitOps for authentik stages.

The Python API mirrors the CLI: `validate_paths`, `plan` and `apply` take manifest paths and a
`Connection` (whose `transport` may be the sandbox, in-process)."""
from __future__ import annotations

from reconciler.apply import ApplyResult
from reconciler.client import Connection
from reconciler.engine import ApplyOutcome, PlanOptions, apply, plan, validate_paths
from reconciler.errors import (
    ApiError,
    ApplyError,
    ManifestError,
    PlanError,
    Problem,
    ReconcilerError,
)
from reconciler.plan import Change, Create, Delete, FieldChange, Plan, Replace, Update
from reconciler.render import render_json, render_markdown, render_plan, render_text

__all__ = [
    "ApiError",
    "ApplyOutcome",
    "ApplyError",
    "ApplyResult",
    "Change",
    "Connection",
    "Create",
    "Delete",
    "FieldChange",
    "ManifestError",
    "Plan",
    "PlanError",
    "PlanOptions",
    "Problem",
    "ReconcilerError",
    "Replace",
    "Update",
    "apply",
    "plan",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_text",
    "validate_paths",
]
