"""The transport policy layer through the client: what is retried and what never is, backoff
with full jitter, `Retry-After` honoured and capped, announced waits, and a deadline that a
server trickling its body or never answering cannot outlast. Waits run on a fake clock; only
the deadline tests take real time (0.3 s each)."""
from __future__ import annotations

import asyncio
import email.utils
import gzip
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support import run, served

from reconciler import ApiError, Connection
from reconciler.sandbox import Faults, Sandbox
from reconciler.server.client import Client

WALL = 1_780_000_000.0  # the fake clock's wall time at start


class FakeClock:
    """Records the waits instead of sleeping; `draws` are the jitter's random numbers, in turn."""

    def __init__(self, draws: tuple[float, ...] = (0.5,)) -> None:
        self.waits: list[float] = []
        self.elapsed = 0.0
        self._draws = itertools.cycle(draws)

    def monotonic(self) -> float:
        return self.elapsed

    def time(self) -> float:
        return WALL + self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.elapsed += seconds

    def random(self) -> float:
        return next(self._draws)


class Calls:
    """A client on a fake clock, with the waits it announced."""

    def __init__(self, url: str = "http://sandbox", sandbox: Sandbox | None = None, **options: Any) -> None:
        self.clock = FakeClock(options.pop("draws", (0.5,)))
        self.announced: list[str] = []
        self.connection = Connection(url=url, token=sandbox.token if sandbox else "test-token",
                                     transport=sandbox.transport() if sandbox else None, clock=self.clock,
                                     on_wait=self.announced.append, **options)
        self.count = 0

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async def send() -> Any:
            async with Client(self.connection) as client:
                try:
                    return await client.request(method, path, body=body)
                finally:
                    self.count = client.request_count

        return asyncio.run(send())

    def failure(self, method: str, path: str, body: dict[str, Any] | None = None) -> ApiError:
        with pytest.raises(ApiError) as caught:
            self.request(method, path, body)
        return caught.value


def statuses(sandbox: Sandbox, path: str) -> list[int]:
    return [r.status for r in sandbox.requests if r.api_path == path]


def test_backoff_doubles_per_attempt_up_to_its_ceiling() -> None:
    sandbox = Sandbox()
    sandbox.fail_next("GET", "/admin/version/", status=503, times=6)
    calls = Calls(sandbox=sandbox, retries=6, draws=(0.5,))
    assert calls.request("GET", "/admin/version/")["version_current"] == "2026.2.2"
    # full jitter: a draw of 0.5 is half of 0.5 s, 1, 2, 4, 8 and then the 8 s ceiling
    assert calls.clock.waits == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert statuses(sandbox, "/admin/version/") == [503] * 6 + [200]
    assert calls.count == 7
    assert calls.announced[0] == ("authentik answered GET /api/v3/admin/version/ with 503: waiting 0.25 s "
                                  "before retry 1 of 6")
    assert calls.announced[-1] == ("authentik answered GET /api/v3/admin/version/ with 503: waiting 4 s "
                                   "before retry 6 of 6")


def test_jitter_spans_zero_to_the_full_backoff() -> None:
    sandbox = Sandbox()
    sandbox.fail_next("GET", "/admin/version/", status=502, times=3)
    calls = Calls(sandbox=sandbox, draws=(0.0, 0.999, 0.1))
    calls.request("GET", "/admin/version/")
    assert calls.clock.waits == pytest.approx([0.0, 0.999, 0.2])


def test_retry_after_is_honoured_and_announced() -> None:
    sandbox = Sandbox(faults=Faults(retry_after=5))
    sandbox.fail_next("GET", "/stages/all/", status=429, times=2)
    calls = Calls(sandbox=sandbox)
    assert calls.request("GET", "/stages/all/")["results"]
    assert calls.clock.waits == [5.0, 5.0]
    assert calls.announced == [
        "authentik throttled GET /api/v3/stages/all/ (429): waiting 5 s before retry 1 of 3",
        "authentik throttled GET /api/v3/stages/all/ (429): waiting 5 s before retry 2 of 3"]


