"""The sandbox's blueprint worker over real HTTP, both versions: the worker's blueprint files
(directory 25, 437), the model check of inline content (443), an inline blueprint's entries
imported (2023 directory 449), the 2026 worker's task rows in `used_by` (457, flows 295), and the
stalled worker a seed can ask for (2026 directory 25, 29, 437, 441, 444-450)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import TOKEN, served

from reconciler.model.blueprints import blueprint_facts
from reconciler.sandbox import Sandbox
from reconciler.sandbox.profile import default_seed

VERSIONS = ("2023.10.7", "2026.2.2")
FILES = "/managed/blueprints/available/"
CONTENT = ("version: 1\nmetadata:\n  name: bp-meta\nentries:\n  - model: authentik_core.group\n    identifiers:\n"
           "      name: bp-group\n    attrs:\n      attributes:\n        bp: blueprint\n")


def call(url: str, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{url}/api/v3{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def stalled(version: str) -> dict[str, Any]:
    return {**copy.deepcopy(default_seed(version)), "worker": "stalled"}


def groups_named(url: str, name: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = call(url, "GET", f"/core/groups/?name={name}").json()["results"]
    return results


@pytest.mark.parametrize(("version", "count"), [("2023.10.7", 29), ("2026.2.2", 39)])
def test_the_worker_lists_the_release_files_with_the_install_times_and_checks_paths_against_them(
        version: str, count: int) -> None:
    with served(version) as (_, url):
        answer = call(url, "GET", FILES)
        assert answer.status_code == 200
        files = answer.json()
        assert len(files) == count  # 2023 directory 25; 2026 the trial runs' answer (fresh-install.json)
        assert list(files[0]) == ["path", "version", "hash", "last_m", "meta"]
        shipped = blueprint_facts(version).blueprints
        by_path = {f["path"]: f for f in files}
        assert all(by_path[path]["hash"] == blueprint.sha512 for path, blueprint in shipped.items())
        assert len({f["last_m"] for f in files}) == 1  # one install
        # An example file is a file of the worker's although no instance applies it.
        example = next(path for path in by_path if path.startswith("example/"))
        assert call(url, "POST", "/managed/blueprints/", {"name": "bp-example", "path": example}).status_code == 201
        assert call(url, "POST", "/managed/blueprints/", {"name": "bp-nope", "path": "bp/nope.yaml"}).json() == {
            "path": ["Blueprint file does not exist"]}  # directory 441 (2023)


@pytest.mark.parametrize(("version", "messages"), [
    ("2023.10.7", ["Failed to validate blueprint: app or model does not exist"]),
    ("2026.2.2", ["Failed to validate blueprint", "- App or Model does not exist", "- Blueprint validation failed"]),
])
def test_content_naming_a_model_authentik_does_not_have_is_refused(version: str, messages: list[str]) -> None:
    with served(version) as (sandbox, url):
        bogus = CONTENT.replace("authentik_core.group", "authentik_core.bpbogus")
        answer = call(url, "POST", "/managed/blueprints/", {"name": "bp-bad", "content": bogus})
        assert (answer.status_code, answer.json()) == (400, {"content": messages})  # directory 443
        assert [i for i in sandbox.objects("blueprint_instance") if i["name"] == "bp-bad"] == []
        assert call(url, "POST", "/managed/blueprints/", {"name": "bp-good", "content": CONTENT}).status_code == 201


@pytest.mark.parametrize("version", VERSIONS)
def test_applying_an_inline_blueprint_makes_its_group_once(version: str) -> None:
    with served(version) as (_, url):
        pk = call(url, "POST", "/managed/blueprints/", {"name": "bp-inline", "content": CONTENT}).json()["pk"]
        assert groups_named(url, "bp-group") == []
        call(url, "POST", f"/managed/blueprints/{pk}/apply/")
        [group] = groups_named(url, "bp-group")  # 2023 directory 449
        assert group["attributes"] == {"bp": "blueprint"}
        call(url, "PATCH", f"/core/groups/{group['pk']}/", {"attributes": {"bp": "changed"}})
        call(url, "POST", f"/managed/blueprints/{pk}/apply/")
        [again] = groups_named(url, "bp-group")
        assert (again["pk"], again["attributes"]) == (group["pk"], {"bp": "blueprint"})  # present: set back
        used_by = call(url, "GET", f"/managed/blueprints/{pk}/used_by/").json()
        # 2026 lists the worker's task row of each apply (directory 457); 2023 none (2023 directory 457).
        assert [(u["app"], u["model_name"], u["action"]) for u in used_by] == (
            [("authentik_tasks", "task", "cascade")] * 2 if version == "2026.2.2" else [])
        assert all(u["pk"] == u["name"] for u in used_by) and len({u["pk"] for u in used_by}) == len(used_by)


def test_a_stalled_2026_worker_times_out_and_never_runs_a_queued_import() -> None:
    with served("2026.2.2", seed=stalled("2026.2.2")) as (_, url):
        answer = call(url, "GET", FILES)
        assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (500, "text/html")  # 25, 437
        refused = call(url, "POST", "/managed/blueprints/", {"name": "bp-path", "path": "bp/nope.yaml"})
        assert (refused.status_code, refused.text) == (405, "")  # 441
        created = call(url, "POST", "/managed/blueprints/", {"name": "bp-inline", "content": CONTENT}).json()
        assert call(url, "POST", f"/managed/blueprints/{created['pk']}/apply/").json() == created  # 29
        assert call(url, "GET", f"/managed/blueprints/{created['pk']}/").json() == created  # 444, 445
        assert groups_named(url, "bp-group") == []  # 2026 directory 449
        [task] = call(url, "GET", f"/managed/blueprints/{created['pk']}/used_by/").json()  # 457: queued
        assert task["app"] == "authentik_tasks"


def test_a_stalled_2023_worker_fails_the_apply_that_waits_for_it() -> None:
    with served("2023.10.7", seed=stalled("2023.10.7")) as (_, url):
        assert call(url, "GET", FILES).status_code == 500
        created = call(url, "POST", "/managed/blueprints/", {"name": "bp-inline", "content": CONTENT}).json()
        answer = call(url, "POST", f"/managed/blueprints/{created['pk']}/apply/")
        assert (answer.status_code, answer.text) == (405, "")  # apply_blueprint.delay().get() never returns
        assert call(url, "GET", f"/managed/blueprints/{created['pk']}/").json() == created


def test_a_seed_names_the_worker_it_wants() -> None:
    with pytest.raises(ValueError, match='worker: "running" or "stalled", not "asleep"'):
        Sandbox("2026.2.2", seed={**default_seed("2026.2.2"), "worker": "asleep"})


def test_a_seed_file_asks_for_the_stalled_worker(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(stalled("2026.2.2")))
    with served("2026.2.2", seed=seed) as (_, url):
        assert call(url, "GET", FILES).status_code == 500
    seed.write_text(json.dumps({**default_seed("2026.2.2"), "worker": 1}))
    with pytest.raises(ValueError, match=f'{seed}: worker: "running" or "stalled", not 1'):
        Sandbox("2026.2.2", seed=seed)
