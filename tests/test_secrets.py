"""No secret value ever appears in any output: plan text, JSON and Markdown, logs, errors, the
state file, or the repr of plans and exceptions."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import run, served, write_manifest, writes

from reconciler import ApplyError, Connection, PlanOptions, apply, plan, render_plan
from reconciler.cli.logs import LogScrubber
from reconciler.sandbox import Sandbox

SECRETS = {
    "DUO_SECRET": "duo-client-secret-41f3",
    "DUO_ADMIN": "duo-admin-secret-9a0c",
    "SMS_AUTH": "sms-auth-token-77b2",
    "CAPTCHA_KEY": "captcha-private-key-5e1d",
    "MAIL_PASSWORD": "mail-password-c0ffee",
}
FILE_SECRET = "sms-password-from-file-31337"


def secret_manifest(directory: Path) -> Path:
    (directory / "sms-password.txt").write_text(FILE_SECRET + "\n")
    return write_manifest(directory, [
        {"kind": "authenticator_duo", "name": "leak-duo", "client_id": "DI0", "api_hostname": "api.example",
         "client_secret": {"env": "DUO_SECRET"}, "admin_secret_key": {"env": "DUO_ADMIN"}},
        {"kind": "authenticator_sms", "name": "leak-sms", "provider": "twilio", "from_number": "+1",
         "account_sid": "AC0", "auth": {"env": "SMS_AUTH"}, "auth_password": {"file": "sms-password.txt"}},
        {"kind": "captcha", "name": "leak-captcha", "public_key": "pub", "private_key": {"env": "CAPTCHA_KEY"}},
        {"kind": "email", "name": "leak-email", "password": {"env": "MAIL_PASSWORD"}},
    ])


def assert_clean(text: str) -> None:
    for secret in (*SECRETS.values(), FILE_SECRET):
        assert secret not in text


def in_process(sandbox: Sandbox) -> Connection:
    return Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())


def test_every_plan_format_and_repr_is_clean_for_create_and_update(tmp_path: Path) -> None:
    secret_manifest(tmp_path)
    sandbox = Sandbox(api_version="2026.2.2")
    options = PlanOptions(environ=SECRETS, state_path=tmp_path / "state.json")
    created = plan([tmp_path], in_process(sandbox), options)
    assert created.summary["create"] == 4
    apply([tmp_path], in_process(sandbox), options)
    rotated = PlanOptions(environ={k: v + "-rotated" for k, v in SECRETS.items()},
                          state_path=tmp_path / "state.json")
    updated = plan([tmp_path], in_process(sandbox), rotated)
    assert updated.summary["update"] == 4
    for current in (created, updated):
        for fmt in ("text", "json", "markdown"):
            assert_clean(render_plan(current, fmt))
            assert "(sensitive)" in render_plan(current, fmt)
        assert_clean(repr(current))
        assert_clean(json.dumps(current.data))
    state = (tmp_path / "state.json").read_text()
    assert_clean(state)
    assert "hmac-sha256:" in state


def test_cli_output_and_logs_are_clean(tmp_path: Path) -> None:
    secret_manifest(tmp_path)
    with served() as (_, url):
        for args in (("plan", str(tmp_path)), ("plan", str(tmp_path), "--format", "json"),
                     ("plan", str(tmp_path), "--format", "markdown"),
                     ("-vv", "apply", str(tmp_path), "--auto-approve"), ("-vv", "plan", str(tmp_path))):
            result = run(url, *args, env=SECRETS)
            assert result.exit_code in (0, 2), result.output
            assert_clean(result.output)
            # the logs were captured: each run logs to the stderr it is given, not the first run's
            assert ("INFO httpx: HTTP Request: GET " in result.stderr) == (args[0] == "-vv")


def test_verbose_logs_show_each_request_without_credentials_or_token(tmp_path: Path) -> None:
    # The token is a word of every request's URL, so only the log filter keeps it out of httpx's lines.
    secret_manifest(tmp_path)
    sandbox = Sandbox(api_version="2026.2.2", token="version")
    with sandbox.serve_in_thread() as url:
        with_credentials = url.replace("http://", "http://admin:hunter22@")
        result = run(with_credentials, "-vv", "plan", str(tmp_path), env={**SECRETS, "AUTHENTIK_TOKEN": "version"})
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert f'INFO httpx: HTTP Request: GET {url}/api/v3/admin/(sensitive)/ "HTTP/1.1 200 OK"' in lines
    assert len([line for line in lines if line.startswith("INFO httpx: HTTP Request: GET ")]) >= 5
    assert lines[0] == (f"WARNING reconciler.client: the authentik URL {url} carries credentials; they are not "
                        "used: the tool authenticates with the API token")
    for line in lines:
        assert "hunter22" not in line and "admin:" not in line and "version" not in line, line
        assert_clean(line)


def test_the_cli_log_filter_scrubs_userinfo_and_the_token(caplog: pytest.LogCaptureFixture) -> None:
    scrubber = LogScrubber()
    scrubber.secrets.add("tok-3141")
    caplog.handler.addFilter(scrubber)
    try:
        logging.getLogger("httpx").warning("GET %s with %s", "https://admin:hunter22@auth.example/api/v3/",
                                           "Bearer tok-3141")
        try:
            raise ValueError("at http://u:p@host/ tok-3141")
        except ValueError:
            logging.getLogger("reconciler").exception("failed")
    finally:
        caplog.handler.removeFilter(scrubber)
    assert caplog.messages == ["GET https://auth.example/api/v3/ with Bearer (sensitive)", "failed"]
    assert "ValueError: at http://host/ (sensitive)" in caplog.text and "tok-3141" not in caplog.text


def test_server_error_echoing_a_secret_is_scrubbed(tmp_path: Path) -> None:
    # A value from {env} is only known at plan time, so the server is the one to reject it,
    # and authentik echoes invalid choices back ("\"x\" is not a valid choice.", recording 56).
    write_manifest(tmp_path, [{"kind": "authenticator_sms", "name": "echo", "provider": {"env": "SMS_AUTH"},
                               "from_number": "+1", "account_sid": "AC0", "auth": {"env": "DUO_SECRET"}}])
    with served() as (_, url):
        result = run(url, "apply", str(tmp_path), "--auto-approve", env=SECRETS)
        assert result.exit_code == 1
        assert "provider: \"(sensitive)\" is not a valid choice." in result.output
        assert_clean(result.output)
    sandbox = Sandbox(api_version="2026.2.2")
    try:
        apply([tmp_path], in_process(sandbox), PlanOptions(environ=SECRETS, keep_state=False))
    except ApplyError as exc:
        assert_clean(str(exc))
        assert_clean(repr(exc.result))
        assert_clean(repr(exc.__cause__))
    else:
        raise AssertionError("the server accepted an invalid provider")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=8, max_size=40))
def test_a_rendered_plan_never_contains_the_secret(tmp_path: Path, secret: str) -> None:
    write_manifest(tmp_path, [{"kind": "authenticator_duo", "name": "prop-duo", "client_id": "DI0",
                               "api_hostname": "api.example", "client_secret": {"env": "S"}}])
    # A drawn value that the output holds whatever the secret ("fingerpr") says nothing of leaks.
    other = plan([tmp_path], in_process(Sandbox()), PlanOptions(environ={"S": "§"}, keep_state=False))
    assume(not any(secret in render_plan(other, fmt) for fmt in ("text", "json", "markdown")))
    current = plan([tmp_path], in_process(Sandbox()), PlanOptions(environ={"S": secret}, keep_state=False))
    for fmt in ("text", "json", "markdown"):
        assert secret not in render_plan(current, fmt)


def test_short_and_unusual_secrets_are_scrubbed_from_errors(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "authenticator_sms", "name": "odd", "provider": {"env": "PROVIDER"},
                               "from_number": "+1", "account_sid": "AC0", "auth": "t0ken",
                               "auth_type": {"env": "AUTH_TYPE"}}])
    sandbox = Sandbox()
    environ = {"PROVIDER": 'sécret "quoted" \\ value', "AUTH_TYPE": "xy"}
    try:
        apply([tmp_path], in_process(sandbox), PlanOptions(environ=environ, keep_state=False))
    except ApplyError as exc:
        cause = exc.__cause__
        shown = f"{exc} {cause!r} {getattr(cause, 'body', None)!r}"
        assert "sécret" not in shown and '"xy"' not in shown
        assert 'auth_type: "(sensitive)" is not a valid choice.' in str(exc)
    else:
        raise AssertionError("the server accepted invalid choices")


# A kubeconfig holds the cluster's credentials and authentik returns it in clear (apps recordings
# 500, 501): a sensitive mapping, read from {env}/{file} as YAML or JSON.
KUBE_TOKEN = "kube-bearer-token-6a1f9e"


def kubeconfig(token: str = KUBE_TOKEN) -> str:
    return f"""apiVersion: v1
