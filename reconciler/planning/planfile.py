"""Saved plans on disk: `plan --out FILE` writes one, `show` and `apply --plan` read it back.
A saved plan holds no secret value, so a secret written in a manifest (not as `{env}` or
`{file}`) cannot be saved: the error says which object and field."""
from __future__ import annotations

import json
from pathlib import Path

from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.planning.changes import Plan
from reconciler.values import Secret

__all__ = ["save_plan", "load_plan", "MAX_PLAN_BYTES"]

MAX_PLAN_BYTES = 64 * 1024 * 1024
"""A saved plan of 10,000 changes is a few MB; anything far larger is not a plan."""


def _inline_secrets(plan: Plan) -> list[str]:
    found = []
    for change in plan.changes:
        for name, value in (change.body() or {}).items():
            if isinstance(value, Secret) and value.source is None:
                found.append(f"{change.address}: {name}")
    return found


def save_plan(plan: Plan, path: Path) -> None:
    """Write `plan` as JSON, atomically; refuse one that would need a secret's value."""
    inline = _inline_secrets(plan)
    if inline:
        raise ReconcilerError("cannot save the plan: these secrets are written in the manifests, and a saved "
                              "plan never holds a secret value; write them as {env: VAR} or {file: PATH}: "
                              + ", ".join(inline))
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(plan.data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from exc


def load_plan(path: Path) -> Plan:
    """Read a saved plan; anything else (missing, too big, not JSON, malformed) is one error
    naming the file."""
    try:
        if not path.is_file():
            raise PlanFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{path}: larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB, not a saved plan")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: not a saved plan (invalid JSON: {exc})") from exc
    except RecursionError as exc:
        raise PlanFileError(f"{path}: not a saved plan (nested too deeply)") from exc
    try:
        return Plan.from_data(data)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from exc
    except RecursionError as exc:
        raise PlanFileError(f"{path}: not a saved plan (nested too deeply)") from exc
