"""Offline validation of manifests against the JSON Schema generated for an API version.

The real server silently drops unknown fields (FINDINGS 2023.10.7 [67, 70]), so a typo would
never be noticed: here unknown and read-only fields are errors, with a suggestion."""
from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from reconciler.errors import ManifestError, Problem
from reconciler.manifests.compiled import FORMATS, Check, compile_check
from reconciler.manifests.desired import DesiredObject, expand
from reconciler.manifests.expressions import expression_problems
from reconciler.manifests.reading import KeyPath, Manifests, RawObject
from reconciler.manifests.scalars import ScalarLocator
from reconciler.manifests.secrets import FileRule, file_python_problems
from reconciler.model.kinds import ApiModel, Kind, known_versions, load_model, schema_dir
from reconciler.values import Json, JsonObject, Ref

if TYPE_CHECKING:  # jsonschema loads only when an entry fails the compiled check (a fifth of a second)
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

__all__ = ["validate", "manifest_schema", "format_checker"]

JSON_TYPES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
              float: "a number", type(None): "null", datetime.date: "a date (quote it to make it a string)",
              datetime.datetime: "a date and time (quote it to make it a string)"}


@cache
def manifest_schema(version: str) -> JsonObject:
    """The published manifest JSON Schema of `version` (also what editors use)."""
    data: JsonObject = json.loads((schema_dir() / f"manifest-{version}.schema.json").read_text())
    return data


@cache
def _kind_validator(version: str, kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = manifest_schema(version)
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"},
                                format_checker=format_checker())


@cache
def format_checker() -> FormatChecker:
    """jsonschema asserting the `format`s the compiled check does, by the same rules (`FORMATS`)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, valid in FORMATS.items():
        checker.checks(name)(lambda value, valid=valid: not isinstance(value, str) or valid(value))
    return checker


@cache
def _kind_check(version: str, kind: str) -> Check | None:
    """The compiled yes/no check of a kind (None: the schema needs jsonschema for every entry)."""
    return compile_check(manifest_schema(version)["$defs"], kind)


def _schema_errors(version: str, kind: str, instance: JsonObject) -> list[ValidationError]:
    """jsonschema's errors for an entry, asked only when the compiled check rejects it: they
    are what the problems are worded from, and a valid entry has none."""
    check = _kind_check(version, kind)
    if check is not None and check(instance):
        return []
    return sorted(_kind_validator(version, kind).iter_errors(instance), key=lambda e: list(map(str, e.path)))


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _has(model: ApiModel, name: str, section: str | None, kind: str | None) -> bool:
    """Whether `model` has a field `name` of `kind`, a kind `name` in `section`, or a section `name`."""
    if kind is not None:
        return kind in model.kinds and name in model.kinds[kind].fields
    return name in (model.sections.get(section, {}) if section is not None else model.sections)


def _elsewhere(model: ApiModel, name: str, *, section: str | None = None, kind: str | None = None) -> str:
    """For a section, a kind of `section` or a field of `kind` this version lacks: which other known
    version has it, and this version's own name for it (`tenants` is 2023's; 2026 has `brands`)."""
    versions = [version for version in known_versions()
                if version != model.version and _has(load_model(version), name, section, kind)]
    if not versions:
        return ""
    counterpart = model.counterparts.get(name)
    here = f"; authentik {model.version} has {counterpart!r} instead" if counterpart else ""
    return f": {name!r} is authentik {' and '.join(versions)}'s, not {model.version}'s{here}"


def _what(value: Json) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
    return by_branch


def _schema_of(error: ValidationError) -> JsonObject:
    return error.schema if isinstance(error.schema, dict) else {}


Wording = Callable[["ValidationError", JsonObject, bool], str | None]
"""(error, the failing schema, hide) -> the sentence for that validator, or None for jsonschema's own."""


def _describe(error: ValidationError, hide: bool = False) -> str:
    """One plain sentence for a schema error, not jsonschema's repr of the schema; with `hide`
    (a sensitive field), one that never shows the value. A dispatch table by validator
    (`_WORDINGS`), with jsonschema's message for the rest."""
    wording = _WORDINGS.get(str(error.validator))
    sentence = wording(error, _schema_of(error), hide) if wording else None
    if sentence is not None:
        return sentence
    # jsonschema's own message starts with the value's repr ('hunter2' is not of type ...)
    return f"invalid value ({error.validator} {json.dumps(error.validator_value, default=str)})" if hide \
        else error.message


