"""The compiled check agrees with jsonschema on every entry: it is only a shortcut for entries
jsonschema would accept, so it may never accept one jsonschema rejects, nor reject a valid one.
Values are drawn for every keyword the schemas use, on both sides of it: strings that match a
`pattern` or a `format` and strings that do not, lengths and numbers at their bounds, members of
an `enum` or a `const` and values that are not, lists with an item twice."""
from __future__ import annotations

import json
import uuid
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from reconciler.manifests.compiled import compile_check
from reconciler.manifests.schema import manifest_schema
from reconciler.model.kinds import known_versions, schema_dir

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False),
                    st.sampled_from([1.0, 0, 1, "", "x", "name", "00000000-0000-0000-0000-000000000000", "not-a-uuid"]),
                    st.text(max_size=5))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["env", "file", "stage", "flow", "policy", "name", "x"]), inner, max_size=2)),
    max_leaves=6)


def literals(schema: Any) -> list[Any]:
    """Every enum and const value in a schema, so drawn entries are valid often enough."""
    found: list[Any] = []
    if isinstance(schema, dict):
        found += list(schema.get("enum", [])) + ([schema["const"]] if "const" in schema else [])
        for value in schema.values():
            found += literals(value)
    elif isinstance(schema, list):
        for value in schema:
            found += literals(value)
    return found


def canonical_uuid(value: object) -> bool:
    """The `uuid` format, worded apart from the code under test: what `uuid.UUID` reads and
    writes back as it was written (no braces, no `urn:`, the dashes where they belong)."""
    if not isinstance(value, str):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


ORACLE_FORMATS = FormatChecker(formats=())
ORACLE_FORMATS.checks("uuid")(canonical_uuid)


def oracle(defs: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"}, format_checker=ORACLE_FORMATS)


UUIDS = st.uuids().flatmap(lambda one: st.sampled_from([
    str(one), str(one).upper(), one.hex, f"{{{one}}}", f"{one}}}", f"{one}-", f"urn:uuid:{one}", f" {one}",
    f"{one}\n", str(one)[:-1], str(one)[:-1] + "g"]))
"""UUIDs as authentik writes them, and near misses jsonschema's own check lets through."""


def sized(bound: int, alphabet: str = "ab-_") -> st.SearchStrategy[str]:
    """Strings one short of, at and one past a length bound."""
    return st.integers(max(0, bound - 1), bound + 1).flatmap(
        lambda size: st.text(alphabet=alphabet, min_size=size, max_size=size))


def bounds(limit: int | float) -> st.SearchStrategy[Any]:
    return st.sampled_from([limit - 1, limit, limit + 1, limit - 0.5, limit + 0.5, float(limit), True])


def not_members(options: list[Any]) -> list[Any]:
    """Values next to an enum's members that are not among them."""
    return ["x", 1, None, options[:1]] + [f"{option}x" for option in options if isinstance(option, str)][:3]


def keyword_values(schema: Any, defs: dict[str, Any], depth: int = 0, focus: str = "") -> st.SearchStrategy[Any]:
    """Values drawn for the keywords of `schema`, each on both sides of it (see the module's doc);
    with `focus`, for that keyword only, where the schema uses it."""
    if not isinstance(schema, dict) or depth > 4:
        return JSON
    if focus in schema and focus in KEYWORDS:
        return KEYWORDS[focus](schema, defs, depth, focus)
    words = [word for word in KEYWORDS if word in schema and (word != "type" or len(schema.keys() & KEYWORDS) == 1)]
    options = [KEYWORDS[word](schema, defs, depth, focus) for word in words]  # `type` alone: all but one wrong
    return st.one_of(*options) if options else JSON


def _ref(schema: Any, defs: dict[str, Any], depth: int, focus: str) -> st.SearchStrategy[Any]:
    return keyword_values(defs[schema["$ref"].split("/")[-1]], defs, depth + 1, focus)


def _branches(word: str) -> Any:
    def values(schema: Any, defs: dict[str, Any], depth: int, focus: str) -> st.SearchStrategy[Any]:
        branches = [sub for sub in schema[word] if focus in words_in(sub)] or schema[word]
        return st.one_of(*(keyword_values(sub, defs, depth + 1, focus) for sub in branches))

    return values


def _items(schema: Any, defs: dict[str, Any], depth: int, focus: str) -> st.SearchStrategy[Any]:
    item = keyword_values(schema["items"], defs, depth + 1, focus)
    return st.one_of(st.lists(item, max_size=3), item.map(lambda one: [one, json.loads(json.dumps(one))]))


def _properties(schema: Any, defs: dict[str, Any], depth: int, focus: str) -> st.SearchStrategy[Any]:
    names = sorted(schema["properties"])
    base = example(schema, defs)
    return st.one_of(st.just(base), st.lists(st.sampled_from([*names, "x"]), max_size=2, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: keyword_values(schema["properties"].get(key), defs, depth + 1, focus)
                                            for key in keys}).map(lambda changed: {**base, **changed})))


