"""authentik-reconciler: GitOps for authentik stages, flows and policies.

The Python API mirrors the CLI: `validate_paths`, `plan`, `apply` and `apply_saved` take manifest
paths (or a saved plan) and a `Connection` (whose `transport` may be the sandbox, in-process,
and whose `clock` a test's `Clock`, so retries never sleep);
`export` reads a server into manifests, which `write_export` writes into a folder.
`reconciler.pipeline` holds the planning steps they are made of."""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.apply import DEFAULT_PARALLELISM
    from reconciler.applyresult import ApplyResult, ChangeOutcome
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

# The names load on first use (PEP 562), so `reconciler --help` does not import the engine,
# httpx or jsonschema. By module, as imported above for mypy (`__all__` stays a literal: mypy
# reads it for the re-exports).
_EXPORTS = {
    "reconciler.apply": ("DEFAULT_PARALLELISM",),
    "reconciler.applyresult": ("ApplyResult", "ChangeOutcome"),
    "reconciler.client": ("Connection",),
    "reconciler.engine": ("ApplyOutcome", "PlanOptions", "apply", "apply_saved", "export", "plan", "validate_paths"),
    "reconciler.errors": ("ApiError", "ApplyError", "CycleError", "ManifestError", "PlanError", "PlanFileError",
                          "Problem", "ReconcilerError", "StalePlanError"),
    "reconciler.export": ("Export", "ExportFile", "ExportOptions", "Variable"),
    "reconciler.exportdir": ("Written", "write_export"),
    "reconciler.plan": ("Change", "Create", "Delete", "FieldChange", "Plan", "Replace", "Update"),
    "reconciler.planfile": ("load_plan", "save_plan"),
    "reconciler.render": ("render_json", "render_markdown", "render_plan", "render_text"),
    "reconciler.transport": ("Clock",),
}
_MODULES = {name: module for module, names in _EXPORTS.items() for name in names}


# `plan`, `apply` and `export` are also submodules: importing one sets the package attribute to
# the module. The eager import of old overwrote them with the functions; the properties below keep
# that, however the submodules were imported.
_SHADOWED = ("plan", "apply", "export")
_OVERRIDES: dict[str, Any] = {}
"""Values assigned to a shadowed name by anything but the import system (`mock.patch`)."""


def _load(name: str) -> Any:
    return getattr(importlib.import_module(_MODULES[name]), name)


if not TYPE_CHECKING:  # mypy sees only the names imported above, so `reconciler.typo` stays an error

    def __getattr__(name: str) -> Any:
        if name in _MODULES:
            value = _load(name)
            if name not in _SHADOWED:
                globals()[name] = value
            return value
        if not name.startswith("_"):  # never `__main__`, which runs the CLI
            # The submodules (`reconciler.pipeline`, `reconciler.client`...) were attributes when
            # the package imported them eagerly, and the README points at them: import on first use.
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise  # the submodule exists but something it imports does not
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module, whose `plan`/`apply`/`export` are the functions, not the submodules."""


def _function(name: str) -> property:
    submodule = f"{__name__}.{name}"

    def get(_package: types.ModuleType) -> Any:
        return _OVERRIDES[name] if name in _OVERRIDES else _load(name)

    def set_(_package: types.ModuleType, value: Any) -> None:
        """The import system sets the submodule as the package's attribute: the function stays.
        Anything else (`mock.patch("reconciler.plan")`) replaces the function until deleted."""
        if isinstance(value, types.ModuleType) and value.__name__ == submodule:
            return
        _OVERRIDES[name] = value

    def delete(_package: types.ModuleType) -> None:
        _OVERRIDES.pop(name, None)

    return property(get, set_, delete)


for _name in _SHADOWED:
    setattr(_Package, _name, _function(_name))
sys.modules[__name__].__class__ = _Package
