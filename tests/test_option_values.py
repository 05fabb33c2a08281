"""Values of options checked where they enter: each numeric option's range and finiteness (flag,
environment variable and Python API alike), a URL's port, a sandbox seed's shape, and the sandbox
announcing its URL only once it listens."""
from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import TOKEN, run, sandbox_process, write_manifest

from reconciler import Connection, PlanOptions, apply
from reconciler.errors import ReconcilerError
from reconciler.sandbox import Sandbox


def usage(command: str, error: str) -> str:
    return f"Usage: cli {command} [OPTIONS] [PATHS]...\nTry 'cli {command} --help' for help.\n\nError: {error}\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login"}])
    return tmp_path


# -- numeric options -----------------------------------------------------------------------------
TIMEOUTS = {
    "inf": "inf is not a finite number of seconds.",
    "nan": "nan is not a finite number of seconds.",
    "-inf": "-inf is not a finite number of seconds.",
    "1e400": "inf is not a finite number of seconds.",
    "0.05": "0.05 is not in the range 0.1<=x<=3600.",
    "3601": "3601.0 is not in the range 0.1<=x<=3600.",
}


@pytest.mark.parametrize(("value", "problem"), TIMEOUTS.items())
def test_a_timeout_is_finite_and_at_most_an_hour(config: Path, value: str, problem: str) -> None:
    # `--timeout inf` waited forever, `--timeout nan` failed every call blaming the server.
    flag = run("http://127.0.0.1:9", "plan", str(config), "--sandbox", "--timeout", value)
    assert (flag.exit_code, flag.output) == (1, usage("plan", f"Invalid value for '--timeout': {problem}"))
    variable = run("http://127.0.0.1:9", "plan", str(config), "--sandbox", env={"AUTHENTIK_TIMEOUT": value})
    assert (variable.exit_code, variable.output) == (1, usage("plan", f"Invalid value for '--timeout': {problem}"))
    as_json = run("http://127.0.0.1:9", "apply", str(config), "--sandbox", "--format", "json", "--timeout", value)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"] == {"type": "usage",
                                                   "message": f"Invalid value for '--timeout': {problem}"}


def test_the_timeouts_at_the_bounds_are_taken(config: Path) -> None:
    for value in ("0.1", "3600"):
        result = run("http://127.0.0.1:9", "plan", str(config), "--sandbox", "--timeout", value)
        assert result.exit_code == 0, (value, result.output)


@pytest.mark.parametrize(("args", "env", "error"), [
    (("--retries", "21"), {}, "Invalid value for '--retries': 21 is not in the range 0<=x<=20."),
    (("--retries", "-1"), {}, "Invalid value for '--retries': -1 is not in the range 0<=x<=20."),
    ((), {"AUTHENTIK_RETRIES": "21"}, "Invalid value for '--retries': 21 is not in the range 0<=x<=20."),
    (("--parallelism", "0"), {}, "Invalid value for '--parallelism': 0 is not in the range 1<=x<=64."),
    (("--parallelism", "65"), {}, "Invalid value for '--parallelism': 65 is not in the range 1<=x<=64."),
    ((), {"RECONCILER_PARALLELISM": "65"}, "Invalid value for '--parallelism': 65 is not in the range 1<=x<=64."),
    (("--parallelism", "inf"), {}, "Invalid value for '--parallelism': 'inf' is not a valid integer range."),
])
def test_retries_and_parallelism_are_in_range(config: Path, args: tuple[str, ...], env: dict[str, str],
                                              error: str) -> None:
    result = run("http://127.0.0.1:9", "apply", str(config), "--sandbox", "--auto-approve", *args, env=env)
    assert (result.exit_code, result.output) == (1, usage("apply", error))


def test_the_sandbox_port_is_in_range() -> None:
    result = run("http://unused", "sandbox", "--port", "65536")
    assert (result.exit_code, result.output) == (
        1, "Usage: cli sandbox [OPTIONS]\nTry 'cli sandbox --help' for help.\n\n"
           "Error: Invalid value for '--port': 65536 is not in the range 0<=x<=65535.\n")