kind: Config
clusters: [{{name: lab, cluster: {{server: "https://k8s.example:6443"}}}}]
users: [{{name: bot, user: {{token: {token}}}}}]
contexts: [{{name: lab, context: {{cluster: lab, user: bot}}}}]
current-context: lab
"""


def kube_manifest(directory: Path, kube: object) -> Path:
    return write_manifest(directory, [{"kind": "kubernetes", "name": "cluster", "local": False, "kubeconfig": kube}],
                          name="connections.yaml", section="outpost_connections")


def test_a_kubeconfig_from_a_file_applies_redacted_and_then_plans_empty(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a saved plan is applied from where it was made
    (tmp_path / "kubeconfig.txt").write_text(kubeconfig())
    kube_manifest(tmp_path, {"file": "kubeconfig.txt"})
    with served() as (sandbox, url):
        planned = run(url, "plan", str(tmp_path), "--out", str(tmp_path / "plan.json"), "--format", "json")
        assert planned.exit_code == 0, planned.output
        applied = run(url, "apply", "--plan", str(tmp_path / "plan.json"), "--auto-approve")
        assert applied.exit_code == 0, applied.output
        [created] = [body for method, _, body in writes(sandbox) if method == "POST"]
        assert created["kubeconfig"]["users"][0]["user"]["token"] == KUBE_TOKEN  # sent as a mapping
        again = run(url, "plan", str(tmp_path), "--detailed-exitcode")
        assert again.exit_code == 0, again.output
        (tmp_path / "kubeconfig.txt").write_text(kubeconfig("kube-rotated-token-11"))
        rotated = run(url, "plan", str(tmp_path), "--detailed-exitcode")
    assert rotated.exit_code == 2
    assert "~ kubernetes_connection/cluster" in rotated.output
    assert "kubeconfig = (sensitive)" in rotated.output
    for text in (planned.output, (tmp_path / "plan.json").read_text(), applied.output, rotated.output):
        assert KUBE_TOKEN not in text and "kube-rotated-token-11" not in text


def test_an_inline_kubeconfig_is_redacted_in_the_plan(tmp_path: Path) -> None:
    import yaml

    kube_manifest(tmp_path, yaml.safe_load(kubeconfig()))
    with served() as (_, url):
        planned = run(url, "plan", str(tmp_path), "--format", "json")
    assert planned.exit_code == 0, planned.output
    assert KUBE_TOKEN not in planned.output
    [change] = json.loads(planned.stdout)["changes"]
    assert change["fields"]["kubeconfig"]["after"] == "(sensitive)"


@pytest.mark.parametrize(("text", "said"), [
    ("users: [unclosed\n", "is not YAML or JSON at line 2"),
    (f"- {KUBE_TOKEN}\n", "holds no mapping (this field takes one)"),
    (f"a: &x [{KUBE_TOKEN}]\nb: *x\n", "uses a YAML alias"),
    (f"when: 2026-12-07\nt: {KUBE_TOKEN}\n", "holds a value JSON cannot carry"),
    (f"t: {KUBE_TOKEN}\na: {'[' * 3000}{']' * 3000}\n", "is not YAML or JSON at line 2"),  # too deep: not a crash
    ("a: " + "{b: " * 70 + "1" + "}" * 70 + "\n", "nests more than 64 levels deep"),
])
def test_a_kubeconfig_that_is_no_mapping_is_refused_without_its_text(tmp_path: Path, text: str, said: str) -> None:
    kube_manifest(tmp_path, {"env": "KUBECONFIG_TEXT"})
    with served() as (sandbox, url):
        planned = run(url, "plan", str(tmp_path), env={"KUBECONFIG_TEXT": text})
    assert planned.exit_code == 1
    assert f"connections.yaml:5:3: kubernetes_connection/cluster: kubeconfig: environment " \
           f"variable KUBECONFIG_TEXT {said}" in planned.output, planned.output
    assert KUBE_TOKEN not in planned.output
    assert writes(sandbox) == []


def test_an_exported_kubeconfig_is_a_placeholder_that_plans_back_to_no_changes(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig.txt").write_text(kubeconfig())
    kube_manifest(tmp_path, {"file": "kubeconfig.txt"})
    with served() as (_, url):
        assert run(url, "apply", str(tmp_path), "--auto-approve").exit_code == 0
        exported = run(url, "export", "--kind", "kubernetes_connection")
        assert exported.exit_code == 0, exported.output
        assert KUBE_TOKEN not in exported.output
        [variable] = [line.split("{env: ")[1].rstrip("}") for line in exported.stdout.splitlines()
                      if "kubeconfig: {env: " in line]
        back = tmp_path / "back"
        back.mkdir()
        (back / "export.yaml").write_text(exported.stdout)
        planned = run(url, "plan", str(back), "--detailed-exitcode", env={variable: json.dumps(
            __import__("yaml").safe_load(kubeconfig()))})
    assert planned.exit_code == 0, planned.output
