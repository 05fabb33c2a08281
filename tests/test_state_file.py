"""The state file (`reconciler.state.json`) as read and written: every record is checked where it
enters, so a file edited by hand or merged badly is one error naming the file and the key, never a
crash; and a symlink loop on the way to a manifest it names is a warning, not a crash."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import run, served, write_manifest, writes

from reconciler.state import StateFile

DIGITS = "9" * 5000  # more than Python converts to an int (4,300 digits by default)


def state_with(url: str, owned: Any = None, objects: Any = None) -> str:
    """A state file's text as the tool writes it, for server `url`, with records put in as given."""
    entry = {"key_id": None, "objects": objects or {}, "owned": owned or {"deny/a": {"kind": "deny", "id": 1}}}
    return json.dumps({"format_version": 1, "about": "", "servers": {url: entry}})


def plan_with(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    """`plan --prune` of one stage with the state file holding `text` ("{url}" stands for the
    server's URL)."""
    write_manifest(tmp_path, [{"kind": "deny", "name": "a"}])
    state = tmp_path / "reconciler.state.json"
    with served() as (_, url):
        state.write_text(text.replace("{url}", url))
        result = run(url, "plan", str(tmp_path), "--prune", "--state", str(state), *args)
    return result.exit_code, result.output.replace(url, "{url}")


@pytest.mark.parametrize("text, where", [
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": "deny", "id": DIGITS}}}}}',
     'servers["{url}"].owned["deny/a"].id'),
    ('{"format_version": DIGITS, "servers": {}}', "format_version"),
    ('{"servers": {}, "about": [1, DIGITS]}', "about[1]"),
])
def test_a_number_too_long_for_python_is_one_error_naming_the_file_and_the_key(tmp_path: Path, text: str,
                                                                             where: str) -> None:
    assert plan_with(tmp_path, text.replace("DIGITS", DIGITS)) == (
        1, f"error: cannot read the state file {tmp_path}/reconciler.state.json: {where} is a number of 5000 "
           "digits (at most 100)\n")


def test_an_id_of_digits_too_long_for_python_is_text(tmp_path: Path) -> None:
    """An id written as text of 5,000 digits is text: nothing converts it, and as it names no live
    object its record is dropped."""
    write_manifest(tmp_path, [{"kind": "deny", "name": "a"}])
    state = tmp_path / "reconciler.state.json"
    with served() as (sandbox, url):
        state.write_text(state_with(url, owned={"deny/gone": {"kind": "deny", "id": DIGITS}}))
        result = run(url, "apply", str(tmp_path), "--prune", "--auto-approve", "--state", str(state))
        assert result.exit_code == 0, result.output
        created = next(o for o in sandbox.objects("deny") if o["name"] == "a")
    owned = json.loads(state.read_text())["servers"][url]["owned"]
    assert owned == {"deny/a": {"kind": "deny", "id": created["pk"], "file": "stages.yaml"}}


WRONG = [
    ("[]", "the file must hold a JSON object"),
    ('{"format_version": 2, "servers": {}}', "format_version must be 1 (the format this tool reads), not 2"),
    ('{"format_version": true, "servers": {}}', "format_version must be 1 (the format this tool reads), not true"),
    ('{"format_version": 1}', "servers is missing"),
    ('{"servers": []}', "servers must be an object"),
    ('{"servers": {"{url}": 3}}', 'servers["{url}"] must be an object'),
    ('{"servers": {"{url}": {"key_id": 7}}}', 'servers["{url}"].key_id must be text'),
    ('{"servers": {"{url}": {"objects": []}}}', 'servers["{url}"].objects must be an object'),
    ('{"servers": {"{url}": {"owned": "deny/a"}}}', 'servers["{url}"].owned must be an object'),
    ('{"servers": {"{url}": {"objects": {"duo/d": []}}}}', 'servers["{url}"].objects["duo/d"] must be an object'),
    ('{"servers": {"{url}": {"objects": {"duo/d": {"pk": null, "fields": {}}}}}}',
     'servers["{url}"].objects["duo/d"].pk must be text or a whole number'),
    ('{"servers": {"{url}": {"objects": {"duo/d": {"pk": "1", "fields": ["client_secret"]}}}}}',
     'servers["{url}"].objects["duo/d"].fields must be an object'),
    ('{"servers": {"{url}": {"objects": {"duo/d": {"pk": "1", "fields": {"client_secret": 1}}}}}}',
     'servers["{url}"].objects["duo/d"].fields["client_secret"] must be text'),
    ('{"servers": {"{url}": {"owned": {"deny/a": "deny"}}}}', 'servers["{url}"].owned["deny/a"] must be an object'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"id": 1}}}}}', 'servers["{url}"].owned["deny/a"].kind must be text'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": "deny", "id": [1]}}}}}',
     'servers["{url}"].owned["deny/a"].id must be text or a whole number'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": "deny", "id": 1.5}}}}}',
     'servers["{url}"].owned["deny/a"].id must be text or a whole number'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": "deny", "id": false}}}}}',
     'servers["{url}"].owned["deny/a"].id must be text or a whole number'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": "deny", "id": 1, "file": {}}}}}}',
     'servers["{url}"].owned["deny/a"].file must be text'),
    ('{"servers": {"{url}": {"owned": {"deny/a": {"kind": 1, "id": {}}, "deny/b": 2}}}}',
     'servers["{url}"].owned["deny/a"].kind must be text (and 2 more)'),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize("text, message", WRONG)
