"""Environments: `{var: NAME}` values from `--vars FILE`, `RECONCILER_VARS` or `--env NAME`
(`environments/NAME.yaml`), through the CLI against the sandbox over HTTP, and the
staging/production example in examples/environments/ planned per environment from one set of
manifests."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support import run, served, write_manifest

import reconciler

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "environments"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example, as its own git repository (`--env` looks up to the repository root)."""
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLE, target)
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    return target


def plan_json(url: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = run(url, "plan", *args, "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def created(plan: dict[str, object]) -> dict[str, dict[str, object]]:
    """Address -> the fields a plan's creates set (their `after` values)."""
    changes = plan["changes"]
    assert isinstance(changes, list)
    return {change["address"]: {name: field["after"] for name, field in change["fields"].items()}
            for change in changes if change["action"] == "create"}


def test_the_example_plans_staging_and_production_differently_from_one_set_of_manifests(example: Path) -> None:
    base, production = example / "config" / "base", example / "config" / "production"
    with served() as (_, url):
        staging = created(plan_json(url, str(base), "--env", "staging"))
        prod = created(plan_json(url, str(base), str(production), "--env", "production"))
    # The values of environments/<NAME>.yaml, shown as values (variables are not secrets).
    assert staging["flow/example-login"]["title"] == "Sign in to Example (staging)"
    assert prod["flow/example-login"]["title"] == "Sign in to Example"
    assert staging["user_login/example-login"]["session_duration"] == "hours=1"
    assert prod["user_login/example-login"]["session_duration"] == "hours=12"
    assert staging["password/example-password"]["failed_attempts_before_cancel"] == 10
    assert prod["password/example-password"]["failed_attempts_before_cancel"] == 5
    assert prod["expression_policy/example-from-the-office"]["expression"] == \
        'return ak_client_ip in ip_network("10.0.0.0/8")'
    # production/ adds to base/: only production has the lockout policy.
    assert set(prod) - set(staging) == {"reputation_policy/example-lockout"}


def test_each_environment_applies_to_its_own_server_and_state_file(example: Path) -> None:
    """One state file per environment (`--state`), as the README's layout has it."""
    base = example / "config" / "base"
    for name in ("staging", "production"):
        state = example / "environments" / f"{name}.state.json"
        with served() as (_, url):
            applied = run(url, "apply", str(base), "--env", name, "--state", str(state), "--auto-approve")
            assert applied.exit_code == 0, applied.output
            again = run(url, "plan", str(base), "--env", name, "--state", str(state), "--detailed-exitcode")
            assert again.exit_code == 0, again.output
        assert state.is_file()
    # The other environment's values are a change: staging's title on the production server.
    with served() as (_, url):
        assert run(url, "apply", str(base), "--env", "production", "--auto-approve").exit_code == 0
        drift = run(url, "plan", str(base), "--env", "staging", "--detailed-exitcode")
    assert drift.exit_code == 2, drift.output
    assert '~ title = "Sign in to Example" -> "Sign in to Example (staging)"' in drift.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The manifests' folder (variables files stay outside it: it would read them as manifests)."""
    (tmp_path / "config").mkdir()
    return tmp_path / "config"


def test_a_missing_variable_is_an_error_at_its_file_line_and_column(tmp_path: Path, config: Path) -> None:
    write_manifest(config, [{"kind": "deny", "name": "ds21-deny", "deny_message": {"var": "message"}}])
    (tmp_path / "vars.yaml").write_text("other: 1\n")
    with served() as (sandbox, url):
        unset = run(url, "plan", str(config))
        in_file = run(url, "validate", str(config), "--vars", str(tmp_path / "vars.yaml"))
        assert [r for r in sandbox.requests if r.method != "GET"] == []
    assert unset.exit_code == 1
    # `deny_message:` is on line 4 of yaml.safe_dump's output, the value at column 3.
    assert f"{config / 'stages.yaml'}:4:3: variable 'message' is not set (no variables given: --vars FILE, " \
           "RECONCILER_VARS or --env NAME)" in unset.output
    assert in_file.exit_code == 1
    assert f"stages.yaml:4:3: variable 'message' is not set in {tmp_path / 'vars.yaml'}" in in_file.output
    # Only that problem: the object is not validated again with `{var}` in it.
    assert "1 problem found." in in_file.output


def test_vars_come_from_the_file_or_reconciler_vars(tmp_path: Path, config: Path) -> None:
    write_manifest(config, [{"kind": "deny", "name": {"var": "name"}, "deny_message": {"var": "message"}}])
    (tmp_path / "a.yaml").write_text("name: ds21-a\nmessage: from a\n")
    (tmp_path / "b.yaml").write_text("name: ds21-b\nmessage: from b\n")
    with served() as (_, url):
        from_option = created(plan_json(url, str(config), "--vars", str(tmp_path / "a.yaml")))
        from_env = created(plan_json(url, str(config), env={"RECONCILER_VARS": str(tmp_path / "b.yaml")}))
    assert from_option == {"deny/ds21-a": {"name": "ds21-a", "deny_message": "from a"}}
    assert from_env == {"deny/ds21-b": {"name": "ds21-b", "deny_message": "from b"}}


def test_a_variable_may_name_a_secret_which_stays_secret(tmp_path: Path, config: Path) -> None:
    """A variable is a value; one that holds `{env: VAR}` picks the environment's secret."""
    write_manifest(config, [{"kind": "authenticator_duo", "name": "ds21-duo", "client_id": "DIXXXXXXXXXXXXXXXXXX",
                               "api_hostname": "api-x.duosecurity.com", "client_secret": {"var": "duo"}}])
    (tmp_path / "vars.yaml").write_text("duo: {env: DS21_DUO_STAGING}\n")
    with served() as (_, url):
        result = run(url, "plan", str(config), "--vars", str(tmp_path / "vars.yaml"),
                     env={"DS21_DUO_STAGING": "duo-secret-ds21"})
    assert result.exit_code == 0, result.output
    assert "+ client_secret = (sensitive)" in result.output
    assert "duo-secret-ds21" not in result.output


LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
"""A "billion laughs" variables file: 10^9 values once its aliases are built (it hung the plan)."""


@pytest.mark.parametrize("text, message", [
    ("- a\n", "vars.yaml:1:1: a variables file must be a mapping of names to values"),
    ("when: 2024-01-01\n", "vars.yaml:1:7: variable 'when': not a JSON value (quote dates; no .inf, .nan or binary)"),
    ("a: 1\na: 2\n", "vars.yaml:2:1: duplicate variable 'a'"),
    ("1st: x\n", "vars.yaml:1:1: a variable's name is letters, digits, '_', '.' and '-', starting with a letter"),
    ("a: [1\n", "vars.yaml:2:1: invalid YAML: did not find expected ',' or ']'"),
    (LAUGHS, "vars.yaml:5:45: invalid YAML: the aliases expand to more than 100,000 values"),
], ids=["not-a-mapping", "date", "duplicate", "bad-name", "bad-yaml", "billion-laughs"])
def test_a_broken_variables_file_is_one_message_at_its_place(tmp_path: Path, config: Path, text: str,
                                                             message: str) -> None:
    write_manifest(config, [{"kind": "deny", "name": "ds21-deny"}])
    (tmp_path / "vars.yaml").write_text(text)
    with served() as (_, url):
        result = run(url, "validate", str(config), "--vars", str(tmp_path / "vars.yaml"))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_env_names_a_file_of_environments_and_says_which_exist(example: Path) -> None:
    base = example / "config" / "base"
    with served() as (_, url):
        missing = run(url, "plan", str(base), "--env", "prod")
        both = run(url, "plan", str(base), "--env", "staging", "--vars", str(example / "environments" / "staging.yaml"))
    assert missing.exit_code == 1
    assert f"error: --env prod: no environments/prod.yaml from {base} up to {example} (environments there: " \
           "production, staging)" in missing.output
    assert both.exit_code == 1
    assert "give --vars FILE (or RECONCILER_VARS) or --env NAME, not both" in both.output


def test_a_saved_plan_is_applied_as_it_is(example: Path, tmp_path: Path) -> None:
    """Variables are in the saved plan's bodies: `apply --plan` takes no --env, and does not read
    RECONCILER_VARS (set for a whole CI job, it is no error)."""
    base, saved = example / "config" / "base", tmp_path / "plan.json"
    with served() as (_, url):
        assert run(url, "plan", str(base), "--env", "staging", "--out", str(saved)).exit_code == 0
        refused = run(url, "apply", "--plan", str(saved), "--auto-approve", "--env", "staging")
        applied = run(url, "apply", "--plan", str(saved), "--auto-approve",
                      env={"RECONCILER_VARS": str(example / "environments" / "gone.yaml")})  # not even read
    assert refused.exit_code == 1 and "--vars or --env with it" in refused.output
    assert applied.exit_code == 0, applied.output


def test_the_python_api_takes_variables(example: Path) -> None:
    from reconciler.sandbox import Sandbox

    variables = reconciler.load_variables(example / "environments" / "production.yaml")
    assert variables.values["session_duration"] == "hours=12"
    objects = reconciler.validate_paths([example / "config" / "base"], variables=variables)
    assert {obj.address for obj in objects} >= {"flow/example-login", "user_login/example-login"}
    sandbox = Sandbox()
    connection = reconciler.Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    plan = reconciler.plan([example / "config" / "base"], connection,
                           reconciler.PlanOptions(variables=variables, keep_state=False))
    title = next(change for change in plan.changes if change.address == "flow/example-login")
    assert "Sign in to Example" in reconciler.render_text(plan)
    assert title.data["fields"]["title"]["after"] == "Sign in to Example"
