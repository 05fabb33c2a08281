"""The compiled check agrees with jsonschema on every entry: it is only a shortcut for entries
jsonschema would accept, so it may never accept one jsonschema rejects, nor reject a valid one."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.manifests.compiled import compile_check
from reconciler.manifests.schema import manifest_schema
from reconciler.model.kinds import known_versions

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


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    version = draw(st.sampled_from(known_versions()))
    defs = manifest_schema(version)["$defs"]
    name = draw(st.sampled_from(sorted(defs)))
    schema = defs[name]
    properties = schema.get("properties", {})
    entry: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(properties) + ["unknown"]), max_size=6, unique=True)):
        choices = literals(properties.get(key, {}))
        value = st.one_of(JSON, st.sampled_from(choices)) if choices else JSON
        entry[key] = draw(st.one_of(value, st.lists(value, max_size=2)))
    for key in schema.get("required", []):
        if draw(st.integers(0, 9)):  # mostly present: otherwise nothing else is ever looked at
            choices = literals(properties.get(key, {}))
            entry.setdefault(key, draw(st.sampled_from(choices) if choices else st.text(min_size=1, max_size=3)))
    return version, name, entry


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries())
def test_the_compiled_check_agrees_with_jsonschema(case: tuple[str, str, dict[str, Any]]) -> None:
    version, name, entry = case
    defs = manifest_schema(version)["$defs"]
    check = compile_check(defs, name)
    assert check is not None
    assert check(entry) == Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"}).is_valid(entry)


def test_every_kind_of_every_version_compiles() -> None:
    for version in known_versions():
        defs = manifest_schema(version)["$defs"]
        assert [name for name in defs if compile_check(defs, name) is None] == []


def test_a_keyword_it_does_not_implement_leaves_the_kind_to_jsonschema() -> None:
    defs = {"thing": {"type": "object", "properties": {"a": {"prefixItems": [{"type": "string"}]}}}}
    assert compile_check(defs, "thing") is None
    assert compile_check({"thing": {"type": "object", "minProperties": 1}}, "thing") is None
