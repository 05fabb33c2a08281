"""The CLI contract for CI and cron jobs: exit codes (0, 1, 2, 3, 130), errors as JSON with a stable
shape under `--format json`, and GitHub Actions annotations and job summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import run, served, write_manifest

from reconciler import engine

INVALID = Path(__file__).parent / "fixtures" / "invalid"
GITHUB = {"GITHUB_ACTIONS": "true"}


def test_usage_errors_exit_1_not_2() -> None:
    # 2 is "the plan has changes" to --detailed-exitcode users.
    for args in (("plan",), ("plan", "--no-such-option", "x"), ("show",), ("apply", "--plan", "p.json", "x")):
        result = run("http://127.0.0.1:9", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output


def test_an_internal_error_exits_3_with_a_traceback_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine, "plan", broken)
    write_manifest(tmp_path, [])
    result = run("http://127.0.0.1:9", "plan", str(tmp_path))
    assert result.exit_code == 3
    [line] = result.output.splitlines()
    assert line.startswith("error: unexpected internal error; details in ")
    crash = Path(line.rsplit(" ", 1)[1])
    assert "RuntimeError: a bug" in crash.read_text() and "Traceback" not in result.output
    as_json = run("http://127.0.0.1:9", "plan", str(tmp_path), "--format", "json")
    error = json.loads(as_json.output)["error"]
    assert as_json.exit_code == 3 and error["type"] == "internal" and Path(error["traceback_file"]).exists()


def test_ctrl_c_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "plan", interrupted)
    result = run("http://127.0.0.1:9", "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (130, "interrupted\n")


def test_errors_are_json_with_a_stable_shape(tmp_path: Path) -> None:
    with served() as (_, url):
        manifest = run(url, "plan", str(INVALID / "unknown-field.yaml"), "--format", "json")
    assert manifest.exit_code == 1
    assert json.loads(manifest.output) == {"error": {
        "type": "manifest", "message": "1 problem(s)",
        "problems": [{"file": str(INVALID / "unknown-field.yaml"), "line": 5, "column": 5,
                      "message": "unknown field (did you mean 'show_matched_user'?)",
                      "subject": "identification/login-id", "field": "show_matched_usr"}]}}
    write_manifest(tmp_path, [{"kind": "user_login", "name": "x"}])
    unreachable = run("http://127.0.0.1:9", "plan", str(tmp_path), "--format", "json",
                      env={"AUTHENTIK_RETRIES": "0"})  # no backoff to sleep through, no wait announced
    error = json.loads(unreachable.output)["error"]
    assert unreachable.exit_code == 1
    assert (error["type"], error["method"], error["path"], error["status"]) == ("api", "GET", "/admin/version/", None)
    assert error["message"].startswith("cannot reach authentik at http://127.0.0.1:9")
    with served() as (_, url):
        bad_token = run(url, "plan", str(tmp_path), "--format", "json", env={"AUTHENTIK_TOKEN": "wrong"})
        assert json.loads(bad_token.output)["error"]["status"] == 403
        write_manifest(tmp_path, [{"kind": "identification", "name": "x", "user_fields": ["email"],
                                   "password_stage": {"stage": "nope"}}])
        unresolved = json.loads(run(url, "plan", str(tmp_path), "--format", "json").output)["error"]
        assert unresolved["type"] == "plan" and unresolved["problems"][0]["field"] == "password_stage"


def test_github_annotations_for_validation_and_plan_problems(tmp_path: Path) -> None:
    result = run("http://127.0.0.1:9", "validate", str(INVALID / "many-problems.yaml"), env=GITHUB)
    assert result.exit_code == 1
    file = str(INVALID / "many-problems.yaml")
    assert (f"::error file={file},line=6,col=5::identification/many: show_matched_user: expected a boolean, "
            "got a string") in result.output.splitlines()
    write_manifest(tmp_path, [{"kind": "identification", "name": "x", "user_fields": ["email"],
                               "password_stage": {"stage": "nope"}}])
    with served() as (_, url):
        planned = run(url, "plan", str(tmp_path), env=GITHUB)
    assert planned.exit_code == 1
    [annotation] = [line for line in planned.output.splitlines() if line.startswith("::error")]
    assert annotation.startswith(f"::error file={tmp_path}/stages.yaml,line=6,col=3::identification/x: "
                                 "password_stage: {stage: nope} does not resolve")


def test_annotations_escape_what_github_would_misread() -> None:
    from reconciler.cli import github_annotations
    from reconciler.errors import Problem

    [line] = github_annotations([Problem("a,b:c.yaml", 1, 2, "100% wrong\nreally", "k/n", "f")])
    assert line == "::error file=a%2Cb%3Ac.yaml,line=1,col=2::k/n: f: 100%25 wrong%0Areally"


def test_the_plan_goes_to_the_job_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login",
                               "session_duration": "hours=2"}])
    with served() as (_, url):
        result = run(url, "plan", str(tmp_path), "--detailed-exitcode",
                     env={**GITHUB, "GITHUB_STEP_SUMMARY": str(summary)})
        assert result.exit_code == 2
        text = summary.read_text()
        assert text.startswith("earlier step\n### authentik-reconciler plan (authentik 2026.2.2)\n")
        assert "| update | `user_login/default-authentication-login` | `session_duration` |" in text
        # Off GitHub Actions the same variable is ignored.
        without = run(url, "plan", str(tmp_path), env={"GITHUB_STEP_SUMMARY": str(tmp_path / "other.md")})
        assert without.exit_code == 0 and not (tmp_path / "other.md").exists()


def test_usage_errors_are_json_too_when_json_was_asked_for() -> None:
    for args in (("plan", "x", "--format", "json", "--bogus"), ("plan", "--format=json", "--api-version", "1.0")):
        result = run("http://127.0.0.1:9", *args)
        assert result.exit_code == 1
        error = json.loads(result.output)["error"]
        assert error["type"] == "usage" and error["message"]