def _expected(error: ValidationError, schema: JsonObject, hide: bool) -> str:
    return f"expected {_shape(schema)}, got {_what(error.instance)}"


def _any_of(error: ValidationError, schema: JsonObject, hide: bool) -> str:
    """Explained against the branch meant for this shape of value, when one is."""
    branches = _branches(error)
    for index, option in enumerate(schema.get("anyOf", [])):
        if index in branches and _meant_for(error.instance, option):
            return _describe(min(branches[index],
                                 key=lambda e: (e.validator != "additionalProperties", len(e.path))), hide)
    return _expected(error, schema, hide)


def _meant_for(value: Json, option: JsonObject) -> bool:
    """Whether an `anyOf` branch is the one for `value`: an object branch for a mapping, a branch
    of its type (not null) for anything else, looking into a branch that is itself an `anyOf` (a
    reference: a UUID or `{stage: NAME}`)."""
    if "anyOf" in option and not isinstance(value, dict):
        return any(_meant_for(value, sub) for sub in option["anyOf"])
    takes_object = _accepts_object(option)
    return isinstance(value, dict) == takes_object and option.get("type") != "null" \
        and (takes_object or _type_ok(value, option))


def _one_of(error: ValidationError, schema: JsonObject, hide: bool) -> str | None:
    if all(set(option) == {"required"} for option in schema.get("oneOf", [])):
        names = [option["required"][0] for option in schema["oneOf"]]
        return f"set exactly one of {', '.join(names[:-1])} or {names[-1]}"
    if isinstance(error.instance, dict):
        return "expected {env: VARIABLE} or {file: PATH}"
    return None


def _shown(value: Json, hide: bool) -> str:
    return "the value" if hide else json.dumps(value)


def _min_length(error: ValidationError, schema: JsonObject, hide: bool) -> str:
    return "must not be empty" if schema["minLength"] == 1 else \
        f"must be at least {schema['minLength']} characters"


def _max_length(error: ValidationError, schema: JsonObject, hide: bool) -> str:
    value: Json = error.instance
    return f"must be at most {schema['maxLength']} characters (has {len(value)})"


def _unknown_key(error: ValidationError, schema: JsonObject, hide: bool) -> str | None:
    value = error.instance
    if not isinstance(value, dict):
        return None
    allowed = sorted(schema.get("properties", {}))
    extra = sorted(set(value) - set(allowed))
    if hide:
        return f"unknown key (expected {' or '.join(allowed)})"
    return f"unknown key {extra[0]!r} (expected {' or '.join(allowed)})"


def _missing_key(error: ValidationError, schema: JsonObject, hide: bool) -> str:
    value: Json = error.instance
    missing = [key for key in schema.get("required", []) if key not in value]
    return f"missing key {missing[0]!r}" if missing else error.message


FORMAT_NAMES = {"uuid": "UUID (like 0b4a1c6e-1d2f-4c3b-9a8e-7f6d5c4b3a21)"}

_WORDINGS: dict[str, Wording] = {
    "anyOf": _any_of,
    "oneOf": _one_of,
    "type": _expected,
    "enum": lambda error, schema, hide:
        f"{_shown(error.instance, hide)} is not one of {', '.join(json.dumps(v) for v in schema['enum'])}",
    "minLength": _min_length,
    "maxLength": _max_length,
    "pattern": lambda error, schema, hide: f"{_shown(error.instance, hide)} does not match {schema['pattern']}",
    "format": lambda error, schema, hide:
        f"{_shown(error.instance, hide)} is not a {FORMAT_NAMES.get(str(schema['format']), schema['format'])}",
    "const": lambda error, schema, hide: f"{_shown(error.instance, hide)} is not {json.dumps(schema['const'])}",
    "uniqueItems": lambda error, schema, hide: "lists the same item twice (the server keeps this list as a set)",
    "minimum": lambda error, schema, hide: f"must be at least {schema['minimum']}",
    "maximum": lambda error, schema, hide: f"must be at most {schema['maximum']}",
    "additionalProperties": _unknown_key,
    "required": _missing_key,
}


