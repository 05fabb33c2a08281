"""The CLI contract for CI and cron jobs: exit codes (0, 1, 2, 3, 130), errors as JSON with a stable
shape under `--format json`, and GitHub Actions annotations and job summaries."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
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
    error = json.loads(as_json.stdout)["error"]
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
    assert json.loads(manifest.stdout) == {"error": {
        "type": "manifest", "message": "1 problem(s)",
        "problems": [{"file": str(INVALID / "unknown-field.yaml"), "line": 5, "column": 5,
                      "message": "unknown field (did you mean 'show_matched_user'?)",
                      "subject": "identification/login-id", "field": "show_matched_usr"}]}}
    write_manifest(tmp_path, [{"kind": "user_login", "name": "x"}])
    unreachable = run("http://127.0.0.1:9", "plan", str(tmp_path), "--format", "json",
                      env={"AUTHENTIK_RETRIES": "0"})  # no backoff to sleep through, no wait announced
    error = json.loads(unreachable.stdout)["error"]
    assert unreachable.exit_code == 1
    assert (error["type"], error["method"], error["path"], error["status"]) == ("api", "GET", "/admin/version/", None)
    assert error["message"].startswith("cannot reach authentik at http://127.0.0.1:9")
    with served() as (_, url):
        bad_token = run(url, "plan", str(tmp_path), "--format", "json", env={"AUTHENTIK_TOKEN": "wrong"})
        assert json.loads(bad_token.stdout)["error"]["status"] == 403
        write_manifest(tmp_path, [{"kind": "identification", "name": "x", "user_fields": ["email"],
                                   "password_stage": {"stage": "nope"}}])
        unresolved = json.loads(run(url, "plan", str(tmp_path), "--format", "json").stdout)["error"]
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
    from reconciler.cli.github import github_annotations
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


# -- options before or after the command ---------------------------------------------------------
def reconciler(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The tool as a process (logging is set up once per process, so -v is seen only there)."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_"))}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True,
                          env={**environ, "NO_COLOR": "1"}, cwd=cwd, timeout=60, check=False)


def test_global_options_go_before_or_after_the_command(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login",
                               "session_duration": "hours=2"}])
    for args in (("--sandbox", "plan", str(tmp_path)), ("plan", str(tmp_path), "--sandbox")):
        result = run("http://127.0.0.1:9", *args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.startswith("Plan for authentik 2026.2.2 at http://sandbox:\n"), args
    before = run("http://127.0.0.1:9", "--format", "json", "--sandbox", "--api-version", "2023.10.7", "plan",
                 str(tmp_path))
    assert before.exit_code == 0 and json.loads(before.stdout)["api_version"] == "2023.10.7"
    # Written after the command, an option wins over the same option before it.
    after = run("http://127.0.0.1:9", "--format", "json", "--sandbox", "plan", str(tmp_path), "--format", "text")
    assert after.exit_code == 0 and after.stdout.startswith("Plan for authentik 2026.2.2 at http://sandbox:\n")
    with served() as (_, url):
        # --url before the command beats AUTHENTIK_URL, as after it.
        via_option = run("http://127.0.0.1:9", "--url", url, "plan", str(tmp_path))
        assert via_option.exit_code == 0 and via_option.stdout.startswith(f"Plan for authentik 2026.2.2 at {url}:")


def test_a_global_option_is_checked_against_the_command(tmp_path: Path) -> None:
    markdown = run("http://127.0.0.1:9", "--format", "markdown", "apply", str(tmp_path))
    assert markdown.exit_code == 1
    assert markdown.output.endswith("Error: Invalid value for '--format': 'markdown' is not one of 'text', "
                                    "'json'.\n")
    state = run("http://127.0.0.1:9", "--state", "s.json", "show", "plan.json")
    assert (state.exit_code, state.output) == (1, "Usage: cli show [OPTIONS] FILE\nTry 'cli show --help' for "
                                                  "help.\n\nError: 'cli show' does not take --state\n")
    as_json = run("http://127.0.0.1:9", "--format", "json", "--sandbox", "validate", str(tmp_path))
    assert as_json.exit_code == 1
    assert json.loads(as_json.output) == {"error": {"type": "usage",
                                                    "message": "'cli validate' does not take --sandbox"}}


BAD_ENVIRONMENT = {
    "AUTHENTIK_INSECURE": ("--insecure", "'maybe' is not a valid boolean. Recognized values: , 0, 1, f, false, n, "
                                         "no, off, on, t, true, y, yes", "maybe"),
    "AUTHENTIK_TIMEOUT": ("--timeout", "'abc' is not a valid float range.", "abc"),
    "AUTHENTIK_RETRIES": ("--retries", "99 is not in the range 0<=x<=20.", "99"),  # 0-20 since issue #20
}
"""A value each typed variable of the group's options refuses, and the command's error for it."""


def test_a_global_options_variable_is_read_by_the_commands_that_take_it_only(tmp_path: Path) -> None:
    from reconciler.cli.main import cli

    group_options = {param.name for param in cli.params}
    takers = {name: {param.envvar for param in command.params if param.envvar and param.name in group_options}
              for name, command in cli.commands.items()}
    assert set().union(*takers.values()) == {"AUTHENTIK_URL", "AUTHENTIK_TOKEN", *BAD_ENVIRONMENT}
    write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login"}])
    saved = tmp_path / "plan.json"
    assert run("http://127.0.0.1:9", "--sandbox", "plan", str(tmp_path), "--out", str(saved)).exit_code == 0
    arguments = {"validate": [str(tmp_path)], "show": [str(saved)], "explain": ["deny"], "plan": [str(tmp_path)],
                 "apply": [str(tmp_path)], "adopt": [str(tmp_path)], "export": [], "init": [str(tmp_path / "repo")]}
    assert set(arguments) == set(takers) - {"sandbox"}  # which serves until stopped
    for command, args in arguments.items():
        if not takers[command]:  # validate, show, explain: the variables are nothing to them
            assert_ignores_the_variables(command, args)
            continue
        assert takers[command] == {"AUTHENTIK_URL", "AUTHENTIK_TOKEN", *BAD_ENVIRONMENT}, command
        assert_refuses_each_bad_variable(command, args)


def assert_ignores_the_variables(command: str, args: list[str]) -> None:
    """`command` runs the same with every variable of the group's options set to a bad value."""
    bad = {variable: value for variable, (_, _, value) in BAD_ENVIRONMENT.items()}
    unset = run("http://127.0.0.1:9", command, *args)
    ignored = run("ftp://nowhere", command, *args, env={**bad, "AUTHENTIK_TOKEN": "\x01"})
    assert (ignored.exit_code, ignored.output) == (unset.exit_code, unset.output) and unset.exit_code == 0


