"""Inputs from outside are bounded where they enter: a manifest's size, nesting and alias
expansion, values JSON cannot carry, encodings, `{file}` secrets, and which files are read. Each
refusal is one located problem through `validate` and `plan`, never a crash or a secret."""
from __future__ import annotations

import logging
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import run, served, write_manifest

from reconciler import ManifestError, validate_paths
from reconciler.cli.main import cli
from reconciler.planning import pipeline

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = FIXTURES / "invalid"


def cli_output(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def both_commands(path: Path) -> list[tuple[int, str]]:
    """`validate` and `plan --sandbox` on `path`: the same problems from each."""
    return [cli_output("validate", str(path)), cli_output("plan", "--sandbox", str(path))]


def test_a_billion_laughs_stops_at_the_alias_at_once() -> None:
    path = INVALID / "billion-laughs.yaml"
    expected = f'{path}:6:8: invalid YAML: the aliases expand to more than 100,000 values (a "billion laughs" file?)\n'
    assert both_commands(path) == [(1, expected + "1 problem found.\n")] * 2
    started = time.process_time()
    tracemalloc.start()
    assert pipeline.load([path]).problems
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.process_time() - started < 1 and peak < 30e6  # 9**10 values if it were built


def test_an_alias_inside_what_it_names_and_deep_nesting_are_located() -> None:
    loop, deep = INVALID / "alias-loop.yaml", INVALID / "too-deep.yaml"
    assert both_commands(loop) == [(1, f"{loop}:4:26: invalid YAML: the alias *a is inside what it names\n"
                                       "1 problem found.\n")] * 2
    assert both_commands(deep) == [(1, f"{deep}:4:80: nested more than 64 levels deep\n1 problem found.\n")] * 2


def test_an_alias_used_where_it_nests_too_deep_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"stages:\n  - kind: deny\n    name: a\n    deny_message: &x {'[' * 40}{']' * 40}\n"
                    f"  - kind: deny\n    name: b\n    deny_message: {'[' * 30}*x{']' * 30}\n")
    assert both_commands(path)[0] == (
        1, f"{path}:4:5: deny/a: deny_message: expected a string or {{env: VARIABLE}} or {{file: PATH}}, got a list\n"
           f"{path}:4:53: nested more than 64 levels deep\n2 problems found.\n")


def test_aliases_within_the_budget_are_values_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("stages:\n  - kind: identification\n    name: id-0\n    user_fields: &users [username, email]\n"
                    + "".join(f"  - kind: identification\n    name: id-{i}\n    user_fields: *users\n"
                              for i in range(1, 50)))
    objects = validate_paths([path], "2026.2.2")
    assert [o.fields["user_fields"] for o in objects] == [["username", "email"]] * 50
    assert objects[7].position("user_fields") == (25, 5)


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (10 * 2**20) + b"\n")
    assert both_commands(path) == [(1, f"{path}:0:0: larger than 10 MiB: split it into several files\n"
                                       "1 problem found.\n")] * 2


def test_values_json_cannot_carry_are_located_problems_not_crashes() -> None:
    path = INVALID / "not-json-values.yaml"
    where = f"{path}:{{}}:7: invitation_invite/dated: fixed_data.{{}}"
    expected = "".join(where.format(line, name) + f": {what} is not a JSON value: quote it\n" for line, name, what in [
        (5, "day", "a date"), (6, "moment", "a date and time"), (7, "big", "infinity (.inf)"),
        (8, "small", "negative infinity (-.inf)"), (9, "odd", "not-a-number (.nan)"),
        (10, "blob", "binary data (!!binary)")])
    assert both_commands(path) == [(1, expected + "6 problems found.\n")] * 2


def test_a_date_in_a_typed_field_is_one_problem(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, [{"kind": "deny", "name": "d"}])
    path.write_text(path.read_text() + "  deny_message: 2024-01-01\n")
    assert cli_output("validate", str(path)) == (
        1, f"{path}:4:3: deny/d: deny_message: a date is not a JSON value: quote it\n1 problem found.\n")


def test_encodings_and_control_characters_are_located() -> None:
    nul, latin1, control = INVALID / "nul-byte.yaml", INVALID / "not-utf8.yaml", INVALID / "control-character.yaml"
    assert both_commands(nul) == [(1, f"{nul}:3:15: a NUL byte is not allowed in YAML\n1 problem found.\n")] * 2
    assert both_commands(latin1) == [(1, f"{latin1}:3:14: not UTF-8: byte 0xe9 cannot be decoded (save the file "
                                         "as UTF-8)\n1 problem found.\n")] * 2
    assert both_commands(control)[1] == (1, f"{control}:4:21: the control character U+0001 is not allowed in "
                                            "YAML\n1 problem found.\n")


