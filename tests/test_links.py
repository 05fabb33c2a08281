"""Symlinks at the edges of the folders the tool reads and writes, through the CLI against the
sandbox over real HTTP: `export --out` never writes or removes through a link (forced or not) and
writes each file by rename; a manifest read through a link is owned under the link's path; a link
discovery cannot follow is an error when the plan would prune, a warning otherwise."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import calling
from support import run, served, writes

from reconciler.sandbox import Sandbox

VERSION = "2026.2.2"


def refusal(out: Path, *links: tuple[Path, str]) -> str:
    shown = "; ".join(f"{link} links to {target}" for link, target in links)
    return (f"error: cannot export into {out}: the export never writes through a symlink ({shown}): remove the "
            "link, or export into another folder\n")


def tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# -- export ----------------------------------------------------------------------------------------
def test_an_export_never_writes_into_a_linked_layout_folder_even_forced(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "stages").symlink_to(elsewhere)
    with served() as (_, url):
        for forced in ((), ("--force",)):
            result = run(url, "export", "--out", str(out), "--kind", "identification", *forced)
            assert (result.exit_code, result.stderr) == (1, refusal(out, (out / "stages", str(elsewhere))))
    assert tree(tmp_path) == ["elsewhere", "out", "out/stages"]  # nothing written, the schema neither


def test_an_export_never_writes_through_a_linked_file_even_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "stages").mkdir(parents=True)
    outside = tmp_path / "precious.yaml"
    outside.write_text("precious\n")
    (out / "stages" / "identification.yaml").symlink_to(outside)
    with served() as (_, url):
        for forced in ((), ("--force",)):
            result = run(url, "export", "--out", str(out), "--kind", "identification", *forced)
            assert (result.exit_code, result.stderr) == (
                1, refusal(out, (out / "stages" / "identification.yaml", str(outside))))
    assert outside.read_text() == "precious\n"
    assert tree(out) == ["stages", "stages/identification.yaml"]


def test_an_export_never_replaces_or_removes_a_link_inside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with served() as (sandbox, url):
        call = calling(sandbox)
        assert call("POST", "/stages/dummy/", json={"name": "one"}).status_code == 201
        assert run(url, "export", "--out", str(out)).exit_code == 0
        schema = out / f"manifest-{VERSION}.schema.json"
        # The schema copy as a link to a file of the folder: replacing it would write through it.
        (out / "schema.json").write_bytes(schema.read_bytes())
        schema.unlink()
        schema.symlink_to("schema.json")
        result = run(url, "export", "--out", str(out), "--force")
        assert (result.exit_code, result.stderr) == (1, refusal(out, (schema, "schema.json")))
        schema.unlink()
        assert run(url, "export", "--out", str(out)).exit_code == 0
        # A file an earlier export wrote, now a link to a copy: a whole export would remove it.
        dummy = out / "stages" / "dummy.yaml"
        (out / "dummy.copy").write_bytes(dummy.read_bytes())
        dummy.unlink()
        dummy.symlink_to("../dummy.copy")
        assert call("DELETE", f"/stages/dummy/{sandbox.objects('dummy')[0]['pk']}/").status_code == 204
        result = run(url, "export", "--out", str(out), "--force")
        assert (result.exit_code, result.stderr) == (1, refusal(out, (dummy, "../dummy.copy")))
        assert dummy.is_symlink() and (out / "dummy.copy").exists()


def test_an_export_replaces_a_file_by_rename_never_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with served() as (sandbox, url):
        call = calling(sandbox)
        assert call("POST", "/stages/dummy/", json={"name": "one"}).status_code == 201
        assert run(url, "export", "--out", str(out), "--kind", "dummy").exit_code == 0
        dummy = out / "stages" / "dummy.yaml"
        before = dummy.read_text()
        os.link(dummy, tmp_path / "hard-link")  # writing in place would change it too
        assert call("POST", "/stages/dummy/", json={"name": "two"}).status_code == 201
        result = run(url, "export", "--out", str(out), "--kind", "dummy")
        assert result.exit_code == 0, result.output
    assert "name: two" in dummy.read_text() and (tmp_path / "hard-link").read_text() == before
    assert tree(out) == ["manifest-2026.2.2.schema.json", "stages", "stages/dummy.yaml"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert dummy.stat().st_mode & 0o777 == 0o666 & ~umask


# -- manifests read through links, and pruning -----------------------------------------------------
def stages(*names: str) -> str:
    return yaml.safe_dump({"stages": [{"kind": "dummy", "name": name} for name in names]}, sort_keys=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A config repository: manifests in config/, the state file at the root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "m.yaml").write_text(stages("keep"))
    return tmp_path


def owned(repo: Path, url: str) -> dict[str, Any]:
    return dict(json.loads((repo / "reconciler.state.json").read_text())["servers"][url]["owned"])


def pk(sandbox: Sandbox, name: str) -> Any:
    return next(o["pk"] for o in sandbox.objects("dummy") if o["name"] == name)


def dangling(repo: Path, link: Path) -> str:
    link.symlink_to(repo / "moved" / "linked.yaml")
    return f"it links to {repo}/moved/linked.yaml, which does not exist"


def looping(repo: Path, link: Path) -> str:
    link.symlink_to(link.name)
    return "a symlink loop"


def outside(repo: Path, link: Path) -> str:
    (repo.parent / "elsewhere.yaml").write_text(stages("linked"))
    link.symlink_to(repo.parent / "elsewhere.yaml")
    return f"it links to {repo.parent}/elsewhere.yaml, outside {repo}"


@pytest.mark.parametrize("broken", [dangling, looping, outside])
def test_a_link_discovery_cannot_follow_stops_a_prune_and_is_named(repo: Path, broken: Any) -> None:
    config = repo / "config"
    linked = config / "linked.yaml"
    linked.write_text(stages("linked"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        linked.unlink()
        why = broken(repo, linked)  # the file is now a link the tool cannot follow
        warned = f"WARNING reconciler.manifest: skipped {linked}: {why}\n"
        error = (f"{linked}:0:0: skipped: {why}; --prune needs every manifest read, or what this one describes "
                 "would be deleted: fix or remove it, or plan without --prune\n1 problem found.\n")
        sandbox.clear_log()
        for command in (("plan",), ("apply", "--auto-approve")):
            result = run(url, *command, str(config), "--prune")
            assert (result.exit_code, result.stderr) == (1, warned + error)
        assert writes(sandbox) == []
        # Without --prune the plan runs on what it could read, as before: nothing would be deleted.
        plain = run(url, "plan", str(config), "--detailed-exitcode")
        assert (plain.exit_code, plain.stderr) == (0, f"{warned}state: {repo}/reconciler.state.json\n")
        assert "dummy (1): linked" in plain.stdout


def test_a_manifest_read_through_a_link_prunes_with_the_folder_that_holds_the_link(repo: Path) -> None:
    (repo / "shared").mkdir()
    (repo / "shared" / "base.yaml").write_text(stages("linked", "dropped"))
    (repo / "config" / "linked.yaml").symlink_to("../shared/base.yaml")
    config = repo / "config"
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        (repo / "shared" / "base.yaml").write_text(stages("linked"))
        dropped = pk(sandbox, "dropped")
        result = run(url, "plan", str(config), "--prune", "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        assert (f"  - dummy/dropped  (delete: DELETE /api/v3/stages/dummy/{dropped}/)\n"
                "        (owned by this repository, no longer in the manifests)\n") in result.stdout
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--prune", "--auto-approve").exit_code == 0
        assert writes(sandbox) == [("DELETE", f"/api/v3/stages/dummy/{dropped}/", None)]


def test_a_manifest_read_through_a_link_is_owned_under_the_link_and_pruned_when_the_link_goes(repo: Path) -> None:
    (repo / "shared").mkdir()
    (repo / "shared" / "base.yaml").write_text(stages("linked"))
    (repo / "config" / "linked.yaml").symlink_to("../shared/base.yaml")
    config = repo / "config"
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        linked = pk(sandbox, "linked")
        assert owned(repo, url)["dummy/linked"] == {"kind": "dummy", "id": linked, "file": "config/linked.yaml"}
        (repo / "config" / "linked.yaml").unlink()
        result = run(url, "plan", str(config), "--prune", "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        assert (f"  - dummy/linked  (delete: DELETE /api/v3/stages/dummy/{linked}/)\n"
                "        (owned by this repository, no longer in the manifests)\n") in result.stdout