def test_the_cli_ranges_are_the_python_apis() -> None:
    from reconciler.applying import runner
    from reconciler.cli import commands, options
    from reconciler.server import client

    assert options.TIMEOUT_RANGE == client.TIMEOUT_RANGE
    assert options.RETRIES_RANGE == client.RETRIES_RANGE
    assert commands.PARALLELISM_RANGE == runner.PARALLELISM_RANGE


@pytest.mark.parametrize(("options", "error"), [
    ({"timeout": math.inf}, "timeout must be a finite number of seconds from 0.1 to 3600, not inf"),
    ({"timeout": math.nan}, "timeout must be a finite number of seconds from 0.1 to 3600, not nan"),
    ({"timeout": 0.05}, "timeout must be a finite number of seconds from 0.1 to 3600, not 0.05"),
    ({"timeout": 3601}, "timeout must be a finite number of seconds from 0.1 to 3600, not 3601"),
    ({"connect_timeout": math.inf}, "connect_timeout must be a finite number of seconds from 0.1 to 3600, not inf"),
    ({"retries": 21}, "retries must be a whole number from 0 to 20, not 21"),
    ({"retries": -1}, "retries must be a whole number from 0 to 20, not -1"),
    ({"retries": 2.5}, "retries must be a whole number from 0 to 20, not 2.5"),
])
def test_a_connection_refuses_what_the_cli_refuses(options: dict[str, float], error: str) -> None:
    with pytest.raises(ReconcilerError) as refused:
        Connection(url="http://sandbox", token=TOKEN, **options)  # type: ignore[arg-type]
    assert str(refused.value) == error


@pytest.mark.parametrize("parallelism", [0, 65])
def test_apply_refuses_a_parallelism_out_of_range_before_any_call(config: Path, parallelism: int) -> None:
    sandbox = Sandbox()
    connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    with pytest.raises(ReconcilerError) as refused:
        apply([config], connection, PlanOptions(keep_state=False), parallelism=parallelism)
    assert str(refused.value) == f"parallelism must be a whole number from 1 to 64, not {parallelism}"
    assert sandbox.requests == []


# -- URLs ----------------------------------------------------------------------------------------
def test_a_url_whose_port_is_out_of_range_is_named(config: Path) -> None:
    # httpx takes a port up to 99999 and failed only when connecting: an internal error (exit 3).
    result = run("http://127.0.0.1:99999", "plan", str(config))
    assert (result.exit_code, result.output) == (
        1, "error: invalid authentik URL: http://127.0.0.1:99999: port 99999 is out of range (1-65535)\n")
    zero = run("http://127.0.0.1:0/api/v3/", "plan", str(config))
    assert (zero.exit_code, zero.output) == (
        1, "error: invalid authentik URL: http://127.0.0.1:0/api/v3/: port 0 is out of range (1-65535)\n")


def test_a_url_that_does_not_parse_is_named_without_its_credentials(config: Path) -> None:
    result = run("http://user:hunter22@127.0.0.1:abc", "plan", str(config))
    assert (result.exit_code, result.output) == (1, (
        "WARNING reconciler.client: the authentik URL http://127.0.0.1:abc carries credentials; they are not used: "
        "the tool authenticates with the API token\n"
        "error: invalid authentik URL: http://127.0.0.1:abc: Invalid port: 'abc'\n"))
    out_of_range = run("https://user:hunter22@auth.example.com:70000", "plan", str(config))
    assert out_of_range.output.splitlines()[-1] == (
        "error: invalid authentik URL: https://auth.example.com:70000: port 70000 is out of range (1-65535)")
    assert "hunter22" not in out_of_range.output


def test_a_short_token_does_not_garble_the_log_lines(config: Path) -> None:
    # Found with `--token t`: the log filter replaced every "t" of the warning. A secret of under
    # 4 characters is replaced where it stands quoted only, as in the client's own errors.
    result = run("http://user:pw@127.0.0.1:9", "plan", str(config), "--token", "t", "--retries", "0")
    assert result.output.splitlines()[0] == (
        "WARNING reconciler.client: the authentik URL http://127.0.0.1:9 carries credentials; they are not used: "
        "the tool authenticates with the API token")


