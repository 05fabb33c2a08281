"""End to end through the CLI against the sandbox over real HTTP (127.0.0.1)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from support import TOKEN, run, served, write_manifest, writes

EXAMPLES = Path(__file__).parent.parent / "examples" / "config"
SECRETS = {"DUO_CLIENT_SECRET": "duo-secret-value-1", "TWILIO_AUTH_TOKEN": "twilio-token-value-1",
           "GRAFANA_CLIENT_SECRET": "grafana-secret-value-1"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the example config repo, to edit."""
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target)
    return target


def edit(path: Path, name: str, **fields: object) -> None:
    data = yaml.safe_load(path.read_text())
    for obj in data["stages"]:
        if obj["name"] == name:
            obj.update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_examples_plan_apply_then_plan_nothing(config: Path) -> None:
    with served() as (sandbox, url):
        first = run(url, "plan", str(config), "--detailed-exitcode", env=SECRETS)
        assert first.exit_code == 2, first.output
        # The default flow's four bindings are listed unchanged; a policy, two stages, a binding and
        # its policy binding are new, and so are the Grafana scope mapping, provider, application
        # and its policy binding, and the automation group with its service account.
        assert "Plan: 11 to create, 4 to update, 0 to replace, 0 to delete, 5 unchanged." in first.output
        # One after the other, in the plan's order.
        applied = run(url, "apply", str(config), "--auto-approve", "--parallelism", "1", env=SECRETS)
        assert applied.exit_code == 0, applied.output
        assert "Applied 15 of 15 changes." in applied.output
        assert [m for m, _, _ in writes(sandbox)] == ["POST", "POST", "POST", "POST", "PATCH", "PATCH", "POST", "POST",
                                                       "PATCH", "PATCH", "POST", "POST", "POST", "POST", "POST"]
        again = run(url, "plan", str(config), "--detailed-exitcode", env=SECRETS)
        assert again.exit_code == 0, again.output
        assert again.stdout.startswith("No changes.")


def test_one_field_change_is_one_patch_with_that_field(config: Path) -> None:
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        edit(config / "authentication" / "password.yaml", "default-authentication-password",
             failed_attempts_before_cancel=4)
        sandbox.clear_log()
        plan = run(url, "plan", str(config), env=SECRETS)
        assert "~ failed_attempts_before_cancel = 3 -> 4" in plan.output
        assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 19 unchanged." in plan.output
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        [(method, path, body)] = writes(sandbox)
        assert (method, body) == ("PATCH", {"failed_attempts_before_cancel": 4})
        assert path.startswith("/api/v3/stages/password/")


def test_seed_identification_patch_carries_user_fields(config: Path) -> None:
    """Seed page 002 (identification partial update): one changed field plus user_fields, which
    authentik demands (recordings 2023.10.7/17 and 18)."""
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        edit(config / "authentication" / "identification.yaml", "default-authentication-identification",
             show_matched_user=True)
        sandbox.clear_log()
        result = run(url, "apply", str(config), "--auto-approve", env=SECRETS)
        assert result.exit_code == 0, result.output
        assert "(also sends user_fields unchanged" in result.output
        [(method, path, body)] = writes(sandbox)
        assert method == "PATCH" and path.startswith("/api/v3/stages/identification/")
        assert body == {"user_fields": ["username", "email"], "show_matched_user": True}


def test_seed_duo_patch_sends_only_the_changed_field(config: Path) -> None:
    """Seed page 000 (Duo partial update)."""
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        edit(config / "authentication" / "mfa.yaml", "mfa-duo-setup", api_hostname="api-other.duosecurity.com")
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        [(method, path, body)] = writes(sandbox)
        assert (method, body) == ("PATCH", {"api_hostname": "api-other.duosecurity.com"})
        assert path.startswith("/api/v3/stages/authenticator/duo/")