def test_a_record_of_the_wrong_type_is_one_error_naming_the_file_and_the_key(tmp_path: Path, text: str,
                                                                            message: str) -> None:
    assert plan_with(tmp_path, text) == (
        1, f"error: cannot read the state file {tmp_path}/reconciler.state.json: {message}\n")


def test_a_wrong_record_is_reported_as_json_too(tmp_path: Path) -> None:
    code, output = plan_with(tmp_path, WRONG[15][0], "--format", "json")
    assert (code, json.loads(output)) == (1, {"error": {
        "type": "error", "message": f"cannot read the state file {tmp_path}/reconciler.state.json: "
                                    'servers["{url}"].owned["deny/a"].id must be text or a whole number'}})


def test_every_record_the_tool_writes_reads_back(tmp_path: Path) -> None:
    """Fingerprints, owned objects with and without an id or a manifest, a server whose key is not
    known (a file from before key ids), and the fingerprints of another key."""
    path = tmp_path / "reconciler.state.json"
    path.write_text('{"servers": {"http://old": {"objects": {}}}}')
    state = StateFile(key=b"k", server="http://x", path=path)
    state.record("authenticator_duo/duo", "4", "client_secret", "s3cret")
    state.own("authenticator_duo/duo", "authenticator_duo", 4, str(tmp_path / "m.yaml"))
    state.own("deny/later", "deny", None, str(tmp_path / "m.yaml"))
    state.own("flow/login", "flow", "7b1c5d9e-35a1-4b1a-9f5e-1d1f5d3c2b1a")
    state.save()
    again = StateFile(key=b"k", server="http://x", path=path)
    assert again.check("authenticator_duo/duo", "4", "client_secret", "s3cret") is None
    assert {address: (r.kind, r.id) for address, r in again.owned().items()} == {
        "authenticator_duo/duo": ("authenticator_duo", 4), "deny/later": ("deny", None),
        "flow/login": ("flow", "7b1c5d9e-35a1-4b1a-9f5e-1d1f5d3c2b1a")}
    assert StateFile(key=b"other", server="http://x", path=path).key_changed
    assert json.loads(path.read_text())["servers"]["http://old"] == {"key_id": None, "objects": {}, "owned": {}}


def test_a_manifest_the_state_file_names_behind_a_symlink_loop_is_a_warning_and_not_pruned(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "config").mkdir()
    (tmp_path / "loop").symlink_to("loop")
    write_manifest(tmp_path / "config", [{"kind": "deny", "name": "a"}, {"kind": "deny", "name": "b"}])
    state = tmp_path / "reconciler.state.json"
    with served() as (sandbox, url):
        assert run(url, "apply", str(tmp_path / "config"), "--auto-approve").exit_code == 0
        write_manifest(tmp_path / "config", [{"kind": "deny", "name": "a"}])
        records = json.loads(state.read_text())
        records["servers"][url]["owned"]["deny/b"]["file"] = "loop/stages.yaml"
        state.write_text(json.dumps(records))
        result = run(url, "plan", str(tmp_path / "config"), "--prune")
        assert (result.exit_code, result.output) == (0, (
            f"WARNING reconciler.state: the state file {state} names the manifest loop/stages.yaml, behind a "
            "symlink loop: what it described is not pruned\n"
            f"state: {state}\n"
            f"No changes. Live state matches the manifests (authentik 2026.2.2 at {url}, 1 object compared).\n\n"
            "Not in the manifests, left alone: 1 live object of the kinds they manage:\n  deny (1): b\n"))
        assert writes(sandbox)[-1][0] == "POST"  # nothing deleted


