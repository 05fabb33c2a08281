"""authentik-reconciler: GitOps for authentik stages, flows and policies.

The Python API mirrors the CLI: `validate_paths`, `plan`, `apply` and `apply_saved` take manifest
paths (or a saved plan) and a `Connection` (whose `transport` may be the sandbox, in-process,
and whose `clock` a test's `Clock`, so retries never sleep);
`export` reads a server into manifests, which `write_export` writes into a folder.
`reconciler.planning.pipeline` holds the planning steps they are made of; the README's
architecture section shows the layers."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.applying.result import ApplyResult, ChangeOutcome
    from reconciler.applying.runner import DEFAULT_PARALLELISM
    from reconciler.cli.rendering import render_json, render_markdown, render_plan, render_text
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
    from reconciler.exporting.entries import Export, ExportFile, ExportOptions, Variable
    from reconciler.exporting.folder import Written, write_export
    from reconciler.manifests.variables import Variables, load_variables
    from reconciler.planning.changes import Change, Create, Delete, FieldChange, Plan, Replace, Update
    from reconciler.planning.planfile import load_plan, save_plan
    from reconciler.server.client import Connection
    from reconciler.server.transport import Clock

__all__ = [
    "ApiError",
    "ApplyError",
    "ApplyOutcome",
    "ApplyResult",
    "Change",
    "ChangeOutcome",
    "Clock",
    "Connection",
    "Create",
    "CycleError",
    "DEFAULT_PARALLELISM",
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
    "Variables",
    "Written",
    "apply",
    "apply_saved",
    "export",
    "load_plan",
    "load_variables",
    "plan",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_text",
    "save_plan",
    "validate_paths",
    "write_export",
]

# The names load on first use (PEP 562), so `reconciler --help` does not import the engine,
# httpx or jsonschema. By module, as imported above for mypy (`__all__` stays a literal: mypy
# reads it for the re-exports).
_EXPORTS = {
    "reconciler.applying.runner": ("DEFAULT_PARALLELISM",),
    "reconciler.applying.result": ("ApplyResult", "ChangeOutcome"),
    "reconciler.server.client": ("Connection",),
    "reconciler.engine": ("ApplyOutcome", "PlanOptions", "apply", "apply_saved", "export", "plan", "validate_paths"),
    "reconciler.errors": ("ApiError", "ApplyError", "CycleError", "ManifestError", "PlanError", "PlanFileError",
                          "Problem", "ReconcilerError", "StalePlanError"),
    "reconciler.exporting.entries": ("Export", "ExportFile", "ExportOptions", "Variable"),
    "reconciler.exporting.folder": ("Written", "write_export"),
    "reconciler.manifests.variables": ("Variables", "load_variables"),
    "reconciler.planning.changes": ("Change", "Create", "Delete", "FieldChange", "Plan", "Replace", "Update"),
    "reconciler.planning.planfile": ("load_plan", "save_plan"),
    "reconciler.cli.rendering": ("render_json", "render_markdown", "render_plan", "render_text"),
    "reconciler.server.transport": ("Clock",),
}
_MODULES = {name: module for module, names in _EXPORTS.items() for name in names}


if not TYPE_CHECKING:  # mypy sees only the names imported above, so `reconciler.typo` stays an error

    def __getattr__(name: str) -> Any:
        if name in _MODULES:
            value = getattr(importlib.import_module(_MODULES[name]), name)
            globals()[name] = value  # loaded once; `mock.patch("reconciler.plan")` replaces it as usual
            return value
        if not name.startswith("_"):  # never `__main__`, which runs the CLI
            # The subpackages (`reconciler.planning`, `reconciler.sandbox`...) load on first use.
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise  # the submodule exists but something it imports does not
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
