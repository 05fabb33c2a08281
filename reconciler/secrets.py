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

__all__ = ["resolve_secrets", "is_secret_source", "read_source", "SourceError"]


def is_secret_source(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("env" in value or "file" in value)


class SourceError(Exception):
    """A secret source that cannot be read: the message names the variable or file, never a value."""


def read_source(source: dict[str, str], environ: Mapping[str, str]) -> Secret:
    """The secret a source names: `{"env": NAME}` or `{"file": PATH}` (a path as the process sees
    it). The same reading serves planning and the apply of a saved plan."""
    if "env" in source:
        name = source["env"]
        if name not in environ:
            raise SourceError(f"environment variable {name} is not set")
        return Secret(environ[name], source={"env": name})
    path = Path(source["file"])
    try:
        # A trailing newline is how editors and `echo` end files; it is never part of the secret.
        return Secret(path.read_text(encoding="utf-8").rstrip("\r\n"), source={"file": str(path)})
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc.__class__.__name__)
        raise SourceError(f"cannot read secret file {path}: {reason}") from exc


def _from_here(path: Path) -> str:
    """A path as seen from the working folder (where a saved plan is applied from), when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _read(obj: DesiredObject, field: str, source: dict[str, str], environ: Mapping[str, str],
          problems: list[Problem]) -> Secret | None:
    if "file" in source:  # relative to the manifest that names it; recorded relative to here
        source = {"file": _from_here(Path(obj.file).parent / source["file"])}
    try:
        return read_source(source, environ)
    except SourceError as exc:
        problems.append(Problem(obj.file, *obj.position(field), str(exc), obj.address, field))
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
