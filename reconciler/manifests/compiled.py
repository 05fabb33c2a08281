"""A fast yes/no check of an entry against the manifest JSON Schema, compiled once per kind into
plain Python closures.

jsonschema walks the schema anew for every instance (about 0.1 ms per entry, most of validating
10,000 entries); nearly every entry is valid, and a valid entry needs no error messages. So
`schema.py` asks this check first and runs jsonschema, which words the errors, only for entries
it rejects. It implements draft 2020-12 for exactly the keywords the generated schemas use;
a schema with any other keyword does not compile (`None`), and jsonschema then checks every
entry as before, so the answer is never weaker than jsonschema's."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from reconciler.values import Json

__all__ = ["compile_check", "FORMATS", "is_uuid"]

Check = Callable[[Json], bool]

ANNOTATIONS = frozenset({"description", "title", "$schema", "$id", "default", "examples",
                         "deprecated", "readOnly", "writeOnly", "$comment"})
"""Keywords that never fail an instance."""

UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """A UUID as authentik writes one: 8-4-4-4-12 hex digits (either case), nothing around it.
    jsonschema's own `uuid` check is laxer (it takes a trailing `}` or `-`, `urn:` inside), and a
    reference would then fail only at plan time."""
    return UUID_TEXT.fullmatch(text) is not None


FORMATS: dict[str, Callable[[str], bool]] = {"uuid": is_uuid}
"""The `format`s asserted, by name: this check and jsonschema (schema.py's format checker) both
use these; the generated schemas use only `uuid`."""


class Unsupported(Exception):
    """The schema uses a keyword this check does not implement."""


def compile_check(defs: Mapping[str, Json], name: str) -> Check | None:
    """A function telling whether an instance is valid against `#/$defs/name`, or None when the
    schema uses a keyword this module does not implement."""
    compiled: dict[str, Check] = {}

    def ref(target: str) -> Check:
        if not target.startswith("#/$defs/") or "/" in target[len("#/$defs/"):]:
            raise Unsupported(target)
        def_name = target[len("#/$defs/"):]
        if def_name not in compiled:
            compiled[def_name] = lambda value: compiled[def_name](value)  # a cycle calls back through here
            compiled[def_name] = build(defs[def_name])
        return lambda value: compiled[def_name](value)

    def build(schema: Json) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, Mapping):
            raise Unsupported(repr(schema))
        checks = [check for word in schema if word not in ANNOTATIONS and word not in ("then", "else")
                  if (check := keyword(schema, word)) is not None]
        return checks[0] if len(checks) == 1 else all_of(checks)

    def keyword(schema: Mapping[str, Json], word: str) -> Check | None:
        arg = schema[word]
        if word == "$ref":
            return ref(arg)
        if word == "type":
            return type_check(arg if isinstance(arg, list) else [arg])
        if word == "enum":
            return enum_check(list(arg))
        if word == "const":
            return lambda value: equal(value, arg)
        if word == "required":
            names = list(arg)
            return lambda value: not isinstance(value, dict) or all(key in value for key in names)
        if word == "properties":
            return properties_check({key: build(sub) for key, sub in arg.items()})
        if word == "additionalProperties":
            known = set(schema.get("properties", {}))
            if "patternProperties" in schema:
                raise Unsupported(word)
            extra = build(arg)
            return lambda value: not isinstance(value, dict) or all(
                extra(item) for key, item in value.items() if key not in known)
        if word == "items":
            if not isinstance(arg, Mapping | bool) or "prefixItems" in schema:
                raise Unsupported(word)
            item_check = build(arg)
            return lambda value: not isinstance(value, list) or all(item_check(item) for item in value)
        if word in ("anyOf", "oneOf", "allOf"):
            branches = [build(sub) for sub in arg]
            if word == "anyOf":
                return lambda value: any(branch(value) for branch in branches)
            if word == "allOf":
                return lambda value: all(branch(value) for branch in branches)
            return lambda value: sum(1 for branch in branches if branch(value)) == 1
        if word == "if":
            condition, then, otherwise = build(arg), build(schema.get("then", True)), build(schema.get("else", True))
            return lambda value: then(value) if condition(value) else otherwise(value)
        if word in ("minLength", "maxLength"):
            bound = int(arg)
            if word == "minLength":
                return lambda value: not isinstance(value, str) or len(value) >= bound
            return lambda value: not isinstance(value, str) or len(value) <= bound
        if word in ("minimum", "maximum"):
            limit = arg
            if word == "minimum":
                return lambda value: not is_number(value) or value >= limit
            return lambda value: not is_number(value) or value <= limit
        if word == "pattern":
            regex = re.compile(arg)
            return lambda value: not isinstance(value, str) or regex.search(value) is not None
        if word == "format":
            return format_check(arg)
        if word == "uniqueItems":
            if not arg:
                return None
            return lambda value: not isinstance(value, list) or all(
                not equal(a, b) for i, a in enumerate(value) for b in value[i + 1:])
        raise Unsupported(word)

    try:
        return build({"$ref": f"#/$defs/{name}"})
    except (Unsupported, KeyError, re.error):
        return None


def format_check(name: Json) -> Check:
    """A `format` this module asserts; any other (which jsonschema, given only `FORMATS`, does
    not assert either) leaves the kind to jsonschema."""
    if not isinstance(name, str) or name not in FORMATS:
        raise Unsupported(f"format {name!r}")
    valid = FORMATS[name]
    return lambda value: not isinstance(value, str) or valid(value)


def all_of(checks: list[Check]) -> Check:
    def check(value: Json) -> bool:
        for one in checks:  # noqa: SIM110 (no generator per call: the hot path of validating)
            if not one(value):
                return False
        return True

    return check


def properties_check(props: dict[str, Check]) -> Check:
    def check(value: Json) -> bool:
        if isinstance(value, dict):
            for key, item in value.items():
                one = props.get(key)
                if one is not None and not one(item):
                    return False
        return True

    return check


def enum_check(options: list[Json]) -> Check:
    """A string is equal only to a string (`equal`), so strings are looked up in a set: some
    enums are long (time zones, country codes)."""
    texts = frozenset(option for option in options if isinstance(option, str))
    others = [option for option in options if not isinstance(option, str)]

    def check(value: Json) -> bool:
        if isinstance(value, str):
            return value in texts
        return any(equal(value, option) for option in others)

    return check


def is_number(value: Json) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


TYPES: dict[str, Check] = {
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "number": is_number,
    # jsonschema takes 1.0 as an integer too.
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
}


def type_check(names: list[str]) -> Check:
    checks = [TYPES[name] for name in names]
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def equal(one: Json, two: Json) -> bool:
    """JSON equality as jsonschema has it: `true` is not `1`, lists and mappings compare deeply."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    if isinstance(one, list | dict) or isinstance(two, list | dict):
        return _equal_containers(one, two)
    return bool(one == two)


def _equal_containers(one: Json, two: Json) -> bool:
    """Lists item by item and mappings key by key; a list never equals a mapping or a scalar."""
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[key], two[key]) for key in one)
    return False
