"""Symlinks at the edges of the folders the tool reads and writes, through the CLI against the
sandbox over real HTTP: `export --out` never writes or removes through a link (forced or not) and
writes each file by rename; a manifest read through a link is owned under the link's path; a link
discovery cannot follow is an error when the plan would prune, a warning otherwise."""
from __future__ import annotations

import os
from pathlib import Path

from conftest import calling
from support import run, served

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