def assert_refuses_each_bad_variable(command: str, args: list[str]) -> None:
    """`command` refuses each variable of BAD_ENVIRONMENT set to its bad value, naming the option."""
    for variable, (option, problem, value) in BAD_ENVIRONMENT.items():
        refused = run("http://127.0.0.1:9", command, *args, env={variable: value})
        assert refused.exit_code == 1, (command, variable)
        assert refused.output.startswith(f"Usage: cli {command} [OPTIONS]"), (command, variable)
        assert refused.output.endswith(f"Error: Invalid value for '{option}': {problem}\n"), (command, variable)


def test_verbose_before_or_after_the_command(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login"}])
    request = 'INFO httpx: HTTP Request: GET http://sandbox/api/v3/admin/version/ "HTTP/1.1 200 OK"'
    for args in (("-v", "plan", str(tmp_path), "--sandbox"), ("plan", str(tmp_path), "--sandbox", "-v")):
        result = reconciler(*args)
        assert result.returncode == 0, result.stderr
        assert request in result.stderr.splitlines(), args
    quiet = reconciler("plan", str(tmp_path), "--sandbox")
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr
    # One -v on each side counts as -vv: debug lines too.
    both = reconciler("-v", "plan", str(tmp_path), "--sandbox", "-v")
    assert request in both.stderr.splitlines()
    assert any(line.startswith("DEBUG ") for line in both.stderr.splitlines())


# -- which state file ----------------------------------------------------------------------------
DUO = [{"kind": "authenticator_duo", "name": "duo", "client_id": "DI1", "client_secret": {"env": "S"},
        "api_hostname": "h"}]


def test_each_command_says_which_state_file_it_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    config = tmp_path / "config"
    config.mkdir()
    write_manifest(config, DUO)
    monkeypatch.chdir(tmp_path)
    env = {"S": "duo-secret-value"}
    with served() as (_, url):
        for args in (("plan", "config"), ("apply", "config", "--auto-approve"), ("adopt", "config"),
                     ("plan", "config", "--out", "plan.json")):
            result = run(url, *args, env=env)
            assert result.exit_code == 0, (args, result.output)
            assert result.stderr.splitlines().count("state: ./reconciler.state.json") == 1, (args, result.stderr)
            assert result.stderr.count("state:") == 1
        saved = run(url, "apply", "--plan", "plan.json", "--auto-approve", "--format", "json", env=env)
        assert saved.stderr.splitlines() == ["state: ./reconciler.state.json"]
        assert json.loads(saved.stdout)["state_file"] == "reconciler.state.json"
        planned = run(url, "plan", "config", "--format", "json", "--state", str(tmp_path / "other.json"), env=env)
        assert planned.stderr == "state: ./other.json\n"
        assert json.loads(planned.stdout)["state_file"] == "other.json"
    sandboxed = run("http://127.0.0.1:9", "apply", "config", "--sandbox", "--auto-approve", "--format", "json",
                    env=env)
    assert sandboxed.stderr.splitlines() == ["state: none (sandbox)",  # then each change as it is made
                                             "  created authenticator_duo/duo (POST /api/v3/stages/authenticator/duo/)"]
    assert json.loads(sandboxed.stdout)["state_file"] is None


# -- --ignore-changes ----------------------------------------------------------------------------
def test_ignore_changes_must_name_a_field_of_a_kind_in_play(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "identification", "name": "x", "user_fields": ["email"]}])
    result = run("http://127.0.0.1:9", "plan", str(tmp_path), "--sandbox", "--ignore-changes", "show_matched_usr",
                 "--ignore-changes", "client_secret", "--ignore-changes", "show_matched_user")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: --ignore-changes client_secret: no kind in the manifests has this field in authentik 2026.2.2; "
        "--ignore-changes show_matched_usr: no kind in the manifests has this field in authentik 2026.2.2 "
        "(did you mean 'show_matched_user'?)")
    # The model of the API version in use decides: `webauthn_stage` is new in 2026.2.2.
    newer = run("http://127.0.0.1:9", "plan", str(tmp_path), "--sandbox", "--ignore-changes", "webauthn_stage")
    assert newer.exit_code == 0, newer.output
    older = run("http://127.0.0.1:9", "plan", str(tmp_path), "--sandbox", "--api-version", "2023.10.7",
                "--ignore-changes", "webauthn_stage")
    assert older.exit_code == 1 and older.stderr.splitlines()[-1] == (
        "error: --ignore-changes webauthn_stage: no kind in the manifests has this field in authentik 2023.10.7")