def test_a_byte_order_mark_is_fine() -> None:
    assert cli_output("validate", str(FIXTURES / "bom.yaml")) == (0, "1 object valid for authentik 2026.2.2.\n")


@pytest.mark.parametrize("written", ["!!int hunter2", "!!float hunter2", "!!timestamp hunter2", "!!bool hunter2",
                                     "!custom hunter2", "[hunter2]", "{hunter2: 1}", "{env: [hunter2]}",
                                     "{file: hunter2, env: x}"])
def test_an_invalid_secret_value_is_never_echoed(tmp_path: Path, written: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("stages:\n  - kind: authenticator_duo\n    name: d\n    client_id: c\n    api_hostname: h\n"
                    f"    client_secret: {written}\n")
    for code, output in both_commands(path):
        assert code == 1 and "hunter2" not in output and output.startswith(f"{path}:6:")


def test_a_tag_its_scalar_cannot_hold_names_the_tag_only(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("stages:\n  - kind: email\n    name: m\n    password: !!int hunter2\n")
    assert cli_output("validate", str(path)) == (
        1, f"{path}:4:15: invalid value for its tag !!int\n1 problem found.\n")


def test_an_unknown_tag_is_never_echoed_it_may_be_an_unquoted_secret() -> None:
    path = INVALID / "unknown-tag.yaml"
    expected = (f"{path}:5:15: an unknown YAML tag (quote the value if it is a string)\n"
                f"{path}:6:11: an unknown YAML tag (quote the value if it is a string)\n"
                f"{path}:7:11: invalid value for its tag !!int\n3 problems found.\n")
    assert both_commands(path) == [(1, expected)] * 2
    annotated = run("http://127.0.0.1:9", "validate", str(path), env={"GITHUB_ACTIONS": "true"})
    assert annotated.exit_code == 1 and "::error file=" in annotated.output
    assert "Sup3r" not in annotated.output and "Sm7p" not in annotated.output


def test_tags_on_mappings_and_lists_are_refused_where_they_are_written() -> None:
    path = INVALID / "tagged-collections.yaml"
    expected = (f"{path}:3:5: an unknown YAML tag (quote the value if it is a string)\n"
                f"{path}:8:19: an unknown YAML tag (quote the value if it is a string)\n"
                f"{path}:11:11: the YAML tag !!set is not supported: write a plain mapping\n"
                f"{path}:15:11: the YAML tag !!map does not fit a list\n"
                f"{path}:16:11: the YAML tag !!omap is not supported: write a plain list\n"
                f"{path}:18:5: an unknown YAML tag (quote the value if it is a string)\n6 problems found.\n")
    assert both_commands(path) == [(1, expected)] * 2


# {file: PATH} secrets

def mail_manifest(folder: Path, secret_path: str) -> Path:
    return write_manifest(folder, [{"kind": "email", "name": "mail", "password": {"file": secret_path}}])


def plan_error(folder: Path, *extra: str) -> tuple[int, str]:
    return cli_output("plan", "--sandbox", str(folder), *extra)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "manifests").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside-secret-8c1f\n")
    return tmp_path / "repo"


def test_a_file_secret_outside_the_repository_needs_allow_file_outside(repo: Path) -> None:
    outside = repo.parent / "outside"
    path = mail_manifest(repo / "manifests", "../../outside/secret.txt")
    code, output = plan_error(repo / "manifests")
    assert (code, output) == (1, f"{path}:4:3: email/mail: password: cannot read secret file "
                                 f"{repo}/manifests/../../outside/secret.txt: outside the repository {repo} (allow "
                                 "its folder with --allow-file-outside DIR)\n1 problem found.\n")
    code, output = plan_error(repo / "manifests", "--allow-file-outside", str(outside))
    assert code == 0 and "+ email/mail" in output and "outside-secret-8c1f" not in output


def test_a_symlink_inside_the_repository_to_a_file_outside_is_refused(repo: Path) -> None:
    (repo / "manifests" / "link.txt").symlink_to(repo.parent / "outside" / "secret.txt")
    path = mail_manifest(repo / "manifests", "link.txt")
    code, output = plan_error(repo / "manifests")
    assert (code, output) == (1, f"{path}:4:3: email/mail: password: cannot read secret file "
                                 f"{repo}/manifests/link.txt: outside the repository {repo} (allow its folder with "
                                 "--allow-file-outside DIR)\n1 problem found.\n")


def test_a_file_secret_that_is_a_symlink_loop_is_a_located_problem(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "manifests" / "loop").symlink_to("loop")
    path = mail_manifest(repo / "manifests", "loop")
    assert plan_error(repo / "manifests") == (1, f"{path}:4:3: email/mail: password: cannot read secret file "
                                                 f"{repo}/manifests/loop: a symlink loop\n1 problem found.\n")
    # Seen from inside the repository (a path recorded relative to here), and by a saved plan's apply.
    monkeypatch.chdir(repo)
    (repo / "manifests" / "secret.txt").write_text("inside-secret")
    mail_manifest(repo / "manifests", "secret.txt")
    with served() as (sandbox, url):
        assert run(url, "plan", "manifests", "--out", "plan.json").exit_code == 0
        (repo / "manifests" / "secret.txt").unlink()
        (repo / "manifests" / "secret.txt").symlink_to("secret.txt")
        refused = run(url, "apply", "--plan", "plan.json", "--auto-approve")
        assert (refused.exit_code, refused.output) == (1, (
            "error: the saved plan is stale, nothing was applied (1 reason):\n"
            "  email/mail: password: cannot read secret file manifests/secret.txt: a symlink loop\n"))
        assert [r.method for r in sandbox.requests if r.method != "GET"] == []


def test_a_state_file_that_is_a_symlink_loop_is_an_error(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "real"}])
    (tmp_path / "state.json").symlink_to("state.json")
    with served() as (sandbox, url):
        result = run(url, "apply", str(tmp_path), "--auto-approve", "--state", str(tmp_path / "state.json"))
        assert (result.exit_code, result.output) == (
            1, f"error: cannot read the state file {tmp_path}/state.json: a symlink loop\n")
        assert [r.method for r in sandbox.requests if r.method != "GET"] == []