def test_seed_sms_put_replaces_the_whole_object(config: Path) -> None:
    """Seed page 001 (SMS update with PUT): `update: put` sends every writable field."""
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        edit(config / "authentication" / "mfa.yaml", "mfa-sms-setup", from_number="+15005550007")
        sandbox.clear_log()
        plan = run(url, "plan", str(config), "--format", "json", env=SECRETS)
        [change] = json.loads(plan.stdout)["changes"]
        assert (change["action"], change["method"]) == ("replace", "PUT")
        assert change["fields"] == {"from_number": {"before": "+15005550006", "after": "+15005550007"}}
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--auto-approve", env=SECRETS).exit_code == 0
        [(method, path, body)] = writes(sandbox)
        assert method == "PUT" and path.startswith("/api/v3/stages/authenticator/sms/")
        assert body == {"name": "mfa-sms-setup", "configure_flow": None, "friendly_name": "SMS code",
                        "provider": "twilio", "from_number": "+15005550007",
                        "account_sid": "ACexample00000000000000000000000000", "auth": SECRETS["TWILIO_AUTH_TOKEN"],
                        "auth_password": "", "auth_type": "basic", "verify_only": False, "mapping": None}


def test_plan_json_follows_the_contract(config: Path) -> None:
    with served() as (_, url):
        result = run(url, "plan", str(config / "authentication" / "password.yaml"), "--format", "json")
        plan = json.loads(result.stdout)
        assert plan["format_version"] == 1 and plan["api_version"] == "2026.2.2"
        [change] = plan["changes"]
        assert change["action"] == "update" and change["method"] == "PATCH"
        assert change["kind"] == "password" and change["name"] == "default-authentication-password"
        assert change["path"].startswith("/api/v3/stages/password/")
        assert change["fields"]["failed_attempts_before_cancel"] == {"before": 5, "after": 3}
        assert plan["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 0, "unchanged": 0}


def test_bad_token_is_one_clear_error(config: Path) -> None:
    with served() as (_, url):
        result = run(url, "plan", str(config), env={**SECRETS, "AUTHENTIK_TOKEN": "wrong"})
        assert result.exit_code == 1
        assert result.output == "error: authentik refused the token (Token invalid/expired): check AUTHENTIK_TOKEN\n"


def test_unreachable_server_is_one_clear_error(config: Path) -> None:
    # No retries, so no backoff to sleep through; tests/test_transport.py waits on a fake clock.
    result = run("http://127.0.0.1:9", "plan", str(config), env={**SECRETS, "AUTHENTIK_RETRIES": "0"})
    assert result.exit_code == 1
    assert result.output == "error: cannot reach authentik at http://127.0.0.1:9: All connection attempts failed\n"


def test_missing_secret_variable_fails_plan_at_its_location(config: Path) -> None:
    with served() as (_, url):
        result = run(url, "plan", str(config), env={"TWILIO_AUTH_TOKEN": "x"})
        assert result.exit_code == 1
        assert "mfa.yaml:9:5: authenticator_duo/mfa-duo-setup: client_secret: environment variable " \
               "DUO_CLIENT_SECRET is not set" in result.output


def test_failed_call_halfway_reports_what_was_and_was_not_applied(config: Path) -> None:
    with served() as (sandbox, url):
        sandbox.fail_next("PATCH", "/api/v3/stages/authenticator/validate/", status=500)
        result = run(url, "apply", str(config), "--auto-approve", "--parallelism", "1", env=SECRETS)
        assert result.exit_code == 1
        lines = result.output.splitlines()
        failed = [line for line in lines if line.startswith("error:")]
        assert failed == [line for line in lines if "authenticator_validate/default-authentication-mfa-validation: "
                          "PATCH /stages/authenticator/validate/" in line]
        assert "Applied 8 of 15 changes; 1 failed; 6 not attempted." in result.output
        assert "  failed:        update authenticator_validate/default-authentication-mfa-validation" in result.output
        assert [line for line in lines if line.startswith("  not attempted:")] == [
            "  not attempted: update password/default-authentication-password",
            "  not attempted: create group/automation",
            "  not attempted: create user/ci-bot",
            "  not attempted: create flow_stage_binding/default-authentication-flow/mfa-duo-setup",
            "  not attempted: create policy_binding/grafana/group:authentik Admins",
            "  not attempted: create policy_binding/default-authentication-flow/mfa-duo-setup/policy:outside-office"]
        assert "Traceback" not in result.output
        # Apply is resumable: the next plan shows exactly what was not applied.
        again = run(url, "plan", str(config), env=SECRETS)
        assert "Plan: 5 to create, 2 to update" in again.output


def test_apply_off_a_terminal_needs_auto_approve(config: Path) -> None:
    with served() as (sandbox, url):
        result = run(url, "apply", str(config), env=SECRETS)
        assert result.exit_code == 1
        assert result.output == "error: not on a terminal: pass --auto-approve to apply without a confirmation\n"
        assert writes(sandbox) == []


def test_reference_to_a_stage_created_in_the_same_apply(tmp_path: Path) -> None:
    write_manifest(tmp_path, [
        {"kind": "identification", "name": "id-first", "user_fields": ["email"],
         "password_stage": {"stage": "pw-new"}},
        {"kind": "password", "name": "pw-new", "backends": ["authentik.core.auth.InbuiltBackend"]},
    ])
    with served() as (sandbox, url):
        result = run(url, "apply", str(tmp_path), "--auto-approve")
        assert result.exit_code == 0, result.output
        assert "password_stage = {stage: pw-new}" in result.output
        (m1, p1, b1), (m2, p2, b2) = writes(sandbox)
        assert (m1, p1, m2, p2) == ("POST", "/api/v3/stages/password/", "POST", "/api/v3/stages/identification/")
        [password] = [o for o in sandbox.objects("password") if o["name"] == "pw-new"]
        assert b2["password_stage"] == password["pk"]
        assert run(url, "plan", str(tmp_path), "--detailed-exitcode").exit_code == 0


def test_unresolved_reference_fails_plan_with_location_and_candidates(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "identification", "name": "id", "user_fields": ["email"],
                               "password_stage": {"stage": "default-authentication-pasword"}}])
    with served() as (sandbox, url):
        result = run(url, "plan", str(tmp_path))
        assert result.exit_code == 1
        assert result.output.startswith(
            f"{tmp_path}/stages.yaml:6:3: identification/id: password_stage: {{stage: default-authentication-pasword}}"
            " does not resolve: no stage has the name 'default-authentication-pasword' (looked in the manifests and"
            " in ")
        assert "did you mean 'default-authentication-password', " in result.output


