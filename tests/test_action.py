"""The GitHub Action (`action.yml`, composite): valid against check-jsonschema's built-in schema of
actions, its shell steps clean under shellcheck, and its steps run as GitHub runs them (bash
`-eo pipefail`, the `env:` and `if:` expressions evaluated, GITHUB_OUTPUT, GITHUB_EVENT_PATH and
the rest set as on a runner) against the sandbox over HTTP, with GitHub's comment API served by a
fake on 127.0.0.1."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from support import TOKEN, served, write_manifest
from test_ci_kit import check_schema_both_ways, cli_problems, reconciler_commands, shellcheck

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"


def action() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return document


def bash_steps() -> list[dict[str, Any]]:
    return [step for step in action()["runs"]["steps"] if "run" in step]


# --- The file ------------------------------------------------------------------------------------


def test_the_action_matches_the_schema_of_actions_offline(tmp_path: Path) -> None:
    check_schema_both_ways("vendor.github-actions", ACTION, tmp_path, "using: composite", "using: compose")


def test_the_steps_pass_shellcheck_and_take_inputs_only_through_env() -> None:
    failures = []
    for step in bash_steps():
        assert step["shell"] == "bash"
        # An expression inside a script is a script injection: inputs reach it as variables.
        assert "${{" not in step["run"], step["name"]
        result = shellcheck(step["run"])
        if result.returncode != 0:
            failures.append(f"{step['name']}:\n{result.stdout}")
    assert not failures, "\n".join(failures)


def test_the_outputs_are_the_run_steps() -> None:
    outputs = action()["outputs"]
    assert {name: spec["value"] for name, spec in outputs.items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in ("exitcode", "has-changes", "plan-file")}


# --- Running the steps as a runner does ----------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONTEXT = re.compile(r"\b(inputs|github|steps|env)((?:\.[A-Za-z_][\w-]*)+)")


@dataclass
class Runner:
    """The runner's side of a job: its environment and files, the action's inputs, and what each
    step did."""

    workspace: Path
    inputs: dict[str, str]
    env: dict[str, str]
    github: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    used: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    failed: bool = False

    def lookup(self, path: str) -> str:
        context, *keys = path.split(".")
        if context == "inputs":
            return self.inputs[keys[0]]
        if context == "github":
            return self.github[keys[0]]
        if context == "steps":
            return self.outputs.get(keys[0], {}).get(keys[2], "")
        return self.env.get(keys[0], "")

    def evaluate(self, expression: str) -> Any:
        """GitHub's expression syntax for what action.yml uses: contexts, string literals, `==`,
        `!=`, `&&`, `||`, `always()`."""
        python = CONTEXT.sub(lambda m: repr(self.lookup(m.group(1) + m.group(2))), expression)
        python = python.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
        return eval(python, {"__builtins__": {}}, {})  # the action's own, fixed expressions

    def substitute(self, value: str) -> str:
        return EXPRESSION.sub(lambda m: str(self.evaluate(m.group(1))), value)

    def run(self, step: dict[str, Any], replace_install: bool) -> None:
        condition = step.get("if")
        # GitHub's default condition is success(): after a failed step only always() runs.
        wanted = not (self.failed and "always()" not in str(condition)) and \
            (not condition or bool(self.evaluate(condition)))
        if not wanted:
            self.skipped.append(step.get("name") or step["uses"])
            return
        if "uses" in step:  # another action: recorded with the inputs it would get
            self.used.append((step.get("name") or step["uses"],
                              {key: self.substitute(str(value)) for key, value in step.get("with", {}).items()}))
            return
        if replace_install and step.get("id") == "install":
            return  # the test's environment already has the reconciler on PATH
        output = self.workspace.parent / f"output-{len(self.outputs)}"
        output.write_text("")
        env = {**self.env, **{key: self.substitute(str(value)) for key, value in step.get("env", {}).items()},
               "GITHUB_OUTPUT": str(output)}
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                cwd=self.workspace, env=env, capture_output=True, text=True, timeout=120, check=False)
        print(result.stdout, result.stderr)
        self.outputs[step.get("id", step["name"])] = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        self.failed = self.failed or result.returncode != 0


@dataclass
class FakeGitHub:
    """GitHub's issue-comment API for one pull request (#7 of owner/config), paginated."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                fake.calls.append(("GET", url.path))
                fake.tokens.add(self.headers["Authorization"])
                query = parse_qs(url.query)
                size, page = int(query["per_page"][0]), int(query["page"][0])
                assert url.path == "/repos/owner/config/issues/7/comments"
                self.answer(200, fake.comments[(page - 1) * size:page * size])

            def do_POST(self) -> None:
                fake.calls.append(("POST", self.path))
                assert self.path == "/repos/owner/config/issues/7/comments"
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.comments.append({"id": 1000 + len(fake.comments), "body": body["body"]})
                self.answer(201, fake.comments[-1])

            def do_PATCH(self) -> None:
                fake.calls.append(("PATCH", self.path))
                comment_id = int(self.path.rsplit("/", 1)[1])
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                comment = next(c for c in fake.comments if c["id"] == comment_id)
                comment["body"] = body["body"]
                self.answer(200, comment)

        return Handler


