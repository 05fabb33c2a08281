"""authentik-reconciler: GitOps for authentik stages, flows and policies.

The Python API mirrors the CLI: `validate_paths`, `plan`, `apply` and `apply_saved` take manifest
paths (or a saved plan) and a `Connection` (whose `transport` may be the sandbox, in-process,
and whose `clock` a test's `Clock`, so retries never sleep);
`export` reads a server into manifests, which `write_export` writes into a folder.
`reconciler.pipeline` holds the planning steps they are made of."""
from __future__ import annotations

from reconciler.apply import ApplyResult
from reconciler.client import Connection
from reconciler.engine import ApplyOutcome, PlanOptions, apply, apply_saved, export, plan, validate_paths
from reconciler.errors import (
    ApiError,
    ApplyError,
    CycleError,
    ManifestError,
    PlanError,
    PlanFileError,
    Problem,
    ReconcilerError,
    StalePlanError,
)
from reconciler.export import Export, ExportFile, ExportOptions, Variable
from reconciler.exportdir import Written, write_export
from reconciler.plan import Change, Create, Delete, FieldChange, Plan, Replace, Update
from reconciler.planfile import load_plan, save_plan
from reconciler.render import render_json, render_markdown, render_plan, render_text
from reconciler.transport import Clock

__all__ = [
    "ApiError",
    "ApplyError",
    "ApplyOutcome",
    "ApplyResult",
    "Change",
    "Clock",
    "Connection",
    "Create",
    "CycleError",
    "Delete",
    "Export",
    "ExportFile",
    "ExportOptions",
    "FieldChange",
    "ManifestError",
    "Plan",
    "PlanError",
    "PlanFileError",
    "PlanOptions",
    "Problem",
    "ReconcilerError",
    "Replace",
    "StalePlanError",
    "Update",
    "Variable",
    "Written",
    "apply",
    "apply_saved",
    "export",
    "load_plan",
    "plan",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_text",
    "save_plan",
    "validate_paths",
    "write_export",
]
