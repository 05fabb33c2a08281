"""Fuzzing the loader and validator: whatever bytes a manifest holds, `validate_paths` ends in
valid objects that JSON can carry or in a `ManifestError` whose problems are located, never
another exception. Every input that once failed is kept in `fixtures/fuzz/` and replayed."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler import ManifestError, validate_paths
from reconciler.cli.main import cli
from reconciler.values import Ref

FUZZ = Path(__file__).parent / "fixtures" / "fuzz"
EXAMPLES = Path(__file__).parent.parent / "examples" / "config"
SEEDS = [path.read_bytes() for path in sorted(EXAMPLES.rglob("*.yaml"))]
SETTINGS = settings(max_examples=200, deadline=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = ["stages", "policies", "flows", "kind", "name", "slug", "title", "designation", "bindings", "stage", "order",
        "policy", "policies", "user_fields", "deny_message", "fixed_data", "client_secret", "password", "env", "file",
        "state", "ignore_changes", "expression", "<<", "x"]
SCALARS = ["deny", "identification", "password", "email", "expression", "invitation_invite", "authentication",
           "2024-01-01", ".inf", "-.nan", "!!binary aGk=", "!!int x", "!!bool maybe", "~", "yes", "0x1F", "1_000",
           "'quoted'", '"a\\x01"', "*a", "&a [1]", "!custom v", "12:30:00", "1e999", "{}", "[]", "|\n  block"]


def _yaml_value(depth: int) -> st.SearchStrategy[str]:
    scalar = st.one_of(st.sampled_from(SCALARS), st.text(max_size=12).map(json.dumps))
    if depth == 0:
        return scalar
    inner = _yaml_value(depth - 1)
    mapping = st.dictionaries(st.sampled_from(KEYS), inner, max_size=4).map(
        lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")
    sequence = st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
    return st.one_of(scalar, mapping, sequence)


def _document() -> st.SearchStrategy[str]:
    """Block-style manifests of manifest-ish sections and objects, values in flow style."""
    field = st.tuples(st.sampled_from(KEYS), _yaml_value(2)).map(lambda kv: f"    {kv[0]}: {kv[1]}\n")
    entry = st.lists(field, min_size=1, max_size=6).map(lambda fields: "  - " + "".join(fields)[4:])
    section = st.tuples(st.sampled_from(KEYS[:3] + ["stage", "x"]), st.lists(entry, max_size=4)).map(
        lambda s: f"{s[0]}:\n" + "".join(s[1]))
    return st.lists(section, min_size=1, max_size=3).map("".join)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid example with a few bytes changed, inserted or cut."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.one_of(st.sampled_from(list(b":-[]{}&*!|>#'\"\n\t \x00\xff")), st.integers(0, 255)))
        if action == "replace" and data:
            data[at] = byte
        elif action == "insert":
            data.insert(at, byte)
        elif data:
            del data[at:at + draw(st.integers(1, 20))]
    return bytes(data)


def check(data: bytes, folder: Path) -> None:
    """The property: valid objects JSON can carry, or located problems."""
    path = folder / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        objects = validate_paths([path], "2026.2.2")
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path) and problem.message
        return
    for obj in objects:
        json.dumps(obj.fields, allow_nan=False, default=_reference)


def _reference(value: Any) -> str:
    if isinstance(value, Ref):  # an id once resolved against live state
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def keep(data: bytes) -> None:
    """Run `check`, saving the input under fixtures/fuzz/ first when it fails (a regression file)."""
    import hashlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        try:
            check(data, Path(folder))
        except Exception:
            FUZZ.mkdir(exist_ok=True)
            (FUZZ / f"{hashlib.sha256(data).hexdigest()[:16]}.yaml").write_bytes(data)
            raise


@SETTINGS
@given(_document())
@example("stages:\n  - kind: deny\n    name: !!bool maybe\n")
def test_generated_manifests_end_in_objects_or_located_problems(text: str) -> None:
    keep(text.encode())


@SETTINGS
@given(_mutated())
def test_mutated_examples_end_in_objects_or_located_problems(data: bytes) -> None:
    keep(data)


@settings(SETTINGS, max_examples=100)
@given(st.binary(max_size=200))
def test_random_bytes_end_in_located_problems(data: bytes) -> None:
    keep(data)


def test_every_input_that_once_failed_still_ends_well(tmp_path: Path) -> None:
    for path in sorted(FUZZ.glob("*.yaml")):
        check(path.read_bytes(), tmp_path)


@settings(SETTINGS, max_examples=10)
@given(_mutated())
def test_the_cli_reports_fuzzed_manifests_in_one_line_each(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.yaml"
        path.write_bytes(data)
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 1:
            assert all(line.startswith(str(path) + ":") for line in result.output.splitlines()[:-1])


