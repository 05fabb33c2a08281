"""A saved plan is checked before it is trusted, through the CLI against the sandbox over HTTP: a
number Python cannot read, a record of the wrong type, a method that is not its action's, an edit
made without the key (the keyed digest), and a secret value written into it in clear are each one
error naming the file, and `apply --plan` makes no call."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import TOKEN, run, served, writes
from test_saved_plans import DUO, ENV, duo, resealed, saved, write_manifest

from reconciler.sandbox import Sandbox


def planned(tmp_path: Path, url: str, env: dict[str, str] = ENV) -> dict[str, Any]:
    """The saved plan of DUO (one create), as data."""
    write_manifest(tmp_path, DUO)
    saved(url, tmp_path, tmp_path / "plan.json", env)
    data: dict[str, Any] = json.loads((tmp_path / "plan.json").read_text())
    return data


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "edited.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def refused(sandbox: Sandbox, url: str, path: Path, env: dict[str, str] = ENV) -> str:
    """The one-line error of `apply --plan path` (exit 1), which made no call at all."""
    sandbox.clear_log()
    result = run(url, "apply", "--plan", str(path), "--auto-approve", env=env)
    assert result.exit_code == 1, result.output
    assert sandbox.requests == []
    # These plans are saved outside the working folder: the state file they name is ignored out
    # loud (tests/test_saved_plans.py `refused`), before the plan is checked.
    ignored = "WARNING reconciler.pipeline: ignoring the state file the plan names ("
    return "".join(line for line in result.output.splitlines(keepends=True) if not line.startswith(ignored))


# -- 1. numbers Python will not convert -------------------------------------------------------
@pytest.mark.parametrize(("number", "problem"), [
    ("9" * 5000, "a number of more than 4300 digits"),
    ("1e999", "a number too large for JSON: 1e999"),
    ("NaN", "NaN is not JSON"),
])
def test_a_number_python_cannot_read_is_one_error_naming_the_file(tmp_path: Path, number: str, problem: str) -> None:
    with served() as (sandbox, url):
        text = json.dumps(planned(tmp_path, url)).replace('"unchanged": 0', f'"unchanged": {number}', 1)
        path = write(tmp_path, text)
        assert refused(sandbox, url, path) == f"error: {path}: not a saved plan ({problem})\n"
    shown = run("http://127.0.0.1:9", "show", str(path))
    assert (shown.exit_code, shown.output) == (1, f"error: {path}: not a saved plan ({problem})\n")


# -- 2. every record type-checked ---------------------------------------------------------------
def at(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["changes"][0][key] = value
    return edit


def top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data[key] = value
    return edit


def live(data: dict[str, Any]) -> None:
    data["changes"][0]["live"] = {"fingerprint": "hmac-sha256:00", "fields": {"name": 7}}


def edited_plan(tmp_path: Path, url: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A saved plan of the example, edited by `edit` and written back."""
    data = planned(tmp_path, url)
    edit(data)
    return write(tmp_path, data)


@pytest.mark.parametrize(("edit", "problem"), [
    (at("path", 3), "change 1: path must be text"),
    (at("address", "saved-duo"), "change 1: address 'saved-duo' must be KIND/NAME (KIND alone for the settings)"),
    (at("address", ["a"]), "change 1: address must be text"),
    (at("kind", None), "change 1: kind must be text"),
    (at("fields", {"name": "x"}), "change 1: fields['name'] must be an object"),
    (at("depends_on", "a/b"), "change 1: depends_on must be a list"),
    (at("depends_on", [1]), "change 1: depends_on[0] must be text"),
    (at("notes", [{}]), "change 1: notes[0] must be text"),
    (at("secrets", {"client_secret": 1}), "change 1: secrets['client_secret'] must be text"),
    (at("companions", {"client_id": {"why": 1}}), "change 1: companions['client_id'].why must be text"),
    (at("companions", {"nope": {"why": "x"}}), "change 1: companions['nope'] is not in the body"),
    (at("id", {"pk": 1}), "change 1: id must be text, a number or null"),
    (live, "change 1: live.fields['name'] must be text"),
    (top("created_at", 1), "created_at must be text"),
    (top("manifests", {"files": "2"}), "manifests.files must be a whole number"),
    (top("summary", []), "summary must be an object"),
    (top("state_file", 1), "state_file must be text"),
    (top("forced", "yes"), "forced must be true or false"),
    (top("owns", [{"address": "a/b", "kind": 1}]), "owns[0].kind must be text"),
    (top("unmanaged", ["a/b"]), "unmanaged[0] must be an object"),
    (top("digest", {"key": "state", "key_id": "x", "hmac_sha256": 1}), "digest.hmac_sha256 must be text"),
])
def test_a_record_of_the_wrong_type_is_one_error_naming_the_file_and_the_key(
        tmp_path: Path, edit: Callable[[dict[str, Any]], None], problem: str) -> None:
    with served() as (sandbox, url):
        path = edited_plan(tmp_path, url, edit)
        assert refused(sandbox, url, path) == f"error: {path}: {problem}\n"
        shown = run(url, "show", str(path), "--format", "json")
        assert (shown.exit_code, json.loads(shown.output)) == (
            1, {"error": {"type": "plan_file", "message": f"{path}: {problem}"}})