def _accepts_object(schema: JsonObject) -> bool:
    if "anyOf" in schema:
        return any(_accepts_object(option) for option in schema["anyOf"])
    return schema.get("type") == "object" or "oneOf" in schema


def _type_ok(value: Json, schema: JsonObject) -> bool:
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


def _shape(schema: JsonObject) -> str:
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


def _field_label(path: list[str | int] | tuple[str | int, ...]) -> str:
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label


def _kind_of(raw: RawObject, model: ApiModel) -> Kind | None:
    """The kind an entry names: by `kind:` in a section of several kinds, else the section's one."""
    kinds = model.sections.get(raw.section, {})
    if len(kinds) == 1:
        return model.kinds[next(iter(kinds.values()))]
    name = raw.data.get("kind")
    return model.kind_in(raw.section, name) if isinstance(name, str) else None


def _subject(raw: RawObject, kind: Kind | None) -> str:
    """`kind/key` of an entry as written, for problems found before it is a desired object."""
    if kind is None:
        written = raw.data.get("kind")
        return f"{written if isinstance(written, str) else '?'}/{raw.data.get('name', '?')}"
    if kind.singleton:
        return kind.name
    key = [raw.data.get(name) for name in kind.key]
    return f"{kind.name}/{'/'.join(str(part) if isinstance(part, str) else '?' for part in key)}"


Report = Callable[..., None]
"""(key path, message, field label) -> None: records one problem of the entry being checked."""


def _check_fields(data: JsonObject, kind: Kind, model: ApiModel, def_name: str,
                  path: tuple[str | int, ...], problem: Report) -> None:
    """Unknown and read-only keys of an entry and of the entries nested in it, with a suggestion
    (jsonschema would only say "additional properties"); they are then left out of the check."""
    properties = manifest_schema(model.version)["$defs"][def_name]["properties"]
    for key in list(data):
        if key in properties:
            continue
        del data[key]
        if key in kind.read_only:
            problem((*path, key), "read-only field: the server sets it, remove it from the manifest", key)
        else:
            elsewhere = _elsewhere(model, str(key), kind=kind.name)
            problem((*path, key), f"unknown field{elsewhere or _suggest(str(key), list(properties))}",
                    _field_label((*path, key)))
    for list_name, nested in kind.nested.items():
        entries = data.get(list_name)
        if not isinstance(entries, list):
            continue
        copies = []
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                entry = dict(entry)
                _check_fields(entry, model.kinds[nested.kind], model, f"{nested.kind}@{kind.name}",
                              (*path, list_name, index), problem)
            copies.append(entry)
        data[list_name] = copies


def _check_object(raw: RawObject, model: ApiModel, problems: list[Problem]) -> Kind | None:
    """Check one entry; its kind when it is valid."""
    data = raw.data
    kind = _kind_of(raw, model)
    subject = _subject(raw, kind)

    def problem(path: tuple[str | int, ...], message: str, field: str = "") -> None:
        problems.append(Problem(raw.file, *raw.position_of(path), message, subject, field))

    if kind is None:
        _unknown_kind(raw, model, problem)
        return None
    before = len(problems)
    _check_key(data, kind, problem)  # a key that is no text makes the entry invalid: nothing keys by it
    for where, what in raw.foreign:
        problem(where, f"{what} is not a JSON value: quote it", _field_label(where))
    checked = dict(data)
    _check_fields(checked, kind, model, kind.name, (), problem)
    ok = len(problems) == before and all(kind.key_value(name, data) is not None for name in kind.key)
    schema_ok = _check_schema(checked, raw, kind, model, problem)
    absent_ok = _check_absent(data, kind, problem)
    ignored_ok = _check_ignored(data, problem)
    return kind if ok and schema_ok and absent_ok and ignored_ok else None


