"""Secrets: `{env: VAR}` and `{file: PATH}` values resolved at plan time, and every sensitive value
wrapped in `Secret` so that no output can show it."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.apimodel import ApiModel
from reconciler.desired import DesiredObject
from reconciler.errors import PlanError, Problem
from reconciler.values import Secret

__all__ = ["resolve_secrets", "is_secret_source"]


def is_secret_source(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("env" in value or "file" in value)


def _read(obj: DesiredObject, field: str, source: dict[str, str], environ: Mapping[str, str],
          problems: list[Problem]) -> Secret | None:
    line, column = obj.position(field)
    if "env" in source:
        name = source["env"]
        if name not in environ:
            problems.append(Problem(obj.file, line, column, f"environment variable {name} is not set",
                                    obj.address, field))
            return None
        return Secret(environ[name], origin=f"env:{name}")
    path = Path(obj.file).parent / source["file"]
    try:
        # A trailing newline is how editors and `echo` end files; it is never part of the secret.
        return Secret(path.read_text(encoding="utf-8").rstrip("\r\n"), origin=f"file:{source['file']}")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc.__class__.__name__)
        problems.append(Problem(obj.file, line, column, f"cannot read secret file {path}: {reason}",
                                obj.address, field))
        return None


def resolve_secrets(desired: list[DesiredObject], model: ApiModel,
                    environ: Mapping[str, str] | None = None) -> list[DesiredObject]:
    """Read every `{env}`/`{file}` value and wrap every sensitive field in `Secret`; a missing
    variable or file is a `PlanError` at its `file:line:column`."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    resolved: list[DesiredObject] = []
    for obj in desired:
        if obj.state == "absent":
            resolved.append(obj)  # only deleted: its values are never sent, so never read
            continue
        kind = model.kinds[obj.kind]
        sensitive = kind.sensitive_fields
        fields: dict[str, Any] = {}
        for name, value in obj.fields.items():
            spec = kind.fields.get(name)
            # {env}/{file} stand for strings; in an object field (fixed_data) a mapping is data.
            if spec is not None and spec.type == "string" and is_secret_source(value):
                fields[name] = _read(obj, name, value, env, problems)
            elif name in sensitive and value is not None:
                fields[name] = Secret(value)
            else:
                fields[name] = value
        resolved.append(replace(obj, fields=fields))
    if problems:
        raise PlanError(problems)
    return resolved