TYPED = [None, True, 0, 1, 1.0, 1.5, "x", "", [], {}]
"""A value of every JSON type (`type` alone: null in a reference that may be unset)."""

KEYWORDS: dict[str, Any] = {
    "$ref": _ref,
    "anyOf": _branches("anyOf"), "oneOf": _branches("oneOf"), "allOf": _branches("allOf"),
    "pattern": lambda schema, defs, depth, focus: st.one_of(
        st.from_regex(schema["pattern"], fullmatch=True), sized(50, "ab -_\n"),
        st.sampled_from(["two words", "", "a\n", "é", "flow/slug"])),
    "format": lambda schema, defs, depth, focus: UUIDS,
    "minLength": lambda schema, defs, depth, focus: sized(schema["minLength"]),
    "maxLength": lambda schema, defs, depth, focus: sized(schema["maxLength"]),
    "minimum": lambda schema, defs, depth, focus: bounds(schema["minimum"]),
    "maximum": lambda schema, defs, depth, focus: bounds(schema["maximum"]),
    "enum": lambda schema, defs, depth, focus: st.sampled_from(list(schema["enum"]) + not_members(schema["enum"])),
    "const": lambda schema, defs, depth, focus: st.sampled_from([schema["const"], *not_members([schema["const"]])]),
    "type": lambda schema, defs, depth, focus: st.sampled_from(TYPED),
    "items": _items,
    "properties": _properties,
}
"""keyword -> (schema, defs, depth) -> values for it; `uniqueItems` is drawn by `items` (an item
twice), `required` and `additionalProperties` by `properties` (keys left out, key `x`)."""


def example(schema: Any, defs: dict[str, Any]) -> Any:
    """A valid value of `schema`, the plainest there is: its required keys only, first branches,
    first members, strings of the least length. Entries are drawn as one of these with a key or
    two changed, so the value drawn for a keyword is most often the only thing that can fail."""
    if "$ref" in schema:
        return example(defs[schema["$ref"].split("/")[-1]], defs)
    if "properties" in schema:  # a `oneOf` (`anyOf`) of `required`s beside them: the first one's key too
        first = [option.get("required", []) for option in (schema.get("oneOf") or schema.get("anyOf", []))[:1]]
        return {key: example(schema["properties"][key], defs) for key in [*schema.get("required", []), *sum(first, [])]}
    for word in ("anyOf", "oneOf", "allOf"):
        if word in schema:
            return example(schema[word][0], defs)
    if "const" in schema or "enum" in schema:
        return schema["const"] if "const" in schema else schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {}
    if kind == "string":
        return "00000000-0000-0000-0000-000000000000" if "format" in schema else "a" * schema.get("minLength", 0)
    plain = {"integer": schema.get("minimum", 0), "number": 0.5, "boolean": True, "array": [], "null": None}
    return plain.get(kind, "a")


VALUE_WORDS = ("pattern", "format", "minLength", "maxLength", "minimum", "maximum", "enum", "const", "uniqueItems",
               "anyOf", "oneOf", "items", "additionalProperties", "required")


def words_in(schema: Any) -> set[str]:
    """The keywords a property's schema uses, nested ones included (not through `$ref`)."""
    if isinstance(schema, list):
        return set().union(*(words_in(item) for item in schema))
    if not isinstance(schema, dict):
        return set()
    nested = [value for word, value in schema.items() if word not in ("enum", "const", "required")]
    return set(schema) | words_in(nested) | (words_in(list(schema["properties"].values()))
                                             if isinstance(schema.get("properties"), dict) else set())


