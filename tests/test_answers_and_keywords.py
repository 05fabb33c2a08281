"""Reliability, round two (issue #20): the offline check enforces every keyword of the schemas (a
flow slug with a space fails `validate`, not authentik's 400), a listed object without its natural
key is one error naming the call and the field (not a create), and a number past Python's limit
on digits in an answer is one error naming the call (not an internal error). Each through the
CLI and the Python API."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from support import TOKEN, run, served, write_manifest

from reconciler import ApiError, Connection, ManifestError, PlanOptions, plan, validate_paths
from reconciler.manifests.compiled import is_uuid
from reconciler.sandbox import Sandbox
from reconciler.sandbox.profile import default_seed

TWO_WORDS = {"slug": "two words", "name": "Two words", "title": "Two words", "designation": "authentication"}


def flows(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    write_manifest(tmp_path, list(entries), name="flows.yaml", section="flows")
    return tmp_path / "flows.yaml"


# -- 1. one validator truth -----------------------------------------------------------------------

def test_a_flow_slug_with_a_space_fails_validate_at_its_place(tmp_path: Path) -> None:
    path = flows(tmp_path, TWO_WORDS)
    result = run("http://unused", "validate", str(tmp_path))
    assert (result.exit_code, result.output) == (
        1, f'{path}:2:3: flow/two words: slug: "two words" does not match ^[-a-zA-Z0-9_]+$\n1 problem found.\n')
    with pytest.raises(ManifestError) as caught:
        validate_paths([tmp_path])
    assert [(p.line, p.column, p.field, p.message) for p in caught.value.problems] == [
        (2, 3, "slug", '"two words" does not match ^[-a-zA-Z0-9_]+$')]


def test_a_flow_slug_with_a_space_fails_plan_before_any_write(tmp_path: Path) -> None:
    path = flows(tmp_path, TWO_WORDS)
    with served() as (sandbox, url):
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (
        1, f'{path}:2:3: flow/two words: slug: "two words" does not match ^[-a-zA-Z0-9_]+$\n1 problem found.\n')
    assert [r for r in sandbox.requests if r.method != "GET"] == []


def test_a_slug_past_its_length_and_a_name_with_a_slash_are_schema_problems(tmp_path: Path) -> None:
    path = flows(tmp_path, {**TWO_WORDS, "slug": "a" * 51})  # 2023.10.7 caps a slug at 50 characters
    write_manifest(tmp_path, [{"kind": "invitation_invite", "name": "a/b"}])
    result = run("http://unused", "validate", str(tmp_path), "--api-version", "2023.10.7")
    assert (result.exit_code, result.output) == (1, (
        f"{path}:2:3: flow/{'a' * 51}: slug: must be at most 50 characters (has 51)\n"
        f'{tmp_path}/stages.yaml:3:3: invitation_invite/a/b: name: "a/b" does not match ^[-a-zA-Z0-9_]+$\n'
        "2 problems found.\n"))
    with pytest.raises(ManifestError) as caught:
        validate_paths([tmp_path], api_version="2023.10.7")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("slug", "must be at most 50 characters (has 51)"), ("name", '"a/b" does not match ^[-a-zA-Z0-9_]+$')]


@pytest.mark.parametrize("written", ["not-a-uuid", "0b4a1c6e1d2f4c3b9a8e7f6d5c4b3a21",
                                     "0b4a1c6e-1d2f-4c3b-9a8e-7f6d5c4b3a21}", "0b4a1c6e-1d2f-4c3b-9a8e-7f6d5c4b3a2-"])
def test_a_reference_written_as_a_string_that_is_no_uuid_fails_validate(tmp_path: Path, written: str) -> None:
    path = write_manifest(tmp_path, [{"kind": "identification", "name": "id", "user_fields": ["email"],
                                      "password_stage": written}])
    message = f'{json.dumps(written)} is not a UUID (like 0b4a1c6e-1d2f-4c3b-9a8e-7f6d5c4b3a21)'
    result = run("http://unused", "validate", str(tmp_path))
    assert (result.exit_code, result.output) == (
        1, f"{path}:6:3: identification/id: password_stage: {message}\n1 problem found.\n")
    with pytest.raises(ManifestError) as caught:
        validate_paths([tmp_path])
    assert [(p.field, p.message) for p in caught.value.problems] == [("password_stage", message)]


def test_a_reference_written_as_a_uuid_still_validates(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "identification", "name": "id", "user_fields": ["email"],
                               "password_stage": "0B4A1C6E-1D2F-4C3B-9A8E-7F6D5C4B3A21"}])
    assert run("http://unused", "validate", str(tmp_path)).exit_code == 0
    assert [obj.address for obj in validate_paths([tmp_path])] == ["identification/id"]


UUID_LIKE = st.one_of(st.uuids().map(str), st.uuids().map(lambda one: str(one).upper()), st.uuids().map(
    lambda one: one.hex), st.text(alphabet="0123456789abcdefABCDEF-{}:urn _", max_size=40))


@given(UUID_LIKE)
def test_the_uuid_format_is_never_laxer_than_jsonschemas(text: str) -> None:
    """What the check takes as a UUID jsonschema's own `uuid` takes too (it also takes a few
    forms authentik never writes, which the check refuses)."""
    if is_uuid(text):
        assert Draft202012Validator({"format": "uuid"}, format_checker=FormatChecker()).is_valid(text)
        assert str(uuid.UUID(text)) == text.lower()


# -- 2. a listed object without its natural key ---------------------------------------------------

def nameless(path: str, key: str, **fields: Any) -> dict[str, Any]:
    """A fresh install plus one object at `path` whose natural key `key` is null."""
    seed = copy.deepcopy(default_seed("2026.2.2"))
    seed["lists"][path].insert(0, {"pk": str(uuid.UUID(int=7)), key: None, **fields})
    return seed


def planned_in_process(sandbox: Sandbox, folder: Path, transport: httpx.AsyncBaseTransport | None = None) -> str:
    with pytest.raises(ApiError) as caught:
        plan([folder], Connection(url="http://sandbox", token=sandbox.token,
                                  transport=transport or sandbox.transport(), backoff=0), PlanOptions(keep_state=False))
    return str(caught.value)


@pytest.mark.parametrize(("path", "key", "message"), [
    ("/stages/deny/", "name", 'GET /stages/deny/: page 1, result 1 has no "name"'),
    ("/flows/instances/", "slug", 'GET /flows/instances/: page 1, result 15 has no "slug"'),  # by slug: null last
])
def test_a_listed_object_without_its_natural_key_is_one_error_naming_the_call(tmp_path: Path, path: str, key: str,
                                                                              message: str) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "new-deny"}])
    flows(tmp_path, {**TWO_WORDS, "slug": "new-flow"})
    seed = nameless(path, key, **({"name": "x", "title": "x", "designation": "authentication"} if key == "slug"
                                  else {}))
    with served(seed=seed) as (sandbox, url):
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    assert planned_in_process(Sandbox(token=TOKEN, seed=seed), tmp_path) == message


class DropsAField(httpx.AsyncBaseTransport):
    """The sandbox, with `field` left out of every object of the list answers at `path`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, field: str) -> None:
        self.inner, self.path, self.field = inner, path, field

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != f"/api/v3{self.path}":
            return response
        body = json.loads(await response.aread())
        body["results"] = [{k: v for k, v in item.items() if k != self.field} for item in body["results"]]
        return httpx.Response(response.status_code, json=body)