def test_retry_after_over_the_cap_waits_the_cap() -> None:
    sandbox = Sandbox(faults=Faults(retry_after=3600))
    sandbox.fail_next("GET", "/admin/version/", status=429)
    calls = Calls(sandbox=sandbox, max_wait=12)
    calls.request("GET", "/admin/version/")
    assert calls.clock.waits == [12.0]
    assert calls.announced == ["authentik throttled GET /api/v3/admin/version/ (429): waiting 12 s before retry 1 of 3"]


def test_retries_exhausted_are_one_error_naming_the_call() -> None:
    sandbox = Sandbox(faults=Faults(retry_after=1))
    sandbox.fail_next("GET", "/admin/version/", status=429, times=10)
    calls = Calls(sandbox=sandbox, retries=2)
    error = calls.failure("GET", "/admin/version/")
    assert str(error) == "GET /admin/version/: authentik is throttling requests (429), retries exhausted (3 attempts)"
    assert (error.method, error.path, error.status) == ("GET", "/admin/version/", 429)
    assert calls.count == 3 and calls.clock.waits == [1.0, 1.0]


def test_a_write_is_retried_on_429_where_the_server_did_not_act() -> None:
    sandbox = Sandbox(faults=Faults(retry_after=2))
    sandbox.fail_next("POST", "/stages/deny/", status=429)
    calls = Calls(sandbox=sandbox)
    created = calls.request("POST", "/stages/deny/", {"name": "retried-deny"})
    assert created["name"] == "retried-deny"
    assert statuses(sandbox, "/stages/deny/") == [429, 201]
    assert calls.clock.waits == [2.0]


def test_a_write_is_not_retried_on_a_gateway_error() -> None:
    sandbox = Sandbox()
    sandbox.fail_next("POST", "/stages/deny/", status=503)
    calls = Calls(sandbox=sandbox)
    error = calls.failure("POST", "/stages/deny/", {"name": "not-retried"})
    assert str(error) == "POST /stages/deny/: authentik answered 503"
    assert (statuses(sandbox, "/stages/deny/"), calls.count, calls.clock.waits) == ([503], 1, [])
    assert error.outcome_unknown  # a gateway's answer does not say whether authentik behind it acted


def test_a_dropped_write_is_not_retried_and_its_outcome_is_unknown() -> None:
    sandbox = Sandbox()
    sandbox.drop_next("POST", "/stages/deny/")
    calls = Calls(sandbox=sandbox)
    error = calls.failure("POST", "/stages/deny/", {"name": "dropped"})
    assert str(error) == ("POST /stages/deny/: connection failed: RemoteProtocolError: peer closed connection "
                          "without sending complete message body")
    assert error.outcome_unknown
    assert (statuses(sandbox, "/stages/deny/"), calls.count, calls.clock.waits) == ([0], 1, [])


def test_a_dropped_read_is_retried() -> None:
    sandbox = Sandbox()
    sandbox.drop_next("GET", "/stages/all/", times=2)
    calls = Calls(sandbox=sandbox)
    assert calls.request("GET", "/stages/all/")["results"]
    assert statuses(sandbox, "/stages/all/") == [0, 0, 200]
    assert calls.announced == [
        "connection lost during GET /api/v3/stages/all/ (RemoteProtocolError): waiting 0.25 s before retry 1 of 3",
        "connection lost during GET /api/v3/stages/all/ (RemoteProtocolError): waiting 0.5 s before retry 2 of 3"]