def _unknown_kind(raw: RawObject, model: ApiModel, problem: Report) -> None:
    """An entry whose kind is missing or not one of its section's, with a suggestion."""
    if "kind" not in raw.data:
        problem((), "missing 'kind'")
        return
    # A kind JSON cannot carry (`!!binary`, a date), or one holding such a value (`[a, 2026-12-07]`):
    # found by tests/test_fuzz.py.
    unreadable = next(((where, what) for where, what in raw.foreign if where[:1] == ("kind",)), None)
    if unreadable is not None:
        problem(unreadable[0], f"{unreadable[1]} is not a JSON value: quote it", "kind")
        return
    written = raw.data["kind"]
    kinds = model.sections.get(raw.section, {})
    renamed = _other_versions_name(model, raw.section, str(written))
    elsewhere = "" if renamed else _elsewhere(model, str(written), section=raw.section)
    hint = renamed or ("" if elsewhere else _suggest(str(written), list(kinds)))
    problem(("kind",), f"unknown kind {json.dumps(written)}{hint} in {raw.section!r} for authentik {model.version}"
            f"{elsewhere}", "kind")


def _other_versions_name(model: ApiModel, section: str, written: str) -> str:
    """Where another API version names the same kind differently (a scope mapping is `scope` in
    2023.10.7 and `provider_scope` in 2026.2.2): both names, matched by the API's model name."""
    for version in known_versions():
        other = load_model(version)
        kind = other.kind_in(section, written) if version != model.version else None
        same = [k for k in model.kinds.values() if kind is not None and k.model == kind.model and k.section == section]
        if same:
            own = same[0].manifest_kind
            return f" (that is authentik {version}'s name; authentik {model.version} calls it {own!r})"
    return ""


def _check_key(data: JsonObject, kind: Kind, problem: Report) -> None:
    for name in kind.key:
        written = name if name in data or name not in kind.key_fallback else kind.key_fallback[name]
        if written not in data:
            alternative = f" or {kind.key_fallback[name]!r}" if name in kind.key_fallback else ""
            problem((), f"missing {name!r}{alternative}")
        elif not isinstance(data[written], str) or not data[written]:
            problem((written,), "must be a non-empty string", written)


def _check_schema(checked: JsonObject, raw: RawObject, kind: Kind, model: ApiModel, problem: Report) -> bool:
    """The schema's errors for the entry without its unknown fields, but those already reported;
    whether there were none."""
    ok = True
    foreign = [where for where, _ in raw.foreign]
    for error in _schema_errors(model.version, kind.name, checked):
        path = list(error.absolute_path)
        if _reported_above(error, path, foreign, kind, checked):
            continue
        secret = bool(path) and path[0] in kind.sensitive_fields
        problem(tuple(path), _describe(error, hide=secret), _field_label(path))
        ok = False
    return ok


def _reported_above(error: ValidationError, path: list[str | int], foreign: list[KeyPath],
                    kind: Kind, checked: JsonObject) -> bool:
    """Whether a schema error repeats a problem already reported: a value that is not JSON, a
    missing key or one that is not a non-empty string (a key that is one may still break the
    schema's other rules: a flow slug with a space)."""
    if any(tuple(path[:len(where)]) == where or tuple(where[:len(path)]) == tuple(path) for where in foreign):
        return True  # not a JSON value
    if error.validator == "required" and not path and any(
            key in kind.key for key in _schema_of(error).get("required", []) if key not in checked):
        return True  # a missing key
    if error.validator == "anyOf" and not path and kind.key_fallback:
        return True  # a key written neither way: `_check_key` said so
    return len(path) == 1 and path[0] in kind.key and not _non_empty_text(checked.get(path[0]))


def _non_empty_text(value: Json) -> bool:
    """What `_check_key` asks of a key field."""
    return isinstance(value, str) and bool(value)


def _check_absent(data: JsonObject, kind: Kind, problem: Report) -> bool:
    """An entry marked absent lists no nested entries; whether it lists none."""
    ok = True
    if data.get("state") == "absent":
        for list_name in kind.nested:
            if list_name in data:
                problem((list_name,), f"an object marked state: absent cannot list {list_name}: "
                        f"authentik deletes them with it", list_name)
                ok = False
    return ok


def _check_ignored(data: JsonObject, problem: Report) -> bool:
    """No field both set and named in `ignore_changes`; whether there is none."""
    ok = True
    ignored = data.get("ignore_changes")
    for index, name in enumerate(ignored if isinstance(ignored, list) else []):  # another type: a schema problem
        if isinstance(name, str) and name in data:
            problem(("ignore_changes", index), f"{name!r} is both set and ignored", "ignore_changes")
            ok = False
    return ok