def test_a_listed_flow_without_a_slug_field_at_all_is_one_error_naming_it(tmp_path: Path) -> None:
    flows(tmp_path, {**TWO_WORDS, "slug": "new-flow"})
    sandbox = Sandbox(token=TOKEN)
    transport = DropsAField(sandbox.transport(), "/flows/instances/", "slug")
    assert planned_in_process(sandbox, tmp_path, transport) == 'GET /flows/instances/: page 1, result 1 has no "slug"'


# -- 3. a number past Python's limit on digits ----------------------------------------------------

@pytest.mark.parametrize("path", ["/stages/deny/", "/admin/version/"])
def test_an_answer_with_a_number_of_5000_digits_is_one_error_naming_the_call(tmp_path: Path, path: str) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "new-deny"}])
    message = f"GET {path}: authentik answered 200 with a number of more than 4300 digits"
    with served() as (sandbox, url):
        sandbox.wrong_shape_next("GET", path, "huge_number")
        result = run(url, "plan", str(tmp_path))
        sandbox.wrong_shape_next("GET", path, "huge_number")
        as_json = run(url, "--format", "json", "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["error"] == {"type": "api", "message": message, "method": "GET", "path": path,
                                                   "status": 200}
    in_process = Sandbox(token=TOKEN)
    in_process.wrong_shape_next("GET", path, "huge_number")
    assert planned_in_process(in_process, tmp_path) == message


def test_a_write_answered_with_a_number_of_5000_digits_is_one_error(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "new-deny"}])
    with served() as (sandbox, url):
        sandbox.wrong_shape_next("POST", "/stages/deny/", "huge_number")
        result = run(url, "apply", str(tmp_path), "--auto-approve")
    message = "POST /stages/deny/: authentik answered 201 with a number of more than 4300 digits"
    assert result.exit_code == 1
    assert result.output.splitlines()[-5:] == [
        f"  failed to create deny/new-deny (POST /api/v3/stages/deny/): {message}",
        f"error: deny/new-deny: {message}",
        "Applied 0 of 1 changes; 1 failed.",
        "  failed:        create deny/new-deny (POST /api/v3/stages/deny/)",
        f"                 {message}"]