@contextmanager
def fake_github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def job(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], FakeGitHub]]:
    """A checked-out config repository, the environment GitHub sets for a pull request's job, and
    the fake comment API; `reconciler` on PATH runs this checkout."""
    workspace = tmp_path / "workspace"
    (workspace / "config").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "reconciler").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    (bin_dir / "reconciler").chmod(0o755)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    summary = tmp_path / "summary.md"
    with fake_github() as (fake, api):
        keep = {key: value for key, value in os.environ.items()
                if not key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_", "RUNNER_"))}
        env = {**keep, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
               "NO_COLOR": "1", "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
               "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "owner/config", "GITHUB_API_URL": api,
               "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42", "GITHUB_WORKSPACE": str(workspace),
               "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary),
               "GITHUB_PATH": str(tmp_path / "path"), "RUNNER_TEMP": str(runner_temp)}
        yield workspace, env, fake


def run_action(workspace: Path, environ: dict[str, str], **with_: str) -> Runner:
    """The action's steps with the inputs `with_` (underscores for dashes), the rest defaulted."""
    defaults = {name: str(spec.get("default", "")) for name, spec in action()["inputs"].items()}
    inputs = {**defaults, **{name.replace("_", "-"): value for name, value in with_.items()}}
    github = {"action_path": str(ROOT), "action_ref": "v9.8.7", "event_name": environ["GITHUB_EVENT_NAME"],
              "token": "github-token-ds21"}
    runner = Runner(workspace, {}, environ, github)
    runner.inputs = {name: runner.substitute(value) for name, value in inputs.items()}
    for step in action()["runs"]["steps"]:
        runner.run(step, replace_install=True)
    return runner


def test_plan_comment_apply_and_plan_again_against_the_sandbox(job: tuple[Path, dict[str, str], FakeGitHub]) -> None:
    workspace, env, github = job
    write_manifest(workspace / "config", [{"kind": "deny", "name": "ds21-action", "deny_message": "no"}])
    with served() as (sandbox, url):
        env = {**env, "AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN, "RECONCILER_STATE_KEY": "k" * 32}
        validated = run_action(workspace, env, command="validate")
        assert not validated.failed and validated.outputs["run"]["exitcode"] == "0"

        planned = run_action(workspace, env, command="plan", plan_file="plan.json", comment="true",
                             artifact="reconciler-plan")
        assert not planned.failed
        assert planned.outputs["run"] == {"exitcode": "2", "has-changes": "true", "plan-file": "plan.json"}
        assert planned.used == [("actions/setup-python@v6", {"python-version": "3.12"}),
                                ("Upload the plan", {"name": "reconciler-plan", "path": "plan.json",
                                                     "if-no-files-found": "error", "overwrite": "True"})]
        assert [call[0] for call in github.calls] == ["GET", "POST"]
        assert len(github.comments) == 1
        comment = github.comments[0]["body"]
        assert comment.startswith("<!-- authentik-reconciler plan: config -->\n### authentik plan: `config`")
        assert "| create | `deny/ds21-action` | `name` |" in comment and "**1** to create" in comment
        assert github.tokens == {"Bearer github-token-ds21"}

        again = run_action(workspace, env, command="plan", plan_file="plan.json", comment="true")
        assert again.outputs["run"]["has-changes"] == "true"
        assert [call[0] for call in github.calls] == ["GET", "POST", "GET", "PATCH"]
        assert len(github.comments) == 1  # updated in place, not duplicated

        apply_and_plan_again(workspace, env, github)
        assert [(r.method, r.path) for r in sandbox.requests if r.method != "GET"] == \
            [("POST", "/api/v3/stages/deny/")]
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "deny/ds21-action" in summary  # the tool's own job summary, as on GitHub


def apply_and_plan_again(workspace: Path, env: dict[str, str], github: FakeGitHub) -> None:
    """Apply the saved plan, then plan again: no changes, and the one comment says so."""
    applied = run_action(workspace, env, command="apply", plan_file="plan.json")
    assert not applied.failed and applied.outputs["run"] == {"exitcode": "0", "has-changes": "false"}
    clean = run_action(workspace, env, command="plan", comment="true")
    assert clean.outputs["run"]["exitcode"] == "0" and clean.outputs["run"]["has-changes"] == "false"
    assert len(github.comments) == 1 and "No changes" in github.comments[0]["body"]


def test_a_failed_plan_fails_the_step_and_says_so_in_the_comment(
        job: tuple[Path, dict[str, str], FakeGitHub]) -> None:
    workspace, env, github = job
    write_manifest(workspace / "config", [{"kind": "deny", "name": "ds21-action", "no_such_field": 1}])
    with served() as (_, url):
        failed = run_action(workspace, {**env, "AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN},
                            command="plan", comment="true")
    assert failed.failed and failed.outputs["run"]["exitcode"] == "1"
    assert len(github.comments) == 1 and ":x: No plan (exit code 1)" in github.comments[0]["body"]


def test_environments_get_a_comment_each(job: tuple[Path, dict[str, str], FakeGitHub]) -> None:
    """A matrix over environments: one comment per environment, each updated in place."""
    workspace, env, github = job
    write_manifest(workspace / "config", [{"kind": "deny", "name": "ds21-action", "deny_message": {"var": "m"}}])
    (workspace / "environments").mkdir()
    for name in ("staging", "production"):
        (workspace / "environments" / f"{name}.yaml").write_text(f"m: {name} says no\n")
    with served() as (_, url):
        env = {**env, "AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN}
        for name in ("staging", "production", "staging"):
            ran = run_action(workspace, env, command="plan", env=name, comment="true")
            assert ran.outputs["run"]["has-changes"] == "true"
    bodies = [comment["body"] for comment in github.comments]
    assert [body.splitlines()[0] for body in bodies] == ["<!-- authentik-reconciler plan: config (staging) -->",
                                                         "<!-- authentik-reconciler plan: config (production) -->"]
    assert "staging says no" in bodies[0] and "production says no" in bodies[1]


def test_url_and_token_inputs_override_the_jobs_environment(job: tuple[Path, dict[str, str], FakeGitHub]) -> None:
    workspace, env, _ = job
    write_manifest(workspace / "config", [{"kind": "deny", "name": "ds21-action"}])
    with served() as (_, url):
        wrong = {**env, "AUTHENTIK_URL": "http://127.0.0.1:9", "AUTHENTIK_TOKEN": "wrong"}
        ran = run_action(workspace, wrong, command="plan", url=url, token=TOKEN, args="--retries 0")
    assert ran.outputs["run"]["exitcode"] == "2", ran.outputs


def test_an_unknown_command_is_an_error(job: tuple[Path, dict[str, str], FakeGitHub]) -> None:
    workspace, env, _ = job
    ran = run_action(workspace, env, command="destroy")
    assert ran.failed and "run" in ran.outputs and "exitcode" not in ran.outputs["run"]


def test_the_install_step_installs_the_actions_own_source_at_the_tags_version(tmp_path: Path) -> None:
    """GitHub's copy of the action has no git history: the tag names the version (hatch-vcs reads
    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<DIST>); `tests/test_distribution.py` builds with it."""
    install = next(step for step in bash_steps() if step.get("id") == "install")
    stub = tmp_path / "bin"
    stub.mkdir()
    log = tmp_path / "calls"
    # `python3 -m venv DIR` makes DIR/bin/python and DIR/bin/reconciler, which record their calls.
    recorder = (f'#!/bin/sh\necho "$(basename "$0") $* version=${{SETUPTOOLS_SCM_PRETEND_VERSION_FOR_'
                f'AUTHENTIK_RECONCILER:-}}" >> "{log}"\n')
    (stub / "python3").write_text(recorder + 'if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin"; '
                                  f'for tool in python reconciler; do cp "{stub}/record" "$3/bin/$tool"; done; fi\n')
    (stub / "record").write_text(recorder)
    for tool in ("python3", "record"):
        (stub / tool).chmod(0o755)
    for ref, version in [("v1.2.3", "1.2.3"), ("main", ""), ("v1", ""), ("v1", None)]:
        log.write_text("")
        env = {"PATH": f"{stub}{os.pathsep}/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path),
               "GITHUB_PATH": str(tmp_path / "path"), "ACTION_PATH": "/action", "ACTION_REF": ref}
        subprocess.run(["bash", "-eo", "pipefail", "-c", install["run"]], env=env, check=True, timeout=60)
        installs = [f"python3 -m venv {tmp_path}/authentik-reconciler version={version}",
                    f"python -m pip install --quiet --disable-pip-version-check /action version={version}"]
        # None: the action used again in the same job, from the same ref: installed already.
        assert log.read_text().splitlines() == [*(installs if version is not None else []),
                                                f"reconciler --version version={version or ''}"]
    assert (tmp_path / "path").read_text().splitlines()[-1] == f"{tmp_path}/authentik-reconciler/bin"


def test_every_reconciler_command_the_action_can_run_is_one_the_cli_accepts() -> None:
    run_step = next(step for step in bash_steps() if step.get("id") == "run")
    arrays = re.findall(r"command=\((reconciler [^)]*)\)", run_step["run"])
    assert len(arrays) == 4
    for array in arrays:
        for argv in reconciler_commands(array.replace('"${paths[@]}"', "config").replace('"${options[@]}"', "")):
            assert cli_problems(argv) == [], argv