def test_changed_secret_in_the_environment_plans_exactly_one_patch(config: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", "--state", str(state), env=SECRETS).exit_code == 0
        assert "duo-secret-value-1" not in state.read_text()
        assert run(url, "plan", str(config), "--state", str(state), "--detailed-exitcode",
                   env=SECRETS).exit_code == 0
        rotated = {**SECRETS, "DUO_CLIENT_SECRET": "duo-secret-value-2"}
        plan = run(url, "plan", str(config), "--state", str(state), env=rotated)
        assert "~ client_secret = (unknown) -> (sensitive)  # changed since the last apply" in plan.output
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--auto-approve", "--state", str(state), env=rotated).exit_code == 0
        [(method, _, body)] = writes(sandbox)
        assert (method, body) == ("PATCH", {"client_secret": "duo-secret-value-2"})


def test_sandbox_command_rejects_bad_options() -> None:
    result = run("http://unused", "sandbox", "--api-version", "1999.1.1")
    assert result.exit_code == 1
    assert "'1999.1.1' is not one of" in result.output


def test_token_is_never_printed(config: Path) -> None:
    with served() as (_, url):
        result = run(url, "plan", str(config), env=SECRETS)
        assert TOKEN not in result.output
        for secret in SECRETS.values():
            assert secret not in result.output


def test_readme_first_command_converges_in_process() -> None:
    # The Grafana application is written in 2026.2.2's form: 2023.10.7 applies the rest.
    both = [EXAMPLES / "authentication", EXAMPLES / "directory"]
    for version, paths, changes, objects in (("2023.10.7", both, 11, 16), ("2026.2.2", [EXAMPLES], 15, 20)):
        result = run("http://unused", "apply", *map(str, paths), "--sandbox", "--auto-approve", "--verify",
                     "--api-version", version, env=SECRETS)
        assert result.exit_code == 0, result.output
        assert f"Applied {changes} of {changes} changes." in result.output
        verified = result.output.split("Verifying: planning again.\n")[1]
        assert verified.startswith(f"No changes. Live state matches the manifests (authentik {version} at "
                                   f"http://sandbox, {objects} objects compared).\n")


def test_sandbox_command_serves_until_stopped_and_names_a_busy_port() -> None:
    import socket
    import subprocess
    import sys

    import httpx

    command = [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", "--token", "T"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("authentik 2026.2.2 sandbox on http://127.0.0.1:") and first.endswith("(token: T)\n")
        url = first.split()[4]
        answer = httpx.get(f"{url}/api/v3/admin/version/", headers={"Authorization": "Bearer T"})
        assert answer.json()["version_current"] == "2026.2.2"
    finally:
        server.terminate()
        server.communicate(timeout=10)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("http://unused", "sandbox", "--port", str(port))
        assert result.exit_code == 1
        assert result.output == f"error: cannot serve on 127.0.0.1:{port}: Address already in use\n"


def test_reference_to_the_wrong_kind_of_object_fails_plan(tmp_path: Path) -> None:
    write_manifest(tmp_path, [
        {"kind": "identification", "name": "id", "user_fields": ["email"],
         "password_stage": {"stage": "default-authentication-login"}},
    ])
    with served() as (_, url):
        result = run(url, "plan", str(tmp_path))
        assert result.exit_code == 1
        assert result.output.splitlines()[0] == (
            f"{tmp_path}/stages.yaml:6:3: identification/id: password_stage: password_stage takes a stage of kind "
            "password; 'default-authentication-login' is of kind user_login")
    write_manifest(tmp_path, [{"kind": "identification", "name": "id", "user_fields": ["email"],
                               "enrollment_flow": {"stage": "default-authentication-password"}}])
    result = run("http://unused", "validate", str(tmp_path))
    assert result.output.splitlines()[0] == (
        f"{tmp_path}/stages.yaml:6:3: identification/id: enrollment_flow: unknown key 'stage' (expected flow)")


def _on_a_terminal(args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout, type `answer` at the prompt."""
    import os
    import pty
    import subprocess
    import sys
    import time

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "reconciler", *args], stdin=follower, stdout=follower,
                               stderr=follower, env={**os.environ, **env}, close_fds=True)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Only 'yes' is accepted" in output:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    os.close(leader)
    return process.wait(timeout=10), output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "applied"), [("no", False), ("yes", True)])
def test_apply_on_a_terminal_asks_first(config: Path, answer: str, applied: bool) -> None:
    with served() as (sandbox, url):
        env = {**SECRETS, "AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN, "NO_COLOR": "1"}
        code, output = _on_a_terminal(["apply", str(config / "authentication" / "login.yaml")], answer, env)
        assert "~ session_duration   = \"seconds=0\" -> \"hours=8\"" in output
        if applied:
            assert code == 0 and "Applied 1 of 1 changes." in output
            assert [m for m, _, _ in writes(sandbox)] == ["PATCH"]
        else:
            assert code == 1 and "Apply cancelled." in output
            assert writes(sandbox) == []


def test_api_version_must_match_a_server_whose_model_we_have(config: Path) -> None:
    with served() as (sandbox, url):
        result = run(url, "apply", str(config), "--auto-approve", "--api-version", "2023.10.7", env=SECRETS)
        assert (result.exit_code, result.output) == (
            1, "error: the server runs authentik 2026.2.2, not 2023.10.7: drop --api-version to use the "
               "server's own model\n")
        assert writes(sandbox) == []


def test_a_state_file_that_cannot_be_written_still_reports_the_apply(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "authenticator_duo", "name": "duo", "client_id": "DI1",
                               "client_secret": {"env": "S"}, "api_hostname": "h"}])
    with served() as (_, url):
        result = run(url, "apply", str(tmp_path), "--auto-approve", "--state", str(tmp_path / "no" / "s.json"),
                     env={"S": "duo-secret-value"})
        assert result.exit_code == 1
        assert (f"error: every change was applied, but cannot write the state file {tmp_path}/no/s.json: "
                "No such file or directory\nApplied 1 of 1 changes.\n  applied:       create authenticator_duo/duo\n"
                ) in result.output


def test_the_state_file_is_found_from_any_folder_of_the_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "stages" / "mfa"
    sub.mkdir(parents=True)
    write_manifest(sub, [{"kind": "authenticator_duo", "name": "duo", "client_id": "DI1",
                          "client_secret": {"env": "S"}, "api_hostname": "h"}])
    env = {"S": "duo-secret-value"}
    with served() as (_, url):
        assert run(url, "apply", str(sub), "--auto-approve", env=env).exit_code == 0
        assert (tmp_path / "reconciler.state.json").exists()
        for path in (tmp_path, tmp_path / "stages", sub, sub / "stages.yaml"):
            assert run(url, "plan", str(path), "--detailed-exitcode", env=env).exit_code == 0, path


def test_env_mappings_in_object_fields_are_data(tmp_path: Path) -> None:
    # {env}/{file} stand for strings: in a JSON field (invitation fixed_data) they are plain data.
    write_manifest(tmp_path, [{"kind": "invitation_invite", "name": "invite", "fixed_data": {"env": "production"}}])
    with served() as (sandbox, url):
        assert run(url, "apply", str(tmp_path), "--auto-approve").exit_code == 0
        [(_, _, body)] = writes(sandbox)
        assert body == {"name": "invite", "fixed_data": {"env": "production"}}


def test_urls_show_no_credentials_and_may_end_in_the_api_path(config: Path) -> None:
    with served() as (_, url):
        with_path = run(f"{url}/api/v3/", "plan", str(config / "authentication" / "login.yaml"))
        assert with_path.exit_code == 0 and f"Plan for authentik 2026.2.2 at {url}:" in with_path.output
    unreachable = run("http://user:hunter22@127.0.0.1:9", "plan", str(config),
                      env={**SECRETS, "AUTHENTIK_RETRIES": "0"})
    assert unreachable.output == (
        "WARNING reconciler.client: the authentik URL http://127.0.0.1:9 carries credentials; they are not used: "
        "the tool authenticates with the API token\n"
        "error: cannot reach authentik at http://127.0.0.1:9: All connection attempts failed\n")
    invalid = run("http://[::1", "plan", str(config), env=SECRETS)
    assert invalid.exit_code == 1 and invalid.output.startswith("error: invalid authentik URL: ")


def test_a_reference_cycle_names_its_members(tmp_path: Path) -> None:
    write_manifest(tmp_path, [
        {"kind": "authenticator_validate", "name": "a", "configuration_stages": [{"stage": "b"}]},
        {"kind": "authenticator_validate", "name": "b", "configuration_stages": [{"stage": "a"}]},
    ])
    with served() as (sandbox, url):
        result = run(url, "apply", str(tmp_path), "--auto-approve")
        assert result.exit_code == 1
        cycle = "reference cycle: authenticator_validate/a -> authenticator_validate/b -> authenticator_validate/a"
        assert result.output.splitlines() == [
            f"{tmp_path}/stages.yaml:2:3: authenticator_validate/a: {cycle}",
            f"{tmp_path}/stages.yaml:6:3: authenticator_validate/b: {cycle}",
            "2 problems found."]
        assert writes(sandbox) == []


def test_a_long_apply_on_a_terminal_shows_progress_bars(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": f"deny-{i}", "deny_message": "no"} for i in range(20)])
    with served() as (sandbox, url):
        env = {"AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN, "NO_COLOR": "1"}
        code, output = _on_a_terminal(["apply", str(tmp_path)], "yes", env)
        assert code == 0, output
        assert "\r\x1b[K  reading live state: 1 list read (" in output
        assert "Applying" in output and "100%" in output
        assert "  created deny/" not in output  # the bar stands for the lines
        assert "Applied 20 of 20 changes." in output
        assert len(writes(sandbox)) == 20
