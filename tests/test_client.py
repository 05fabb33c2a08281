"""The client and live-state fetch against the sandbox in-process: pagination, request counts,
retries, and errors worded at the boundary."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import TOKEN, run, served, write_manifest

from reconciler import ApiError, ApplyError, Connection, PlanOptions, apply, plan
from reconciler.model.kinds import load_model
from reconciler.sandbox import Faults, Sandbox
from reconciler.server.client import Client
from reconciler.server.reading import fetch_live


def connection(sandbox: Sandbox, **options: Any) -> Connection:
    return Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport(), backoff=0,
                      **options)


def lists(sandbox: Sandbox) -> list[str]:
    return [r.api_path for r in sandbox.requests if r.method == "GET"]


def test_pagination_is_followed_to_the_last_page() -> None:
    sandbox = Sandbox()

    async def fetch() -> list[dict[str, Any]]:
        async with Client(connection(sandbox, page_size=2)) as client:
            return await client.list("/stages/prompt/prompts/")

    prompts = asyncio.run(fetch())
    assert len(prompts) == 11 and len({p["pk"] for p in prompts}) == 11
    assert [r.query["page"] for r in sandbox.requests] == ["1", "2", "3", "4", "5", "6"]


def test_live_state_is_one_list_call_per_kind_and_target_never_per_object(tmp_path: Path) -> None:
    sandbox = Sandbox()
    write_manifest(tmp_path, [
        {"kind": "identification", "name": "default-authentication-identification",
         "password_stage": {"stage": "default-authentication-password"}, "user_fields": ["email"]},
        {"kind": "password", "name": "default-authentication-password", "configure_flow": None},
        {"kind": "user_login", "name": "default-authentication-login", "session_duration": "hours=1"},
    ])
    plan([tmp_path], connection(sandbox), PlanOptions(keep_state=False))
    # configure_flow: null still needs the flows, to show the live flow it replaces by its slug. The
    # updates' consequences read the blueprint instances, and for their impact the flow-stage
    # bindings, the brands, and the providers that run flows for the applications (a source's
    # flows are its own: no source list is read).
    providers = [f"/providers/{kind}/" for kind in ("ldap", "oauth2", "proxy", "rac", "radius", "saml", "ssf", "wsfed")]
    assert sorted(lists(sandbox)) == ["/admin/version/", "/core/applications/", "/core/brands/", "/flows/bindings/",
                                      "/flows/instances/", "/managed/blueprints/", *providers, "/stages/all/",
                                      "/stages/identification/", "/stages/password/", "/stages/user_login/"]


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the sandbox transport and records how many requests were under way at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def test_fetch_is_concurrent_within_the_limit() -> None:
    sandbox = Sandbox(faults=Faults(latency=0.02))
    model = load_model("2026.2.2")
    transport = CountingTransport(sandbox.transport())

    async def fetch() -> None:
        conn = Connection(url="http://sandbox", token=sandbox.token, transport=transport, max_concurrency=4)
        async with Client(conn) as client:
            await fetch_live(client, model, {kind.path for kind in list(model.kinds.values())[:8]})

    asyncio.run(fetch())
    assert len(sandbox.requests) == 8
    assert transport.most == 4  # the 8 lists overlapped, never more than max_concurrency at once


def test_throttled_reads_are_retried_after_the_servers_delay() -> None:
    sandbox = Sandbox(faults=Faults(retry_after=0))
    sandbox.fail_next("GET", "/api/v3/admin/version/", status=429, times=2)

    async def version() -> str:
        async with Client(connection(sandbox)) as client:
            return await client.version()

    assert asyncio.run(version()) == "2026.2.2"
    assert [r.status for r in sandbox.requests] == [429, 429, 200]


def test_dropped_reads_are_retried_and_dropped_writes_are_not(tmp_path: Path) -> None:
    sandbox = Sandbox()
    sandbox.drop_next("GET", "/api/v3/stages/password/")
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}])
    # The client does not retry a write; apply sends a PATCH whose answer was lost again, as often
    # as the connection retries (3; it is idempotent): dropped four times, its outcome is unknown.
    sandbox.drop_next("PATCH", "/api/v3/stages/password/", times=4)
    with pytest.raises(ApplyError) as caught:
        apply([tmp_path], connection(sandbox), PlanOptions(keep_state=False))
    assert str(caught.value).startswith("password/default-authentication-password: PATCH /stages/password/")
    assert "connection failed: RemoteProtocolError" in str(caught.value)
    assert [r.status for r in sandbox.requests if r.api_path == "/stages/password/"] == [0, 200]
    assert [r.method for r in sandbox.requests if r.method != "GET"] == ["PATCH"] * 4
    assert [o.change.address for o in caught.value.result.unknown] == ["password/default-authentication-password"]


def test_an_empty_405_is_named_a_server_error(tmp_path: Path) -> None:
    # authentik answers an unhandled exception during a write with an empty HTML 405 (recording 09).
    sandbox = Sandbox()
    sandbox.fail_next("PATCH", "/stages/password/", status=405)
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}])
    with pytest.raises(ApplyError) as caught:
        apply([tmp_path], connection(sandbox), PlanOptions(keep_state=False))
    assert str(caught.value).endswith("authentik failed with a server error (an empty 405); see the server's log")
    assert [o.change.address for o in caught.value.result.failed] == ["password/default-authentication-password"]


def test_field_errors_are_listed_with_their_fields(tmp_path: Path) -> None:
    # An {env} value is only checked by the server (recording 56's wording); it is a secret, so
    # the echo of it is scrubbed from the message and the error body alike.
    sandbox = Sandbox()
    write_manifest(tmp_path, [{"kind": "authenticator_sms", "name": "sms", "provider": {"env": "P"},
                               "from_number": "+1", "account_sid": "A", "auth": "t"}])
    with pytest.raises(ApplyError) as caught:
        apply([tmp_path], connection(sandbox), PlanOptions(keep_state=False, environ={"P": "bogus"}))
    assert str(caught.value) == ('authenticator_sms/sms: POST /stages/authenticator/sms/: authentik rejected the '
                                 'request: provider: "(sensitive)" is not a valid choice.')
    assert caught.value.__cause__ is not None and isinstance(caught.value.__cause__, ApiError)
    assert (caught.value.__cause__.status, caught.value.__cause__.body) == (
        400, {"provider": ['"(sensitive)" is not a valid choice.']})


def test_a_stage_name_held_by_another_kind_fails_the_plan(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "default-authentication-login"}])
    with pytest.raises(Exception) as caught:
        plan([tmp_path], connection(Sandbox()), PlanOptions(keep_state=False))
    assert str(caught.value).endswith("deny/default-authentication-login: name: a live user_login stage already "
                                      "has this name (stage names are unique across kinds); rename one or change "
                                      "the kind")


@pytest.mark.parametrize(("token", "message"), [
    ("test-token\x1b[2J", "the API token contains a control character (position 11)"),
    ("test\ttoken", "the API token contains a control character (position 5)"),
    ("tëst-token", "the API token contains a non-ASCII character (position 2)"),
    (" \n", "the API token is empty: check AUTHENTIK_TOKEN"),
])
def test_a_token_no_header_can_carry_is_refused_before_any_request(token: str, message: str) -> None:
    with served() as (sandbox, url):
        result = run(url, "export", env={"AUTHENTIK_TOKEN": token})
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    assert sandbox.requests == []


def test_a_token_read_with_its_trailing_newline_is_the_token() -> None:
    # `AUTHENTIK_TOKEN=$(cat file)` drops the newline, a Kubernetes secret or a CI variable may not:
    # surrounding whitespace is stripped, as client-go does for token files (transport/token_source.go).
    with served() as (sandbox, url):
        result = run(url, "export", "--kind", "deny", env={"AUTHENTIK_TOKEN": f" {TOKEN}\r\n"})
    assert result.exit_code == 0, result.output
    assert [r.status for r in sandbox.requests] == [200, 200]
    assert Connection(url=url, token=f"{TOKEN}\n").token == TOKEN


def test_credentials_in_the_url_are_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    sandbox = Sandbox()
    conn = Connection(url="http://admin:hunter22@sandbox/api/v3", token=sandbox.token, transport=sandbox.transport())
    assert caplog.messages == ["the authentik URL http://sandbox carries credentials; they are not used: the tool "
                               "authenticates with the API token"]
    assert (conn.url, conn.base_url, repr(conn)) == (
        "http://sandbox/api/v3", "http://sandbox/api/v3", "Connection(url='http://sandbox', token='(sensitive)')")

    async def version() -> str:
        async with Client(conn) as client:
            return await client.version()

    assert asyncio.run(version()) == "2026.2.2"  # sent with the bearer token, not as Basic auth
    assert len(caplog.messages) == 1