# -- a fast --help -------------------------------------------------------------------------------
def test_the_cli_module_imports_no_engine_dependency() -> None:
    # `reconciler --help` must not pay for httpx, jsonschema, deepdiff, yaml or the engine.
    code = ("import sys, reconciler.cli.main; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in {'httpx', 'jsonschema', 'deepdiff', 'yaml', 'anyio'} "
            "or m.startswith('reconciler.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["reconciler.cli", "reconciler.cli.commands", "reconciler.cli.github",
                              "reconciler.cli.logs", "reconciler.cli.main", "reconciler.cli.options",
                              "reconciler.cli.outcomes", "reconciler.cli.progress", "reconciler.errors",
                              "reconciler.model", "reconciler.model.versions", "reconciler.values"]


def test_the_cli_offers_the_sections_of_every_model_as_families() -> None:
    # The rule, not a copy: the choices are what the models hold, in export order.
    from reconciler.cli.main import cli
    from reconciler.model.kinds import load_model
    from reconciler.model.versions import known_sections, known_versions

    export = cli.commands["export"]
    choice = next(param for param in export.params if param.name == "families").type
    assert isinstance(choice, click.Choice)
    assert list(choice.choices) == list(known_sections())
    assert set(choice.choices) == {section for v in known_versions() for section in load_model(v).sections}
    newest = load_model(known_versions()[-1])
    assert list(newest.sections) == [s for s in known_sections() if s in newest.sections]


# -- the state file CI commits -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def readme_pipeline() -> list[str]:
    """The README's shortest pipeline: its `- run:` lines."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("The shortest pipeline, in one job:\n\n```yaml\n")[1].split("```")[0]
    return [line.removeprefix("- run: ") for line in block.splitlines()]


def kit_state_pathspecs() -> set[str]:
    """The pathspec the CI kit's apply jobs find the state files to commit with."""
    found = set()
    kit = ROOT / "examples" / "ci"
    for path in (kit / "github" / "apply.yml", kit / "gitlab" / ".gitlab-ci.yml"):
        found.update(re.findall(r"git ls-files --modified --others --exclude-standard -- '([^']+)'",
                                path.read_text(encoding="utf-8")))
    return found


def test_ci_examples_commit_the_state_file_apply_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan_line, apply_line, commit_line = readme_pipeline()
    assert plan_line.startswith("reconciler plan config/ --out plan.json") and \
        apply_line == "reconciler apply --plan plan.json --auto-approve"
    [committed] = re.findall(r"^git add (\S+) &&", commit_line)
    [pathspec] = kit_state_pathspecs()
    for plan_file in ("plan.json", str(tmp_path / "elsewhere" / "plan.json")):  # GitHub's kit: in $RUNNER_TEMP
        repo = tmp_path / f"repo-{len(plan_file)}"
        (repo / "config").mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        write_manifest(repo / "config", DUO)
        monkeypatch.chdir(repo)
        env = {"S": "duo-secret-value"}
        with served() as (_, url):
            planned = run(url, *shlex.split(plan_line.split(" ||")[0])[1:], env=env)
            assert planned.exit_code == 2, planned.output
            Path(plan_file).parent.mkdir(exist_ok=True)
            Path("plan.json").rename(plan_file)
            applied = run(url, "apply", "--plan", plan_file, "--auto-approve", env=env)
            assert applied.exit_code == 0, applied.output
        written = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.json") if p.name != "plan.json")
        assert written == [committed] == ["reconciler.state.json"]
        assert applied.stderr.startswith(f"state: ./{committed}\n")
        listed = subprocess.run(["git", "ls-files", "--modified", "--others", "--exclude-standard", "--", pathspec],
                                capture_output=True, text=True, check=True).stdout.split()
        assert [name for name in listed if name != "plan.json"] == [committed]


def test_the_cli_defaults_to_applys_parallelism() -> None:
    from reconciler.applying.runner import DEFAULT_PARALLELISM
    from reconciler.cli.commands import PARALLELISM

    assert PARALLELISM == DEFAULT_PARALLELISM