def test_without_git_the_manifests_folder_is_the_repository(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "secret.txt").write_text("s")
    path = mail_manifest(tmp_path / "manifests", "../secret.txt")
    assert plan_error(tmp_path / "manifests")[1].startswith(
        f"{path}:4:3: email/mail: password: cannot read secret file {tmp_path}/manifests/../secret"
        f".txt: outside the repository {tmp_path}/manifests ")


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.mkdir(), "not a regular file"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.write_bytes(b"x" * (64 * 1024 + 1)), "larger than 64 KiB"),
    (lambda p: p.write_bytes(b"\xff\xfe"), "not UTF-8"),
    (lambda p: None, "No such file or directory"),
])
def test_a_file_secret_must_be_a_small_regular_file(repo: Path, make: object, reason: str) -> None:
    make(repo / "manifests" / "secret")  # type: ignore[operator]
    path = mail_manifest(repo / "manifests", "secret")
    assert plan_error(repo / "manifests") == (1, f"{path}:4:3: email/mail: password: cannot read "
                                                 f"secret file {repo}/manifests/secret: {reason}\n1 problem found.\n")


def test_a_file_of_exactly_the_cap_is_read(repo: Path) -> None:
    (repo / "manifests" / "secret").write_bytes(b"x" * 64 * 1024)
    mail_manifest(repo / "manifests", "secret")
    assert plan_error(repo / "manifests")[0] == 0


