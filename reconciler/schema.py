"""Offline validation of manifests against the JSON Schema generated for an API version.

The real server silently drops unknown fields (FINDINGS 2023.10.7 [67, 70]), so a typo would
never be noticed: here unknown and read-only fields are errors, with a suggestion."""
from __future__ import annotations

import datetime
import difflib
import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from reconciler.apimodel import ApiModel, schema_dir
from reconciler.desired import DesiredObject
from reconciler.errors import ManifestError, Problem
from reconciler.manifest import RawObject

__all__ = ["validate", "manifest_schema"]

JSON_TYPES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
              float: "a number", type(None): "null", datetime.date: "a date (quote it to make it a string)",
              datetime.datetime: "a date and time (quote it to make it a string)"}


@cache
def manifest_schema(version: str) -> dict[str, Any]:
    """The published manifest JSON Schema of `version` (also what editors use)."""
    data: dict[str, Any] = json.loads((schema_dir() / f"manifest-{version}.schema.json").read_text())
    return data


@cache
def _kind_validator(version: str, kind: str) -> Draft202012Validator:
    schema = manifest_schema(version)
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"})


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _what(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
    return by_branch


def _describe(error: ValidationError) -> str:
    """One plain sentence for a schema error, not jsonschema's repr of the schema."""
    value: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "anyOf":
        branches = _branches(error)
        options = schema.get("anyOf", [])
        for index, option in enumerate(options):
            if index not in branches:
                continue
            takes_object = _accepts_object(option)
            if isinstance(value, dict) == takes_object and option.get("type") != "null" \
                    and (takes_object or _type_ok(value, option)):
                # Explain against the branch meant for this shape of value.
                return _describe(min(branches[index],
                                     key=lambda e: (e.validator != "additionalProperties", len(e.path))))
        return f"expected {_shape(schema)}, got {_what(value)}"
    if error.validator == "oneOf" and isinstance(value, dict):
        return "expected {env: VARIABLE} or {file: PATH}"
    if error.validator == "type":
        return f"expected {_shape(schema)}, got {_what(value)}"
    if error.validator == "enum":
        return f"{json.dumps(value)} is not one of {', '.join(json.dumps(v) for v in schema['enum'])}"
    if error.validator == "minLength":
        return "must not be empty" if schema["minLength"] == 1 else \
            f"must be at least {schema['minLength']} characters"
    if error.validator == "maxLength":
        return f"must be at most {schema['maxLength']} characters (has {len(value)})"
    if error.validator == "pattern":
        return f"{json.dumps(value)} does not match {schema['pattern']}"
    if error.validator == "uniqueItems":
        return "lists the same item twice (the server keeps this list as a set)"
    if error.validator == "minimum":
        return f"must be at least {schema['minimum']}"
    if error.validator == "maximum":
        return f"must be at most {schema['maximum']}"
    if error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return f"unknown key {extra[0]!r} (expected {' or '.join(allowed)})"
    if error.validator == "required":
        missing = [key for key in schema.get("required", []) if key not in value]
        return f"missing key {missing[0]!r}" if missing else error.message
    return error.message


def _accepts_object(schema: dict[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(_accepts_object(option) for option in schema["anyOf"])
    return schema.get("type") == "object" or "oneOf" in schema


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(_type_ok(value, option) for option in schema["anyOf"])
    expected = schema.get("type")
    checks = {"string": str, "array": list, "boolean": bool, "object": dict}
    if expected in checks:
        return isinstance(value, checks[expected])
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _shape(schema: dict[str, Any]) -> str:
    """How a schema reads to a person: `a string`, `a reference like {flow: SLUG}`, ..."""
    if "anyOf" in schema:
        return " or ".join(s for s in (_shape(o) for o in schema["anyOf"]) if s)
    if "oneOf" in schema:
        return "{env: VARIABLE} or {file: PATH}"
    kind = schema.get("type")
    if kind == "object" and "required" in schema:
        target = schema["required"][0]
        return f"a reference like {{{target}: ...}}"
    if schema.get("format") == "uuid":
        return "a UUID"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
             "array": "a list", "object": "a mapping", "null": "null"}
    return names.get(str(kind), "")


def _field_label(path: list[str | int]) -> str:
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label


def _check_object(raw: RawObject, model: ApiModel, problems: list[Problem]) -> bool:
    data = raw.data
    subject = raw.subject

    def problem(path: tuple[str | int, ...], message: str, field: str = "") -> None:
        problems.append(Problem(raw.file, *raw.position_of(path), message, subject, field))

    kind_name = data.get("kind")
    if "kind" not in data:
        problem((), "missing 'kind'")
    elif not isinstance(kind_name, str) or kind_name not in model.kinds:
        problem(("kind",), f"unknown kind {json.dumps(kind_name)}{_suggest(str(kind_name), list(model.kinds))} "
                f"for authentik {model.version}", "kind")
    if "name" not in data:
        problem((), "missing 'name'")
    elif not isinstance(data["name"], str) or not data["name"]:
        problem(("name",), "must be a non-empty string", "name")
    if not isinstance(kind_name, str) or kind_name not in model.kinds:
        return False
    kind = model.kinds[kind_name]
    properties = manifest_schema(model.version)["$defs"][kind_name]["properties"]
    checked = dict(data)
    for key in data:
        if key in properties:
            continue
        del checked[key]
        if key in kind.read_only:
            problem((key,), "read-only field: the server sets it, remove it from the manifest", key)
        else:
            problem((key,), f"unknown field{_suggest(key, list(properties))}", key)
    ok = len(problems) == 0
    for error in sorted(_kind_validator(model.version, kind_name).iter_errors(checked),
                        key=lambda e: list(map(str, e.path))):
        if error.validator == "additionalProperties" and not error.path:
            continue  # reported above, with a suggestion
        if list(error.absolute_path)[:1] == ["name"]:
            continue  # reported above
        path = list(error.absolute_path)
        label = _field_label(path)
        problem(tuple(path), _describe(error), label)
        ok = False
    if data.get("ignore_changes") and isinstance(data["ignore_changes"], list):
        for index, name in enumerate(data["ignore_changes"]):
            if name in data and isinstance(name, str):
                problem(("ignore_changes", index), f"{name!r} is both set and ignored", "ignore_changes")
                ok = False
    return ok


def validate(raws: list[RawObject], model: ApiModel) -> list[DesiredObject]:
    """Validate every object and return them as desired objects; raise `ManifestError` with every
    problem at once (schema errors, unknown fields, duplicate names)."""
    problems: list[Problem] = []
    valid: list[RawObject] = []
    for raw in raws:
        local: list[Problem] = []
        if _check_object(raw, model, local):
            valid.append(raw)
        problems.extend(local)
    seen: dict[tuple[str, str], RawObject] = {}
    for raw in raws:
        if not (isinstance(raw.data.get("kind"), str) and raw.data["kind"] in model.kinds
                and isinstance(raw.data.get("name"), str)):
            continue
        family = model.kinds[raw.data["kind"]].family
        key = (family, raw.data["name"])
        if key in seen:
            first = seen[key]
            line, column = first.position_of(("name",))
            scope = " (stage names are unique across all stage kinds)" if family == "stage" else ""
            problems.append(Problem(raw.file, *raw.position_of(("name",)),
                                    f"duplicate name: {first.subject} at {first.file}:{line}:{column} has it too"
                                    f"{scope}", raw.subject, "name"))
        else:
            seen[key] = raw
    if problems:
        raise ManifestError(problems)
    return [DesiredObject.from_raw(raw) for raw in valid]