# -- 3. a method that is not its action's, a path that is not the object's --------------------
def test_a_method_other_than_the_actions_is_refused_at_load_naming_the_change(tmp_path: Path) -> None:
    with served() as (sandbox, url):
        data = planned(tmp_path, url)
        data["changes"][0]["method"] = "DELETE"
        path = write(tmp_path, resealed(data))
        problem = (f"{path}: change 1: method 'DELETE' does not match its action 'create' (a create is a POST): "
                   "the plan was edited; plan again")
        assert refused(sandbox, url, path) == f"error: {problem}\n"
        assert run(url, "show", str(path)).output == f"error: {problem}\n"


def test_an_update_sent_to_another_path_than_its_objects_is_refused(tmp_path: Path) -> None:
    with served() as (sandbox, url):
        write_manifest(tmp_path, DUO)
        assert run(url, "apply", str(tmp_path), "--auto-approve", env=ENV).exit_code == 0
        write_manifest(tmp_path, [{**DUO[0], "api_hostname": "api-2.example"}])
        saved(url, tmp_path, tmp_path / "plan.json")
        data = json.loads((tmp_path / "plan.json").read_text())
        assert [(c["action"], c["method"]) for c in data["changes"]] == [("update", "PATCH")]
        data["changes"][0]["path"] = "/api/v3/stages/authenticator/duo/"
        path = write(tmp_path, resealed(data))
        sandbox.clear_log()
        result = run(url, "apply", "--plan", str(path), "--auto-approve", env=ENV)
        assert result.exit_code == 1
        assert ("authenticator_duo/saved-duo: the plan calls /api/v3/stages/authenticator/duo/, but that object "
                f"lives at /api/v3/stages/authenticator/duo/{duo(sandbox)['pk']}/") in result.output
        assert writes(sandbox) == []


# -- 4. the keyed digest ------------------------------------------------------------------------
def test_a_plan_edited_without_the_key_is_refused_and_show_says_so(tmp_path: Path) -> None:
    with served() as (sandbox, url):
        data = planned(tmp_path, url)
        assert data["digest"]["key"] == "state" and len(data["digest"]["hmac_sha256"]) == 64
        assert TOKEN not in json.dumps(data)
        data["changes"][0]["body"]["api_hostname"] = "evil.example"
        path = write(tmp_path, data)
        message = ("the saved plan was changed since it was made (its digest does not match its content)")
        assert refused(sandbox, url, path) == f"error: {path}: {message}, nothing was applied: plan again\n"
        shown = run(url, "show", str(path))
        assert shown.exit_code == 0
        assert shown.output.startswith(f"warning: {message}: plan again\n\nPlan for authentik 2026.2.2 at {url}:")
        as_json = json.loads(run(url, "show", str(path), "--format", "json").output)
        assert as_json["digest_check"] == {"verified": False, "message": message, "advice": "plan again"}
        markdown = run(url, "show", str(path), "--format", "markdown").output
        assert markdown.startswith(f"> **Warning:** {message}: plan again\n\n### authentik-reconciler plan")
        # Untouched, the same file verifies: show prints what plan printed, and JSON says so.
        verified = json.loads(run(url, "show", str(tmp_path / "plan.json"), "--format", "json").output)
        assert verified["digest_check"] == {"verified": True, "advice": "",
                                            "message": "the saved plan's digest verifies: it is as it was made"}


def no_digest(data: dict[str, Any]) -> None:
    del data["digest"]


def not_ascii(data: dict[str, Any]) -> None:
    # hmac.compare_digest raises TypeError on non-ASCII text: show and apply ended in exit 3.
    data["digest"]["hmac_sha256"] = "é"