def refused_url() -> str:
    """A port on 127.0.0.1 that nothing listens on (it was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_write_is_retried_when_no_connection_could_be_made() -> None:
    url = refused_url()
    calls = Calls(url, retries=2)
    error = calls.failure("POST", "/stages/deny/", {"name": "never-sent"})
    assert str(error) == f"cannot reach authentik at {url}: All connection attempts failed"
    assert not error.outcome_unknown  # nothing reached a server
    assert (calls.count, calls.clock.waits) == (3, [0.25, 0.5])
    assert calls.announced[0] == ("cannot connect to authentik for POST /api/v3/stages/deny/ (ConnectError): "
                                  "waiting 0.25 s before retry 1 of 2")


# A small misbehaving HTTP server on 127.0.0.1: each connection's request is read, then `answer`
# writes what it likes until the test ends (`stop`).
Answer = Callable[[socket.socket, threading.Event, int], None]


@contextmanager
def misbehaving(answer: Answer) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    handlers: list[threading.Thread] = []

    def handle(connection: socket.socket, index: int) -> None:
        with connection:
            try:
                connection.settimeout(2)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                answer(connection, stop, index)
            except OSError:
                pass  # the client gave up and hung up: what the test expects

    def accept() -> None:
        for index in itertools.count():
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            handler = threading.Thread(target=handle, args=(connection, index), daemon=True)
            handlers.append(handler)
            handler.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join()
        for handler in handlers:
            handler.join()
        listener.close()


def trickle(connection: socket.socket, stop: threading.Event, index: int) -> None:
    """Promise 1000 bytes and send one every 50 ms: every read is quick, the body never ends."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    while not stop.wait(0.05):
        connection.sendall(b" ")


def silence(connection: socket.socket, stop: threading.Event, index: int) -> None:
    """Accept the request and never answer."""
    stop.wait(2)


def test_a_server_trickling_its_body_fails_at_the_deadline() -> None:
    with misbehaving(trickle) as url:
        calls = Calls(url, timeout=0.3)
        started = time.monotonic()
        error = calls.failure("GET", "/admin/version/")
        took = time.monotonic() - started
    assert str(error) == "GET /admin/version/: no complete answer within the 0.3 s deadline"
    assert (error.method, error.path) == ("GET", "/admin/version/")
    assert 0.3 <= took < 0.8
    assert calls.count == 1  # the deadline is the longest the caller waits for a call: not asked again


def test_a_server_that_never_answers_fails_at_the_deadline_and_a_write_is_unknown() -> None:
    with misbehaving(silence) as url:
        calls = Calls(url, timeout=0.3)
        started = time.monotonic()
        error = calls.failure("POST", "/stages/deny/", {"name": "lost"})
        took = time.monotonic() - started
    assert str(error) == "POST /stages/deny/: no complete answer within the 0.3 s deadline"
    assert error.outcome_unknown
    assert 0.3 <= took < 0.8


