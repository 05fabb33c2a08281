"""The system settings singleton (issue 18, CONTRACT.md `settings:`): one mapping of the fields a
repository manages, read with one GET of /admin/settings/ and written with one PATCH of the fields
that changed (2026.2.2 directory recordings 237-246); never created, deleted or pruned. 2023.10.7
has no /admin/settings/ (its directory 237: 404), so the section is refused there. Through the CLI
against the sandbox over HTTP."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml
from support import TOKEN, run, served, writes

SETTINGS = "/api/v3/admin/settings/"


def write_settings(folder: Path, fields: dict[str, object], name: str = "settings.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"settings": fields}, sort_keys=False))
    return path


def test_plan_shows_one_field_and_apply_sends_one_patch_of_it(tmp_path: Path) -> None:
    write_settings(tmp_path, {"avatars": "initials", "event_retention": "days=30"})  # avatars as installed
    with served() as (sandbox, url):
        plan = run(url, "plan", "--format", "json", str(tmp_path))
        assert plan.exit_code == 0, plan.output
        changes = json.loads(plan.stdout)["changes"]
        assert [(c["action"], c["address"], c["method"], c["path"]) for c in changes] == [
            ("update", "settings", "PATCH", SETTINGS)]
        assert changes[0]["fields"] == {"event_retention": {"before": "days=365", "after": "days=30"}}
        sandbox.clear_log()
        applied = run(url, "apply", "--auto-approve", str(tmp_path))
        assert applied.exit_code == 0, applied.output
        assert writes(sandbox) == [("PATCH", SETTINGS, {"event_retention": "days=30"})]
        again = run(url, "plan", str(tmp_path))
        assert again.exit_code == 0 and "No changes" in again.output, again.output


def test_the_plan_reads_the_settings_with_one_get(tmp_path: Path) -> None:
    write_settings(tmp_path, {"avatars": "none"})
    with served() as (sandbox, url):
        sandbox.clear_log()
        assert run(url, "plan", str(tmp_path)).exit_code == 0
        reads = [r for r in sandbox.requests if r.path == SETTINGS]
        assert [(r.method, r.query) for r in reads] == [("GET", {})]  # no list, no pages (directory 237)


def test_a_field_not_written_is_left_alone(tmp_path: Path) -> None:
    write_settings(tmp_path, {"avatars": "none"})
    with served() as (sandbox, url):
        sandbox.clear_log()
        # someone changes another field by hand (directory 238: a one-field PATCH)
        httpx.patch(url + SETTINGS, headers={"Authorization": f"Bearer {TOKEN}"},
                    json={"gdpr_compliance": False}).raise_for_status()
        result = run(url, "apply", "--auto-approve", "--prune", str(tmp_path))
        assert result.exit_code == 0, result.output
        assert writes(sandbox)[1:] == [("PATCH", SETTINGS, {"avatars": "none"})]
        live = httpx.get(url + SETTINGS, headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert live["gdpr_compliance"] is False and live["avatars"] == "none"
        plan = json.loads(run(url, "plan", "--format", "json", str(tmp_path)).stdout)
        assert plan["changes"] == [] and plan.get("unmanaged", []) == []


def test_removing_the_section_deletes_nothing_even_with_prune(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {"avatars": "none"})
    with served() as (sandbox, url):
        assert run(url, "apply", "--auto-approve", str(tmp_path)).exit_code == 0
        path.write_text(yaml.safe_dump({"groups": []}))
        sandbox.clear_log()
        result = run(url, "apply", "--auto-approve", "--prune", str(tmp_path))
        assert result.exit_code == 0, result.output
        assert writes(sandbox) == []


def test_export_writes_the_fields_that_differ_from_a_fresh_install_and_plans_back_empty(tmp_path: Path) -> None:
    write_settings(tmp_path, {"event_retention": "days=30", "footer_links": [{"name": "Docs", "href": "https://x.test"}]})
    with served() as (_, url):
        assert run(url, "apply", "--auto-approve", str(tmp_path)).exit_code == 0
        exported = run(url, "export", "--family", "settings")
        assert exported.exit_code == 0, exported.output
        assert yaml.safe_load(exported.output) == {"settings": {
            "event_retention": "days=30", "footer_links": [{"href": "https://x.test", "name": "Docs"}]}}
        out = tmp_path / "export"
        assert run(url, "export", "--out", str(out)).exit_code == 0
        again = run(url, "plan", str(out))
        assert again.exit_code == 0 and "No changes" in again.output, again.output


def test_a_fresh_install_exports_no_settings() -> None:
    with served() as (_, url):
        exported = run(url, "export", "--family", "settings")
        assert exported.exit_code == 0
        assert yaml.safe_load(exported.output) is None  # the header only: nothing differs


def test_the_server_refusal_of_a_bad_duration_names_the_field(tmp_path: Path) -> None:
    write_settings(tmp_path, {"event_retention": "bogus"})  # directory 240
    with served() as (_, url):
        result = run(url, "apply", "--auto-approve", str(tmp_path))
        assert result.exit_code != 0
        assert "bogus is not in the correct format of 'hours=3;minutes=1'." in result.output
        assert "Traceback" not in result.output


def test_the_section_is_one_mapping_written_once(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("settings:\n  - avatars: none\n")
    result = run("http://127.0.0.1:9", "validate", "--api-version", "2026.2.2", str(tmp_path / "list.yaml"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'list.yaml'}:1:1: 'settings' must be a mapping of the fields it manages" in result.output
    write_settings(tmp_path, {"avatars": "none"}, "a.yaml")
    write_settings(tmp_path, {"impersonation": False}, "b.yaml")
    result = run("http://127.0.0.1:9", "validate", "--api-version", "2026.2.2", str(tmp_path / "a.yaml"),
                 str(tmp_path / "b.yaml"))
    assert result.exit_code == 1
    assert "'settings' is written twice" in result.output and f"{tmp_path / 'a.yaml'}:2:3" in result.output


def test_2023_refuses_the_section_naming_the_version(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {"avatars": "none"})
    with served("2023.10.7") as (_, url):
        result = run(url, "plan", str(path))
    assert result.exit_code == 1
    assert "unknown top-level key 'settings': 'settings' is authentik 2026.2.2's, not 2023.10.7's" in result.output


def test_explain_settings(tmp_path: Path) -> None:
    result = run("http://127.0.0.1:9", "explain", "--api-version", "2026.2.2", "settings")
    assert result.exit_code == 0
    assert "PATH:       /api/v3/admin/settings/" in result.output
    assert "footer_links <any>  default: []" in result.output
    assert "event_retention <string>  default: \"days=365\"" in result.output  # directory 10


def test_a_saved_plan_of_the_settings_applies_and_goes_stale_when_they_change(tmp_path: Path) -> None:
    write_settings(tmp_path, {"impersonation": False})
    saved = tmp_path / "plan.json"
    with served() as (sandbox, url):
        assert run(url, "plan", "--out", str(saved), str(tmp_path)).exit_code == 0
        change = json.loads(saved.read_text())["changes"][0]
        assert (change["address"], change["name"], change["key"], change["id"]) == ("settings", "settings", [], None)
        httpx.patch(url + SETTINGS, headers={"Authorization": f"Bearer {TOKEN}"},
                    json={"avatars": "none"}).raise_for_status()  # changed by hand since the plan
        stale = run(url, "apply", "--plan", str(saved), "--auto-approve")
        assert stale.exit_code != 0 and "stale" in stale.output, stale.output
        assert run(url, "plan", "--out", str(saved), str(tmp_path)).exit_code == 0
        sandbox.clear_log()
        applied = run(url, "apply", "--plan", str(saved), "--auto-approve")
        assert applied.exit_code == 0, applied.output
        assert writes(sandbox) == [("PATCH", SETTINGS, {"impersonation": False})]
