"""A new object family is model data, not code: two families that exist only in this test (gadgets,
with integer pks, keyed by slug, pointing at a flow; gizmos, pointing at a gadget by its integer
pk) are added to a copy of the generated model, and the unchanged tool validates, plans, applies,
exports and prunes them through the sandbox over HTTP. Every process is a real `reconciler` run,
pointed at the copy with RECONCILER_MODEL_DIR."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support import generator, sandbox_process

ROOT = Path(__file__).resolve().parent.parent
VERSION = "2026.2.2"
TOKEN = "synthetic"

GADGET: dict[str, Any] = {
    "path": "/gadgets/instances/", "lookup": "id", "url_field": "pk", "id_field": "pk", "id_type": "int",
    "model": "Gadget", "section": "gadgets", "manifest_kind": "gadget", "family": "gadget", "key": ["slug"],
    "disambiguator": None, "nested": {}, "required": ["name", "slug"], "cascade": [], "patch_required": [],
    "write_companions": [],
    "fields": {
        "name": {"type": "string", "minLength": 1},
        "slug": {"type": "string", "minLength": 1, "pattern": "^[-a-zA-Z0-9_]+$"},
        "flow": {"type": "string", "format": "uuid", "nullable": True, "reference": "flow"},
        "colour": {"type": "string"},
    },
    "read_only": ["pk"], "response_order": ["pk", "name", "slug", "flow", "colour"],
    "defaults": {"flow": None, "colour": ""}, "no_default": [], "constants": {}, "recorded": False,
}
GIZMO: dict[str, Any] = {
    "path": "/gadgets/gizmos/", "lookup": "gizmo_uuid", "url_field": "pk", "id_field": "pk", "id_type": "uuid",
    "model": "Gizmo", "section": "gizmos", "manifest_kind": "gizmo", "family": "gizmo", "key": ["name"],
    "disambiguator": None, "nested": {}, "required": ["name", "gadget"], "cascade": ["gadget"],
    "patch_required": [], "write_companions": [],
    "fields": {
        "name": {"type": "string", "minLength": 1},
        "gadget": {"type": "integer", "reference": "gadget"},
        "size": {"type": "integer", "minimum": 0},
    },
    "read_only": ["pk"], "response_order": ["pk", "name", "gadget", "size"], "defaults": {"size": 0},
    "no_default": [], "constants": {}, "recorded": False,
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated model files, with the two families added as data (and the manifest schema
    the generator derives from them)."""
    folder = tmp_path_factory.mktemp("model")
    for path in (ROOT / "schemas").glob("*.json"):
        shutil.copy(path, folder / path.name)
    model = json.loads((folder / f"api-{VERSION}.json").read_text())
    model["kinds"].update(gadget=GADGET, gizmo=GIZMO)
    # A gadget guards its flow, as a brand guards its authentication flow: a flag any family may carry.
    model["targets"]["gadget"] = {"path": GADGET["path"], "key": ["slug"], "id": "pk", "id_type": "int",
                                  "guards": {"flow": "flow"}}
    model["sections"].update(gadgets={"gadget": "gadget"}, gizmos={"gizmo": "gizmo"})
    model["section_nouns"].update(gadgets=["gadget", "gadgets"], gizmos=["gizmo", "gizmos"])
    (folder / f"api-{VERSION}.json").write_text(json.dumps(model))
    schema = generator().build_manifest_schema(model)
    (folder / f"manifest-{VERSION}.schema.json").write_text(json.dumps(schema))
    families = json.loads((folder / "families.json").read_text())
    families["sections"].update(model["section_nouns"])
    (folder / "families.json").write_text(json.dumps(families))
    return folder


def environment(model_dir: Path, url: str = "") -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_"))}
    environ.update(RECONCILER_MODEL_DIR=str(model_dir), NO_COLOR="1", AUTHENTIK_URL=url, AUTHENTIK_TOKEN=TOKEN)
    return environ


@pytest.fixture
def server(model_dir: Path) -> Iterator[str]:
    """`reconciler sandbox` in its own process, serving the model with the families (it prints its
    URL once it accepts connections)."""
    with sandbox_process("--port", "0", "--token", TOKEN, "--api-version", VERSION,
                         env=environment(model_dir)) as first:
        yield first.split()[4]


def reconciler(model_dir: Path, url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment(model_dir, url), timeout=120)