def test_apply_of_a_saved_plan_reads_its_secret_files_by_the_same_rule(repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    (repo / "manifests" / "secret.txt").write_text("inside-secret")
    mail_manifest(repo / "manifests", "secret.txt")
    with served() as (sandbox, url):
        planned = run(url, "plan", "manifests", "--out", "plan.json")
        assert planned.exit_code == 0, planned.output
        # The file is swapped for a link to a file outside the repository with the same content.
        (repo.parent / "outside" / "secret.txt").write_text("inside-secret")
        (repo / "manifests" / "secret.txt").unlink()
        (repo / "manifests" / "secret.txt").symlink_to(repo.parent / "outside" / "secret.txt")
        refused = run(url, "apply", "--plan", "plan.json", "--auto-approve")
        assert (refused.exit_code, refused.output) == (1, (
            "error: the saved plan is stale, nothing was applied (1 reason):\n"
            "  email/mail: password: cannot read secret file manifests/secret.txt: outside the "
            f"repository {repo} (allow its folder with --allow-file-outside DIR)\n"))
        assert [r.method for r in sandbox.requests if r.method != "GET"] == []
        allowed = run(url, "apply", "--plan", "plan.json", "--auto-approve",
                      "--allow-file-outside", str(repo.parent / "outside"))
        assert allowed.exit_code == 0, allowed.output
        assert [r.method for r in sandbox.requests if r.method != "GET"] == ["POST"]


def test_a_saved_plan_may_name_a_file_in_an_allowed_folder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    outside = str(repo.parent / "outside")
    mail_manifest(repo / "manifests", f"{outside}/secret.txt")
    with served() as (_, url):
        planned = run(url, "plan", "manifests", "--out", "plan.json", "--allow-file-outside", outside)
        assert planned.exit_code == 0, planned.output
        refused = run(url, "apply", "--plan", "plan.json", "--auto-approve")
        assert refused.exit_code == 1 and "is outside the working folder" in refused.output
        allowed = run(url, "apply", "--plan", "plan.json", "--auto-approve", "--allow-file-outside", outside)
        assert allowed.exit_code == 0, allowed.output


# Discovery

def test_a_folder_without_manifests_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a manifest")
    folder = tmp_path / "empty"
    assert both_commands(folder) == [(1, f"{folder}:0:0: no manifest files under {folder}\n1 problem found.\n")] * 2


def test_symlinked_folders_are_not_followed_and_links_outside_are_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_manifest(repo, [{"kind": "deny", "name": "real"}])
    (repo / "loop").symlink_to(repo)  # a loop, if it were followed
    (tmp_path / "elsewhere.yaml").write_text("stages:\n  - {kind: deny, name: elsewhere}\n")
    (repo / "elsewhere.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    (repo / "shared").mkdir()
    (repo / "shared" / "base.yml").write_text("stages:\n  - {kind: deny, name: shared}\n")
    (repo / "linked.yaml").symlink_to(repo / "shared" / "base.yml")
    with caplog.at_level(logging.WARNING, logger="reconciler.manifest"), pytest.raises(ManifestError) as caught:
        validate_paths([repo], "2026.2.2")
    # the link inside the repository is read: the same object twice
    assert [p.message for p in caught.value.problems] == [
        f"duplicate name: deny/shared at {repo}/linked.yaml:2:18 has it too (stage names are unique across all "
        "stage kinds)"]
    assert caplog.messages == [f"skipped {repo}/elsewhere.yaml: it links to {tmp_path}/elsewhere.yaml, outside {repo}",
                               f"skipped {repo}/loop: a symlinked folder is not followed"]


def test_a_manifest_symlink_loop_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_manifest(tmp_path, [{"kind": "deny", "name": "real"}])
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "a.yml").symlink_to("b.yml")
    (tmp_path / "b.yml").symlink_to("a.yml")
    (tmp_path / "notes").symlink_to("notes")  # not a manifest's name: not looked at
    # A link to nothing was skipped without a word; issue #20: a warning (an error with --prune).
    (tmp_path / "gone.yaml").symlink_to("nowhere.yaml")
    with caplog.at_level(logging.WARNING, logger="reconciler.manifest"):
        assert [o.name for o in validate_paths([tmp_path], "2026.2.2")] == ["real"]
    assert caplog.messages == [f"skipped {tmp_path}/a.yml: a symlink loop", f"skipped {tmp_path}/b.yml: a symlink loop",
                               f"skipped {tmp_path}/gone.yaml: it links to {tmp_path}/nowhere.yaml, which does not "
                               "exist", f"skipped {tmp_path}/loop.yaml: a symlink loop"]
    with served() as (_, url):
        result = run(url, "plan", str(tmp_path))
        assert result.exit_code == 0 and "Plan: 1 to create" in result.stdout


def test_skipped_links_are_warned_on_stderr(tmp_path: Path) -> None:
    import subprocess
    import sys

    write_manifest(tmp_path, [{"kind": "deny", "name": "real"}])
    (tmp_path / "loop").symlink_to(tmp_path)
    result = subprocess.run([sys.executable, "-m", "reconciler", "validate", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "1 object valid for authentik 2026.2.2.\n",
        f"WARNING reconciler.manifest: skipped {tmp_path}/loop: a symlinked folder is not followed\n")


def test_sections_may_repeat_across_documents_not_within_one(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("stages:\n  - {kind: deny, name: a}\n---\nstages:\n  - {kind: deny, name: b}\n")
    assert len(validate_paths([path], "2026.2.2")) == 2
    path.write_text("stages:\n  - {kind: deny, name: a}\nstages:\n  - {kind: deny, name: b}\n")
    assert cli_output("validate", str(path)) == (1, f"{path}:3:1: duplicate key 'stages'\n1 problem found.\n")