def throttled_until_a_date(connection: socket.socket, stop: threading.Event, index: int) -> None:
    if index == 0:
        when = email.utils.formatdate(WALL + 7, usegmt=True)
        connection.sendall(f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {when}\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n".encode())
    else:
        body = b'{"version_current": "2026.2.2"}'
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                           + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def test_retry_after_as_an_http_date_waits_until_then() -> None:
    with misbehaving(throttled_until_a_date) as url:
        calls = Calls(url)
        assert calls.request("GET", "/admin/version/") == {"version_current": "2026.2.2"}
    assert calls.clock.waits == [7.0]
    assert calls.announced == ["authentik throttled GET /api/v3/admin/version/ (429): waiting 7 s before retry 1 of 3"]


def throttled_with(header: bytes) -> Answer:
    """A 429 with `Retry-After: header` (raw bytes) first, then the version."""

    def answer(connection: socket.socket, stop: threading.Event, index: int) -> None:
        if index == 0:
            connection.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: " + header
                               + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            throttled_until_a_date(connection, stop, index)

    return answer


@pytest.mark.parametrize(("header", "waits", "shown"), [
    (b"3", [3.0], "3"),
    (b" 1.5 ", [1.5], "1.5"),
    # Not ASCII digits: `str.isdigit` takes them, `float` refuses `²`; ignored, the backoff applies.
    ("²".encode(), [0.25], "0.25"),
    ("٣".encode(), [0.25], "0.25"),
    (b"-3", [0.25], "0.25"),
    (b"1e3", [0.25], "0.25"),
    (b"soon", [0.25], "0.25"),
])
def test_retry_after_is_seconds_in_ascii_digits_or_a_date_else_the_backoff(header: bytes, waits: list[float],
                                                                            shown: str) -> None:
    with misbehaving(throttled_with(header)) as url:
        calls = Calls(url)
        assert calls.request("GET", "/admin/version/") == {"version_current": "2026.2.2"}
    assert calls.clock.waits == waits
    assert calls.announced == [
        f"authentik throttled GET /api/v3/admin/version/ (429): waiting {shown} s before retry 1 of 3"]


# Through the CLI over real HTTP.

def test_cli_timeout_bounds_a_call_and_names_it() -> None:
    with misbehaving(silence) as url:
        for extra, env in ((("--timeout", "0.3"), {}), ((), {"AUTHENTIK_TIMEOUT": "0.3"})):
            started = time.monotonic()
            result = run(url, "export", *extra, env=env)
            assert time.monotonic() - started < 0.8
            assert (result.exit_code, result.output) == (
                1, "error: GET /admin/version/: no complete answer within the 0.3 s deadline\n")


def test_cli_retries_are_announced_on_stderr_and_bounded() -> None:
    with served(faults=Faults(retry_after=0)) as (sandbox, url):
        sandbox.fail_next("GET", "/admin/version/", status=429, times=2)
        result = run(url, "export", "--kind", "deny", "--retries", "2")
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == [
            "authentik throttled GET /api/v3/admin/version/ (429): waiting 0 s before retry 1 of 2",
            "authentik throttled GET /api/v3/admin/version/ (429): waiting 0 s before retry 2 of 2"]
        sandbox.fail_next("GET", "/admin/version/", status=429, times=2)
        result = run(url, "export", "--kind", "deny", env={"AUTHENTIK_RETRIES": "1"})
        assert (result.exit_code, result.stderr.splitlines()) == (1, [
            "authentik throttled GET /api/v3/admin/version/ (429): waiting 0 s before retry 1 of 1",
            "error: GET /admin/version/: authentik is throttling requests (429), retries exhausted (2 attempts)"])


@pytest.mark.parametrize(("option", "value", "message"), [
    # issue #20: one range, 0.1-3600 s, whatever the value (0 was named against x>0)
    ("--timeout", "0", "Error: Invalid value for '--timeout': 0.0 is not in the range 0.1<=x<=3600."),
    ("--timeout", "soon", "Error: Invalid value for '--timeout': 'soon' is not a valid float range."),
    # issue #20: retries are between 0 and 20 (were 0 to 10)
    ("--retries", "21", "Error: Invalid value for '--retries': 21 is not in the range 0<=x<=20."),
    ("--retries", "-1", "Error: Invalid value for '--retries': -1 is not in the range 0<=x<=20."),
])
def test_cli_timeout_and_retries_are_validated(option: str, value: str, message: str) -> None:
    for args, env in (((option, value), {}), ((), {f"AUTHENTIK_{option[2:].upper()}": value})):
        result = run("http://127.0.0.1:9", "export", *args, env=env)
        assert result.exit_code == 1
        assert result.output.splitlines()[-1] == message


def gzipped(connection: socket.socket, stop: threading.Event, index: int) -> None:
    body = gzip.compress(b'{"version_current": "2026.2.2"}')
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def test_a_compressed_answer_read_within_the_deadline_is_decoded_once() -> None:
    # A proxy in front of authentik may gzip its answers; the layer reads the body, httpx decodes it.
    with misbehaving(gzipped) as url:
        assert Calls(url).request("GET", "/admin/version/") == {"version_current": "2026.2.2"}