@cache
def sites(version: str) -> dict[str, list[tuple[str, str]]]:
    """keyword -> the (definition, property) pairs whose schema uses it: entries are drawn at each
    keyword alike, the two slugs with a `pattern` as often as the hundreds of `minLength`s."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, schema in manifest_schema(version)["$defs"].items():
        for key, sub in schema.get("properties", {}).items():
            for word in words_in(sub) & set(VALUE_WORDS):
                found.setdefault(word, []).append((name, key))
    return found


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    version = draw(st.sampled_from(known_versions()))
    defs = manifest_schema(version)["$defs"]
    at_keyword: list[str] = []
    word = ""
    if draw(st.integers(0, 3)) < 3:
        word = draw(st.sampled_from(sorted(sites(version))))
        name, key = draw(st.sampled_from(sites(version)[word]))
        at_keyword = [key]
    else:
        name = draw(st.sampled_from(sorted(defs)))
    schema = defs[name]
    properties = schema.get("properties", {})
    entry: dict[str, Any] = example(schema, defs)
    more = draw(st.lists(st.sampled_from(sorted(properties) + ["unknown"]), min_size=1 - len(at_keyword), max_size=2,
                         unique=True))
    for key in dict.fromkeys(at_keyword + more[:2 - len(at_keyword)]):
        choices = literals(properties.get(key, {}))
        value = st.one_of(JSON, st.sampled_from(choices)) if choices else JSON
        drawn = keyword_values(properties.get(key), defs, focus=word if key in at_keyword else "") \
            if draw(st.integers(0, 3)) < 3 else \
            st.one_of(value, st.lists(value, max_size=2))
        entry[key] = draw(drawn)
    for key in schema.get("required", []):
        if draw(st.integers(0, 9)) == 9:  # now and then a required key left out (hypothesis draws 0 most)
            entry.pop(key, None)
    return version, name, entry


def test_every_kind_has_a_valid_example() -> None:
    for version in known_versions():
        defs = manifest_schema(version)["$defs"]
        assert [name for name in defs if not oracle(defs, name).is_valid(example(defs[name], defs))] == []


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries())
def test_the_compiled_check_agrees_with_jsonschema(case: tuple[str, str, dict[str, Any]]) -> None:
    version, name, entry = case
    defs = manifest_schema(version)["$defs"]
    check = compile_check(defs, name)
    assert check is not None
    assert check(entry) == oracle(defs, name).is_valid(entry)


@cache
def whole_schema(version: str) -> dict[str, Any]:
    """The manifest schema with the document itself as one more definition, `manifest`: its
    sections choose a kind's definition by `allOf` of `if`/`then` on `kind`."""
    schema = json.loads((schema_dir() / f"manifest-{version}.schema.json").read_text())
    root = {key: value for key, value in schema.items() if key not in ("$defs", "$id")}  # refs resolve here
    return {**schema["$defs"], "manifest": root}


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    version = draw(st.sampled_from(known_versions()))
    _, name, entry = draw(entries())
    kinds = [kind for kind, spec in whole_schema(version).items() if "const" in spec.get("properties", {}).get(
        "kind", {})]
    if draw(st.booleans()) and kinds:
        entry = {**entry, "kind": draw(st.sampled_from([*(whole_schema(version)[k]["properties"]["kind"]["const"]
                                                          for k in kinds), name, "nope"]))}
    section = draw(st.sampled_from(["stages", "policies", "flows", "other"]))
    return version, {section: draw(st.sampled_from([[entry], entry, [entry, entry]]))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_compiled_check_agrees_with_jsonschema_on_whole_documents(case: tuple[str, dict[str, Any]]) -> None:
    version, document = case
    defs = whole_schema(version)
    check = compile_check(defs, "manifest")
    assert check is not None
    assert check(document) == oracle(defs, "manifest").is_valid(document)


def test_every_kind_of_every_version_compiles() -> None:
    for version in known_versions():
        defs = manifest_schema(version)["$defs"]
        assert [name for name in defs if compile_check(defs, name) is None] == []


def test_a_keyword_it_does_not_implement_leaves_the_kind_to_jsonschema() -> None:
    defs = {"thing": {"type": "object", "properties": {"a": {"prefixItems": [{"type": "string"}]}}}}
    assert compile_check(defs, "thing") is None
    assert compile_check({"thing": {"type": "object", "minProperties": 1}}, "thing") is None
