"""Applies sharing one state file (two CI jobs): each saves under the file's lock, onto what is on
disk then, so no record is lost; a run that finds the lock held waits a bounded time (on a fake
clock here) and then fails naming the run that holds it."""
from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from support import TOKEN, run, served, write_manifest

import reconciler.state
from reconciler.errors import ReconcilerError
from reconciler.state import StateFile


class FakeClock:
    """Waits cost nothing: `sleep` adds up the time, and may let the lock go at some point."""

    def __init__(self, on_sleep: object = None) -> None:
        self.now = 0.0
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if callable(self.on_sleep):
            self.on_sleep(self.now)


@contextmanager
def held(state: Path, holder: dict[str, object]) -> Iterator[int]:
    """The state file's lock, held as another run would hold it."""
    descriptor = os.open(state.with_name(state.name + ".lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(descriptor, json.dumps(holder).encode())
        yield descriptor
    finally:
        os.close(descriptor)


def test_two_runs_sharing_a_state_file_keep_each_others_records(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.state.json"
    first = StateFile(key=b"k", server="http://x", path=path)
    first.own("deny/old", "deny", 1)
    first.own("deny/gone", "deny", 2)
    first.save()
    one, two = StateFile(key=b"k", server="http://x", path=path), StateFile(key=b"k", server="http://x", path=path)
    one.own("deny/one", "deny", 10)
    one.record("duo/one", "10", "client_secret", "a")
    one.disown("deny/gone")
    two.own("deny/two", "deny", 20)
    two.record("duo/two", "20", "client_secret", "b")
    two.own("deny/old", "deny", 1, str(tmp_path / "m.yaml"))  # changed: its manifest is known now
    one.save()
    two.save()
    entry = json.loads(path.read_text())["servers"]["http://x"]
    assert entry["owned"] == {"deny/old": {"kind": "deny", "id": 1, "file": "m.yaml"},
                              "deny/one": {"kind": "deny", "id": 10}, "deny/two": {"kind": "deny", "id": 20}}
    assert sorted(entry["objects"]) == ["duo/one", "duo/two"]
    assert sorted(two.owned()) == ["deny/old", "deny/one", "deny/two"]  # what it saved is what it holds now
    assert not (tmp_path / "reconciler.state.json.lock").exists() and sorted(os.listdir(tmp_path)) == [
        "reconciler.state.json"]


def test_the_fingerprints_of_another_key_go_when_a_run_with_a_new_key_saves(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.state.json"
    old = StateFile(key=b"old", server="http://x", path=path)
    renewed = StateFile(key=b"new", server="http://x", path=path)
    old.record("duo/a", "1", "client_secret", "a")
    old.own("duo/a", "authenticator_duo", 1)
    old.save()
    renewed.record("duo/b", "2", "client_secret", "b")
    renewed.save()
    assert StateFile(key=b"new", server="http://x", path=path).check("duo/b", "2", "client_secret", "b") is None
    entry = json.loads(path.read_text())["servers"]["http://x"]
    assert sorted(entry["objects"]) == ["duo/b"] and sorted(entry["owned"]) == ["duo/a"]


def test_a_save_waits_for_the_lock_then_fails_naming_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.state.json"
    state = StateFile(key=b"k", server="http://x", path=path, clock=FakeClock())
    state.own("deny/a", "deny", 1)
    with held(path, {"pid": 4242, "command": "reconciler apply config --auto-approve"}), \
            pytest.raises(ReconcilerError) as raised:
        state.save()
    assert str(raised.value) == (
        f"cannot write the state file {path}: another run (pid 4242: reconciler apply config --auto-approve) still "
        f"holds its lock {path}.lock after 30 s; run again once it has finished")
    assert state.clock.now == pytest.approx(30.0)  # type: ignore[union-attr]
    assert not path.exists()


def test_a_save_takes_the_lock_once_its_holder_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.state.json"
    with held(path, {"pid": 4242, "command": "reconciler apply"}) as descriptor:
        def let_go(now: float) -> None:
            if now >= 2.0:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        state = StateFile(key=b"k", server="http://x", path=path, clock=FakeClock(let_go))
        state.own("deny/a", "deny", 1)
        state.save()
    assert state.clock.now == pytest.approx(2.0)  # type: ignore[union-attr]
    assert sorted(json.loads(path.read_text())["servers"]["http://x"]["owned"]) == ["deny/a"]


def test_an_apply_that_cannot_take_the_lock_says_who_holds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler.state, "CLOCK", FakeClock())
    write_manifest(tmp_path, [{"kind": "deny", "name": "a"}])
    state = tmp_path / "reconciler.state.json"
    with served() as (_, url), held(state, {"pid": 4242, "command": "reconciler apply config --auto-approve"}):
        result = run(url, "apply", str(tmp_path), "--auto-approve", "--state", str(state))
    assert result.exit_code == 1
    assert result.output.endswith(
        "  created deny/a (POST /api/v3/stages/deny/)\n"
        f"error: every change was applied, but cannot write the state file {state}: another run (pid 4242: "
        f"reconciler apply config --auto-approve) still holds its lock {state}.lock after 30 s; run again once it "
        "has finished\nApplied 1 of 1 changes.\n  applied:       create deny/a\n")


def test_a_run_writes_its_pid_and_command_without_credentials_into_the_lock(tmp_path: Path) -> None:
    """A run is held inside its save: its state file is a pipe the test writes only when it has
    read the lock file."""
    write_manifest(tmp_path, [{"kind": "deny", "name": "a"}])
    state = tmp_path / "reconciler.state.json"
    os.mkfifo(state)
    with served() as (_, url):
        userinfo_url = url.replace("http://", "http://admin:pw@")
        command = [sys.executable, "-m", "reconciler", "apply", str(tmp_path), "--auto-approve", "--state",
                   str(state), "--url", userinfo_url, "--token", TOKEN]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "NO_COLOR": "1"}) as process:
            feed(state, '{"servers": {}}')  # the plan reads it
            lock = state.with_name(state.name + ".lock")
            holder = wait_for(lambda: json.loads(lock.read_text() or "null"))
            feed(state, '{"servers": {}}')  # the save reads it again, under the lock
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    shown = command[:-3] + [url, "--token", "(sensitive)"]
    assert holder == {"pid": process.pid, "command": shlex.join(shown)}
    assert TOKEN not in lock.parent.joinpath(state.name).read_text() and not lock.exists()


def feed(pipe: Path, text: str) -> None:
    """Write `text` into a named pipe once a reader opens it (at most 20 s)."""
    descriptor = wait_for(lambda: os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    try:
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)


def wait_for(attempt: object, seconds: float = 20.0) -> object:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = attempt()  # type: ignore[operator]
            if found is not None:
                return found
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def test_applies_run_at_once_on_one_state_file_lose_no_record(tmp_path: Path) -> None:
    """Real processes, each with its manifests, one sandbox over HTTP, one `--state` file."""
    runs, stages = 5, 4
    state = tmp_path / "reconciler.state.json"
    folders = []
    for index in range(runs):
        folder = tmp_path / f"job{index}"
        folder.mkdir()
        (folder / "stages.yaml").write_text(yaml.safe_dump(
            {"stages": [{"kind": "deny", "name": f"job{index}-{n}"} for n in range(stages)]}))
        folders.append(folder)
    with served() as (sandbox, url):
        env = {**os.environ, "AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN, "NO_COLOR": "1"}
        processes = [subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(folder), "--auto-approve",
                                       "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env) for folder in folders]
        outputs = [process.communicate(timeout=60)[0] for process in processes]
        assert [p.returncode for p in processes] == [0] * runs, outputs
        created = {f"deny/{o['name']}": o["pk"] for o in sandbox.objects("deny") if o["name"].startswith("job")}
    owned = json.loads(state.read_text())["servers"][url]["owned"]
    assert len(created) == runs * stages
    assert {address: record["id"] for address, record in owned.items()} == created
    assert sorted(os.listdir(tmp_path)) == sorted([state.name, *(f.name for f in folders)])
