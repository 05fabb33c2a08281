"""`main(argv) -> int`: every way a run ends comes back as its exit code, and only the entry point
(`python -m reconciler`, the console script's wrapper) exits the process."""
from __future__ import annotations

import ast
import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import write_manifest

from reconciler import engine
from reconciler.cli.main import main

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"
CHANGED = [{"kind": "user_login", "name": "default-authentication-login", "session_duration": "hours=2"}]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No outer variable leaks in, and `main`'s collector thresholds do not outlive the test."""
    for key in os.environ:
        if key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def run_main(*args: str) -> int:
    """`main(args)`, failing the test (not ending the session) if it exits or lets Ctrl-C out."""
    try:
        return main(list(args))
    except (SystemExit, KeyboardInterrupt) as exc:
        pytest.fail(f"main raised {exc!r} instead of returning the exit code")


def test_success_returns_0(tmp_path: Path) -> None:
    write_manifest(tmp_path, CHANGED)
    assert run_main("validate", str(tmp_path)) == 0
    assert run_main("plan", str(tmp_path), "--sandbox") == 0
    assert run_main("--help") == 0


def test_an_error_the_user_can_act_on_returns_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(tmp_path, CHANGED)
    assert run_main("plan", str(tmp_path)) == 1
    assert capsys.readouterr().err == "error: no server: set AUTHENTIK_URL or --url (or use --sandbox)\n"
    invalid = write_manifest(tmp_path, [{"kind": "user_login", "name": "x", "session_duraton": "hours=2"}], "bad.yaml")
    assert run_main("validate", str(invalid)) == 1


def test_changes_with_detailed_exitcode_return_2(tmp_path: Path) -> None:
    write_manifest(tmp_path, CHANGED)
    assert run_main("plan", str(tmp_path), "--sandbox", "--detailed-exitcode") == 2
    assert run_main("plan", str(tmp_path), "--sandbox") == 0


def test_a_usage_error_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("plan", "--no-such-option") == 1
    assert capsys.readouterr().err == ("Usage: reconciler plan [OPTIONS] [PATHS]...\nTry 'reconciler plan --help' "
                                       "for help.\n\nError: No such option '--no-such-option'.\n")
    assert run_main("--no-such-option", "plan") == 1
    assert run_main("no-such-command") == 1
    assert run_main("plan") == 1  # found by the command, not the parser
    assert capsys.readouterr().err.endswith("error: give at least one manifest file or directory\n")


def test_ctrl_c_in_a_command_returns_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "plan", interrupted)
    write_manifest(tmp_path, CHANGED)
    assert run_main("plan", str(tmp_path), "--sandbox") == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_an_unexpected_error_returns_3_with_a_crash_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine, "plan", broken)
    write_manifest(tmp_path, CHANGED)
    assert run_main("plan", str(tmp_path), "--sandbox") == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: unexpected internal error; details in ")
    assert "RuntimeError: a bug" in Path(line.rsplit(" ", 1)[1]).read_text()


def test_output_nobody_reads_exits_1_quietly() -> None:
    # As click has it (`reconciler --help | true`): no crash log for a reader that has gone; the
    # same for a command's own output (`reconciler export --sandbox | head -1`).
    reader, writer = os.pipe()
    os.close(reader)
    try:
        for args in (["--help"], ["plan", "--help"], ["--version"], ["export", "--sandbox"],
                     ["explain", "--api-version", "2023.10.7"]):
            ended = subprocess.run([sys.executable, "-m", "reconciler", *args], stdout=writer, stderr=subprocess.PIPE,
                                   text=True, check=False)
            assert (ended.returncode, ended.stderr) == (1, ""), args
    finally:
        os.close(writer)


def test_json_output_whose_stderr_reader_has_gone_still_reports_on_stdout(tmp_path: Path) -> None:
    # A closed pipe does not say which stream it was: the plan's state line on stderr, whose reader
    # (a log forwarder) went, must not leave a JSON caller with an empty stdout; with stdout the
    # closed one, it is quiet as above.
    write_manifest(tmp_path, CHANGED)
    command = [sys.executable, "-m", "reconciler", "plan", str(tmp_path), "--sandbox", "--format", "json"]
    reader, writer = os.pipe()
    os.close(reader)
    try:
        stderr_gone = subprocess.run(command, stdout=subprocess.PIPE, stderr=writer, text=True, check=False)
        stdout_gone = subprocess.run(command, stdout=writer, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(writer)
    assert stderr_gone.returncode == 1
    assert json.loads(stderr_gone.stdout)["error"] == {
        "type": "output_closed",
        "message": "output closed: the reader of stdout or stderr stopped before the run's output was written"}
    assert (stdout_gone.returncode, stdout_gone.stderr) == (1, "state: none (sandbox)\n")  # no error, no crash log


def test_an_apply_whose_report_nobody_reads_says_so_on_stderr(tmp_path: Path) -> None:
    """The apply's changes are made whether or not its report is read (`apply | head -1`): it
    exits 1, as for any output nobody reads, and says on stderr where to look instead."""
    write_manifest(tmp_path, CHANGED)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        ended = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(tmp_path), "--sandbox",
                                "--auto-approve"], stdout=writer, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(writer)
    assert ended.returncode == 1
    assert ended.stderr.splitlines()[-1] == "error: the apply ran, but its report could not be written (stdout's " \
        "reader stopped); the state file holds what was applied, and a plan shows what is left"


def exits(path: Path) -> list[str]:
    """Where `path` ends the process: `sys.exit`, `os._exit`, `exit()`, `quit()` or `SystemExit`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.expr):
            continue
        named = (isinstance(node, ast.Attribute) and node.attr in {"exit", "_exit"}
                 and isinstance(node.value, ast.Name) and node.value.id in {"sys", "os"})
        builtin = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"exit", "quit"}
        if named or builtin or (isinstance(node, ast.Name) and node.id == "SystemExit"):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_entry_point_exits() -> None:
    everywhere = [found for path in sorted(PACKAGE.rglob("*.py")) for found in exits(path)]
    assert everywhere == ["reconciler/__main__.py:3: SystemExit"]
    assert (PACKAGE / "__main__.py").read_text().splitlines()[-1] == "raise SystemExit(main())"


def test_the_version_names_the_api_versions_the_tool_knows(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from reconciler.model.versions import known_versions

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == (f"reconciler {version('authentik-reconciler')} (authentik API "
                                       f"{', '.join(known_versions())})\n")
    assert known_versions() == ["2023.10.7", "2026.2.2"]