def test_a_saved_plan_whose_manifests_became_a_symlink_loop_records_them_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "config").mkdir()
    write_manifest(tmp_path / "config", [{"kind": "deny", "name": "a"}])
    monkeypatch.chdir(tmp_path)
    with served() as (sandbox, url):
        assert run(url, "plan", "config", "--out", "plan.json").exit_code == 0
        (tmp_path / "config").rename(tmp_path / "moved")
        (tmp_path / "config").symlink_to("config")
        result = run(url, "apply", "--plan", "plan.json", "--auto-approve")
        assert result.exit_code == 0, result.output
        assert result.output == (
            "state: ./reconciler.state.json\n"
            f"Plan for authentik 2026.2.2 at {url}:\n\n  + deny/a  (create: POST /api/v3/stages/deny/)\n"
            '      + name = "a"\n\n'
            "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.\n"
            "WARNING reconciler.state: cannot resolve the manifest config/stages.yaml (a symlink loop): the state "
            "file records it as written\n"
            "WARNING reconciler.state: the state file reconciler.state.json names the manifest config/stages.yaml, "
            "behind a symlink loop: what it described is not pruned\n"
            "  created deny/a (POST /api/v3/stages/deny/)\n\nApplied 1 of 1 changes.\n  applied:       create deny/a\n")
        created = next(o for o in sandbox.objects("deny") if o["name"] == "a")
    owned = json.loads((tmp_path / "reconciler.state.json").read_text())["servers"][url]["owned"]
    assert owned == {"deny/a": {"kind": "deny", "id": created["pk"], "file": "config/stages.yaml"}}


# -- found by a review ---------------------------------------------------------------------------
def test_a_symlinked_state_file_is_written_through_its_link(tmp_path: Path) -> None:
    # os.replace replaced the link with a file: the target stopped getting records, and paths
    # recorded relative to the target's folder were read back relative to the link's.
    (tmp_path / "config").mkdir()
    (tmp_path / "stages.yaml").write_text("stages: []\n")
    link = tmp_path / "config" / "reconciler.state.json"
    link.symlink_to("../reconciler.state.json")  # the target does not exist yet
    state = StateFile(key=b"k", server="http://x", path=link)
    state.own("deny/a", "deny", "a1", str(tmp_path / "stages.yaml"))
    state.save()
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "config", "reconciler.state.json", "stages.yaml"]
    assert json.loads((tmp_path / "reconciler.state.json").read_text())["servers"]["http://x"]["owned"] == {
        "deny/a": {"kind": "deny", "id": "a1", "file": "stages.yaml"}}
    again = StateFile(key=b"k", server="http://x", path=link)
    assert again.owned()["deny/a"].file == str(tmp_path / "stages.yaml")


def test_a_manifest_path_holding_a_nul_is_one_error(tmp_path: Path) -> None:
    # Path.resolve raises ValueError on an embedded NUL: plan --prune ended in exit 3.
    record = {"kind": "deny", "id": "a", "file": "x\u0000y/stages.yaml"}
    path = tmp_path / "reconciler.state.json"
    path.write_text(json.dumps({"format_version": 1, "servers": {"http://x": {
        "key_id": None, "objects": {}, "owned": {"deny/a": record}}}}))
    with pytest.raises(Exception) as caught:
        StateFile(key=b"k", server="http://x", path=path)
    assert str(caught.value) == (f'cannot read the state file {path}: servers["http://x"].owned["deny/a"].file must '
                                 "be a path (it holds a NUL character)")


def test_the_lock_never_holds_a_password_with_an_at_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler import state

    monkeypatch.setattr(state.sys, "orig_argv", ["reconciler", "plan", "--url", "https://admin:p@ss@auth.example.com/",
                                                  "--token", "tok3n"])
    assert state._running_command() == "reconciler plan --url https://auth.example.com/ --token '(sensitive)'"