@pytest.mark.parametrize(("edit", "message"), [
    (no_digest, "the saved plan carries no digest (made by an older version of the tool, or edited)"),
    (not_ascii, "the saved plan was changed since it was made (its digest does not match its content)"),
])
def test_a_plan_whose_digest_cannot_verify_is_refused_by_apply_and_shown_with_a_warning(
        tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str) -> None:
    with served() as (sandbox, url):
        path = edited_plan(tmp_path, url, edit)
        assert refused(sandbox, url, path) == f"error: {path}: {message}, nothing was applied: plan again\n"
        shown = run(url, "show", str(path))
        assert (shown.exit_code, shown.output.splitlines()[0]) == (0, f"warning: {message}: plan again")


def test_the_plan_key_signs_the_plan_and_show_checks_it_offline(tmp_path: Path) -> None:
    keyed = {**ENV, "RECONCILER_PLAN_KEY": "plan-key-1"}
    with served() as (sandbox, url):
        data = planned(tmp_path, url, keyed)
        assert data["digest"]["key"] == "RECONCILER_PLAN_KEY"
        assert "plan-key-1" not in json.dumps(data)
        plan = tmp_path / "plan.json"
        other_key = "the saved plan's digest cannot be checked: the fingerprint key differs from the plan's"
        assert refused(sandbox, url, plan) == (f"error: {plan}: {other_key}, nothing was applied: set "
                                               "RECONCILER_PLAN_KEY as when the plan was made\n")
        assert refused(sandbox, url, plan, {**ENV, "RECONCILER_PLAN_KEY": "plan-key-2"}).startswith(
            f"error: {plan}: {other_key}")
        offline = {"AUTHENTIK_TOKEN": "", "RECONCILER_PLAN_KEY": "plan-key-1"}
        assert json.loads(run("http://127.0.0.1:9", "show", str(plan), "--format", "json", env=offline).output)[
            "digest_check"]["verified"] is True
        no_key = run("http://127.0.0.1:9", "show", str(plan), env={"AUTHENTIK_TOKEN": ""})
        assert no_key.output.splitlines()[0] == ("warning: the saved plan's digest cannot be checked: no key is set: "
                                                 "set RECONCILER_PLAN_KEY as when the plan was made")
        sandbox.clear_log()
        applied = run(url, "apply", "--plan", str(plan), "--auto-approve", env=keyed)
        assert applied.exit_code == 0, applied.output
        assert [(m, p) for m, p, _ in writes(sandbox)] == [("POST", "/api/v3/stages/authenticator/duo/")]


# -- 5. a secret value in clear -----------------------------------------------------------------
def test_a_secret_value_in_clear_is_refused_and_never_shown(tmp_path: Path) -> None:
    with served() as (sandbox, url):
        data = planned(tmp_path, url)
        change = data["changes"][0]
        change["body"]["client_secret"] = "clear-secret-value"
        change["sensitive"] = []
        path = write(tmp_path, resealed(data))
        assert refused(sandbox, url, path) == (
            f"error: {path}: the saved plan holds a secret value in clear, which a saved plan never does (it "
            "carries each secret's source), nothing was applied: authenticator_duo/saved-duo: client_secret\n")
        for fmt in ("text", "json", "markdown"):
            shown = run(url, "show", str(path), "--format", fmt)
            assert shown.exit_code == 0, shown.output
            assert "clear-secret-value" not in shown.output and "(sensitive)" in shown.output
        assert "+ client_secret = (sensitive)" in run(url, "show", str(path)).output


# -- found by a review of the above ---------------------------------------------------------------
def test_a_secret_source_that_is_no_mapping_is_named_by_its_type_never_its_value(tmp_path: Path) -> None:
    with served() as (sandbox, url):
        data = planned(tmp_path, url)
        data["changes"][0]["body"]["client_secret"] = {"$secret": "TOPSECRET1"}
        path = write(tmp_path, resealed(data))
        expected = (f"error: {path}: change 1: body: a secret's source must be a mapping of strings, not text\n")
        assert refused(sandbox, url, path) == expected
        for fmt in ("text", "json", "markdown"):
            shown = run(url, "show", str(path), "--format", fmt)
            assert shown.exit_code == 1 and "TOPSECRET1" not in shown.output


@pytest.mark.parametrize("edit", [top("api_version", "1999.1"), at("kind", "zz_unknown")])
def test_a_plan_the_tool_has_no_model_of_is_not_shown(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    # Without the model the tool cannot tell a secret in clear from a plain value: show printed it.
    with served() as (_, url):
        data = planned(tmp_path, url)
        data["changes"][0]["body"]["client_secret"] = "TOPSECRET1"
        data["changes"][0]["sensitive"] = []
        edit(data)
        path = write(tmp_path, resealed(data))
        for fmt in ("text", "json", "markdown"):
            shown = run(url, "show", str(path), "--format", fmt)
            assert shown.exit_code == 1 and "TOPSECRET1" not in shown.output, shown.output