def _check_sections(manifests: Manifests, model: ApiModel, problems: list[Problem]) -> None:
    known = sorted(model.sections)
    for section in manifests.sections:
        if section.name not in model.sections:
            expected = ", ".join(known[:-1]) + f" or {known[-1]}"
            elsewhere = _elsewhere(model, section.name, )
            problems.append(Problem(section.file, *section.position, f"unknown top-level key {section.name!r}"
                                    f"{elsewhere or _suggest(section.name, known)} (expected {expected})"))
        elif model.singleton_section(section.name):
            if not section.is_mapping:
                problems.append(Problem(section.file, *section.position,
                                        f"{section.name!r} must be a mapping of the fields it manages"))
        elif not section.is_list:
            problems.append(Problem(section.file, *section.position, f"{section.name!r} must be a list of objects"))


def _check_unique(objects: list[tuple[RawObject, DesiredObject]], model: ApiModel, problems: list[Problem]) -> None:
    """The same key twice in its scope: stage names across all stage kinds, policy names across
    policy kinds, a stage bound twice to one flow at one order."""
    seen: dict[tuple[Json, ...], tuple[RawObject, DesiredObject]] = {}
    for raw, obj in objects:
        kind = model.kinds[obj.kind]
        scope = (kind.family, obj.parent, obj.key, obj.which)
        if scope not in seen:
            seen[scope] = (raw, obj)
            continue
        _, first = seen[scope]
        problems.append(_duplicate(obj, first, kind, model))


def _duplicate(obj: DesiredObject, first: DesiredObject, kind: Kind, model: ApiModel) -> Problem:
    """`obj` repeats the key of `first`: named by the fields written in its entry (not the one
    pointing at its parent), at `obj` and with where `first` is. A singleton's section is written
    once."""
    if kind.singleton:
        line, column = first.position()
        return Problem(obj.file, *obj.position(), f"{kind.section!r} is written twice: {first.file}:{line}:{column} "
                       "has it too (one mapping holds every field it manages)", obj.address)
    fields = [name for name, part in zip(kind.key, obj.key, strict=True)
              if part is not None and not (isinstance(part, Ref) and part.address and part.address == obj.parent)]
    if kind.disambiguator:
        fields.append(kind.disambiguator)
    where = f" ({kind.family} {fields[0]}s are unique across all {kind.family} kinds)" \
        if len(fields) == 1 and model.shared_scope(kind) else ""
    line, column = first.position(fields[0])
    return Problem(obj.file, *obj.position(fields[0]), f"duplicate {' + '.join(fields)}: "
                   f"{first.address} at {first.file}:{line}:{column} has it too{where}", obj.address,
                   fields[0] if len(fields) == 1 else "")


def validate(manifests: Manifests, model: ApiModel, files: FileRule | None = None) -> list[DesiredObject]:
    """Validate every object and return them as desired objects, nested entries expanded; raise
    `ManifestError` with every problem at once (schema errors, unknown fields, duplicate keys,
    Python that does not compile). With `files`, the Python of `{file}` sources those folders
    hold is compiled too (the `validate` command; a plan compiles it as it reads the sources)."""
    problems: list[Problem] = list(manifests.problems)
    _check_sections(manifests, model, problems)
    valid: list[tuple[RawObject, DesiredObject]] = []
    locator = ScalarLocator()
    for raw in manifests.objects:
        if raw.section not in model.sections:
            continue
        kind = _check_object(raw, model, problems)
        if kind is not None:
            valid.extend((raw, obj) for obj in expand(raw, kind, model))
        written_kind = kind or _kind_of(raw, model)
        if written_kind is not None:  # an entry with other problems too: all are reported at once
            problems += expression_problems(raw, written_kind, model, _subject(raw, written_kind), locator)
    _check_unique(valid, model, problems)
    if files is not None:
        problems += file_python_problems([obj for _, obj in valid], model, files)
    if problems:
        raise ManifestError(problems)
    return [obj for _, obj in valid]