# -- sandbox seeds -------------------------------------------------------------------------------
SEEDS = {
    "lists-not-lists.json": ('{"lists": {"/stages/deny/": 5}}', 'lists["/stages/deny/"]: not a list of objects'),
    "item-not-object.json": ('{"lists": {"/stages/deny/": [{"name": "a"}, 5]}}',
                             'lists["/stages/deny/"][1]: not an object'),
    "huge-number.json": ('{"lists": {"/stages/deny/": [{"name": "a", "pk": ' + "9" * 5000 + "}]}}",
                         'lists["/stages/deny/"][0].pk: a number of 5000 digits, more than 4300'),
    "nan.json": ('{"lists": {"/sources/all/": [{"slug": "s", "extra": {"ratio": NaN}}]}}',
                 'lists["/sources/all/"][0].extra.ratio: NaN is not JSON'),
    "not-an-object.json": ("[]", 'a sandbox seed is an object {"version": ..., "lists": {path: [objects]}}'),
    "lists-not-object.json": ('{"lists": []}', 'a sandbox seed is an object {"version": ..., "lists": '
                                               '{path: [objects]}}'),
    "other-version.json": ('{"version": "2023.10.7", "lists": {}}', "the seed is for authentik 2023.10.7, "
                                                                    "not 2026.2.2"),
    "not-json.json": ('{"lists": ', "the sandbox seed is not JSON: Expecting value: line 1 column 11 (char 10)"),
    "deep.json": ("[" * 100_000 + "]" * 100_000, "the sandbox seed is nested too deeply"),
}


@pytest.fixture
def busy_port() -> Iterator[str]:
    """A port in use: the seed is loaded before the port is bound, so a seed the sandbox took
    would end in "cannot serve" rather than serve until stopped."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield str(busy.getsockname()[1])


@pytest.mark.parametrize("name", SEEDS)
def test_a_malformed_seed_is_named_by_file_and_key(tmp_path: Path, busy_port: str, name: str) -> None:
    text, problem = SEEDS[name]
    seed = tmp_path / name
    seed.write_text(text)
    result = run("http://unused", "sandbox", "--port", busy_port, "--seed", str(seed))
    assert (result.exit_code, result.output) == (1, f"error: {seed}: {problem}\n")


def test_a_seed_that_is_not_utf8_is_named(tmp_path: Path, busy_port: str) -> None:
    seed = tmp_path / "latin1.json"
    seed.write_bytes(b'{"lists": {"/sources/all/": [{"name": "caf\xe9"}]}}')
    result = run("http://unused", "sandbox", "--port", busy_port, "--seed", str(seed))
    assert (result.exit_code, result.output) == (1, f"error: {seed}: the sandbox seed is not JSON: 'utf-8' "
                                                    "codec can't decode byte 0xe9 in position 42: invalid "
                                                    "continuation byte\n")


def test_a_malformed_seed_mapping_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r'^lists\["/stages/deny/"\]\[0\]: not an object$'):
        Sandbox(seed={"lists": {"/stages/deny/": ["deny"]}})


# -- the sandbox command -------------------------------------------------------------------------
def test_the_sandbox_announces_its_url_once_it_accepts_connections() -> None:
    # Its first line came before uvicorn listened: a script connecting at once was refused.
    with sandbox_process("--port", "0", "--token", "T") as first:
        host, port = first.split()[4].removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /api/v3/admin/version/ HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer T\r\n"
                               b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"version_current":"2026.2.2"' in answer


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_the_sandbox_on_an_ipv6_host_announces_a_url_that_works() -> None:
    # It printed http://::1:PORT, which no client can parse.
    with sandbox_process("--host", "::1", "--port", "0", "--token", "T") as first:
        url = first.split()[4]
        assert url.startswith("http://[::1]:")
        answer = httpx.get(f"{url}/api/v3/admin/version/", headers={"Authorization": "Bearer T"})
        assert answer.json()["version_current"] == "2026.2.2"