def listed(url: str, path: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v3{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def write(repo: Path, gadgets: list[dict[str, Any]], gizmos: list[dict[str, Any]]) -> None:
    (repo / "config").mkdir(exist_ok=True)
    (repo / "config" / "gadgets.yaml").write_text(yaml.safe_dump({"gadgets": gadgets, "gizmos": gizmos},
                                                                 sort_keys=False))


WIDGET = {"slug": "widget", "name": "Widget", "flow": {"flow": "default-authentication-flow"}}
COG = {"name": "cog", "gadget": {"gadget": "widget"}, "size": 3}


def validates_and_plans(model_dir: Path, server: str, repo: Path) -> None:
    checked = reconciler(model_dir, server, repo, "validate", "config")
    assert (checked.returncode, checked.stdout) == (0, "2 objects valid for authentik 2026.2.2.\n")
    planned = reconciler(model_dir, server, repo, "plan", "config", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "+ gadget/widget" in planned.stdout and "+ gizmo/cog" in planned.stdout


def applies(model_dir: Path, server: str, repo: Path) -> None:
    applied = reconciler(model_dir, server, repo, "apply", "config", "--auto-approve", "--format", "json")
    assert applied.returncode == 0, applied.stderr
    assert [(c["action"], c["address"]) for c in json.loads(applied.stdout)["result"]["applied"]] == [
        ("create", "gadget/widget"), ("create", "gizmo/cog")]
    gadget, = listed(server, "/gadgets/instances/")
    gizmo, = listed(server, "/gadgets/gizmos/")
    flow, = [f for f in listed(server, "/flows/instances/") if f["slug"] == "default-authentication-flow"]
    assert isinstance(gadget["pk"], int) and gadget["flow"] == flow["pk"]
    assert gizmo["gadget"] == gadget["pk"] and gizmo["size"] == 3  # the integer reference, filled in at apply
    again = reconciler(model_dir, server, repo, "plan", "config", "--detailed-exitcode")
    assert (again.returncode, again.stdout.splitlines()[-1]) == (
        0, f"No changes. Live state matches the manifests (authentik 2026.2.2 at {server}, 2 objects compared).")


def exports(model_dir: Path, server: str, repo: Path, tmp_path: Path) -> None:
    exported = reconciler(model_dir, server, repo, "export", "--out", str(tmp_path / "export"),
                          "--family", "gadgets", "--family", "gizmos")
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load((tmp_path / "export" / "gadgets" / "gadget.yaml").read_text()) == {"gadgets": [WIDGET]}
    assert yaml.safe_load((tmp_path / "export" / "gizmos" / "gizmo.yaml").read_text()) == {"gizmos": [COG]}
    round_trip = reconciler(model_dir, server, repo, "plan", str(tmp_path / "export"), "--detailed-exitcode")
    assert round_trip.returncode == 0, round_trip.stdout + round_trip.stderr


def prunes(model_dir: Path, server: str, repo: Path) -> None:
    write(repo, [WIDGET], [])
    pruned = reconciler(model_dir, server, repo, "apply", "config", "--prune", "--auto-approve")
    assert pruned.returncode == 0, pruned.stderr
    assert "delete gizmo/cog" in pruned.stdout
    assert listed(server, "/gadgets/gizmos/") == [] and len(listed(server, "/gadgets/instances/")) == 1


def test_a_family_added_as_model_data_validates_plans_applies_exports_and_prunes(
        model_dir: Path, server: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo, [WIDGET], [COG])
    validates_and_plans(model_dir, server, repo)
    applies(model_dir, server, repo)
    exports(model_dir, server, repo, tmp_path)
    prunes(model_dir, server, repo)


def test_a_family_added_as_model_data_is_checked_by_its_own_rules(model_dir: Path, server: str,
                                                                   tmp_path: Path) -> None:
    write(tmp_path, [WIDGET], [{"name": "cog", "gadget": {"gadget": "nowhere"}, "size": -1}])
    checked = reconciler(model_dir, server, tmp_path, "validate", "config")
    assert (checked.returncode, checked.stderr) == (
        1, "config/gadgets.yaml:10:3: gizmo/cog: size: must be at least 0\n1 problem found.\n")
    write(tmp_path, [WIDGET], [{"name": "cog", "gadget": {"gadget": "nowhere"}}])
    planned = reconciler(model_dir, server, tmp_path, "plan", "config")
    assert planned.returncode == 1
    assert planned.stderr == (  # by the target's key, from the model
        "config/gadgets.yaml:8:3: gizmo/cog: gadget: {gadget: nowhere} does not resolve: no gadget has the slug "
        "'nowhere' (looked in the manifests and in 0 live gadgets)\n1 problem found.\n")


def test_a_family_added_as_model_data_guards_what_it_uses(model_dir: Path, server: str, tmp_path: Path) -> None:
    flow = {"slug": "gadget-login", "name": "Gadget login", "title": "Gadget login", "designation": "authentication"}
    (tmp_path / ".git").mkdir()
    write(tmp_path, [{**WIDGET, "flow": {"flow": "gadget-login"}}], [])
    (tmp_path / "config" / "flows.yaml").write_text(yaml.safe_dump({"flows": [flow]}, sort_keys=False))
    applied = reconciler(model_dir, server, tmp_path, "apply", "config", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    write(tmp_path, [], [])  # the gadget stays on the server, using the flow
    (tmp_path / "config" / "flows.yaml").write_text(yaml.safe_dump({"flows": [{**flow, "state": "absent"}]}))
    refused = reconciler(model_dir, server, tmp_path, "plan", "config")
    assert refused.returncode == 1
    assert "it deletes flow/gadget-login, the flow of the gadget widget" in refused.stderr
    forced = reconciler(model_dir, server, tmp_path, "plan", "config", "--force", "--detailed-exitcode")
    assert forced.returncode == 2, forced.stderr


# -- in-process, on a model built from data (found by a review of the families-as-data work) -------
def gadget_model(**extra_targets: Any) -> Any:
    """The newest model with gadgets (nesting their gizmos) and sprockets in one section."""
    from reconciler.model.kinds import model_of

    model = json.loads((ROOT / "schemas" / f"api-{VERSION}.json").read_text())
    gadget = {**GADGET, "nested": {"gizmos": {"kind": "gizmo", "parent": "gadget", "keys": {}}}}
    sprocket = {**GIZMO, "path": "/gadgets/sprockets/", "model": "Sprocket", "section": "gadgets",
                "manifest_kind": "sprocket", "family": "sprocket", "key": ["name"], "required": ["name"],
                "cascade": [], "fields": {"name": {"type": "string"}}, "response_order": ["pk", "name"],
                "defaults": {}}
    model["kinds"].update(gadget=gadget, gizmo={**GIZMO, "section": None, "key": ["gadget", "name"]},
                          sprocket=sprocket)
    model["targets"].update(gadget={"path": GADGET["path"], "key": ["slug"], "id": "pk", "id_type": "int"},
                            gizmo={"path": GIZMO["path"], "key": ["name"], "id": "pk", "id_type": "uuid"},
                            **extra_targets)
    model["sections"]["gadgets"] = {"gadget": "gadget", "sprocket": "sprocket"}
    model["section_nouns"]["gadgets"] = ["gadget", "gadgets"]
    return model_of(model)


GIZMO_ID = "0b0b0b0b-0000-4000-8000-000000000001"
LISTS = {"/gadgets/instances/": [{"pk": 1, "name": "A", "slug": "sprocket", "flow": None, "colour": ""}],
         "/gadgets/gizmos/": [{"pk": GIZMO_ID, "name": "z1", "gadget": 1, "size": 3}],
         "/gadgets/sprockets/": [{"pk": "0b0b0b0b-0000-4000-8000-000000000002", "name": "s1", "gizmo": GIZMO_ID}]}


def test_a_nesting_kind_beside_other_kinds_gets_files_named_by_kind() -> None:
    # A gadget keyed `sprocket` was written at gadgets/sprocket.yaml, over the sprockets' file.
    from reconciler.exporting.entries import ExportOptions, export_live
    from reconciler.model.live import LiveState

    model = gadget_model()
    export = export_live(LiveState(model=model, lists=LISTS), [model.kinds["gadget"], model.kinds["sprocket"]],
                         ExportOptions())
    assert [file.path for file in export.files] == ["gadgets/gadget-sprocket.yaml", "gadgets/sprocket.yaml"]


def test_a_guarded_object_deleted_in_a_cascade_is_refused_too() -> None:
    from reconciler.model.live import LiveState
    from reconciler.planning.changes import Delete
    from reconciler.planning.pipeline import guarded_deletes
    from reconciler.values import IdKey

    model = gadget_model(sprocket={"path": "/gadgets/sprockets/", "key": ["name"], "id": "pk", "id_type": "uuid",
                                   "guards": {"gizmo": "gizmo"}})
    live = LiveState(model=model, lists=LISTS)
    delete = Delete(kind="gadget", address="gadget/sprocket", key=("sprocket",), path="/gadgets/instances/1/", id=1,
                    takes=(IdKey("gizmo", GIZMO_ID),))
    assert [reason for reason, _ in guarded_deletes([delete], live, model)] == [
        "it deletes gadget/sprocket, which takes the gizmo of the sprocket s1 with it"]


def test_a_model_whose_ids_would_be_scoped_two_ways_is_refused() -> None:
    with pytest.raises(ValueError, match="kind gadget is listed as target gadget but its ids are scoped to its "
                                         "family gadgets_base"):
        from reconciler.model.kinds import model_of

        model = json.loads((ROOT / "schemas" / f"api-{VERSION}.json").read_text())
        model["kinds"]["gadget"] = {**GADGET, "family": "gadgets_base"}
        model["targets"]["gadget"] = {"path": GADGET["path"], "key": ["slug"], "id": "pk", "id_type": "int"}
        model_of(model)
