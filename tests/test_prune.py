"""Ownership and pruning through the CLI against the sandbox over real HTTP: what a repository
applies (or adopts) it owns; `--prune` deletes owned objects that left the manifests and nothing
else; a plan over the safety thresholds is refused unless `--force`."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import calling
from support import run, served, writes

from reconciler.sandbox import Sandbox


def stages(*names: str, **extra: Any) -> dict[str, Any]:
    return {"stages": [{"kind": "dummy", "name": name, **extra} for name in names]}


def write(folder: Path, manifest: dict[str, Any]) -> Path:
    (folder / "m.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A config repository: manifests in config/, the state file at the root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "config").mkdir()
    return tmp_path


def owned(repo: Path, url: str) -> dict[str, Any]:
    state = json.loads((repo / "reconciler.state.json").read_text())
    return dict(state["servers"][url]["owned"])


def dummy(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    return next((o for o in sandbox.objects("dummy") if o["name"] == name), None)


def test_an_apply_owns_what_it_describes_and_prune_deletes_what_left(repo: Path) -> None:
    config = write(repo / "config", stages("keep", "drop"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        drop = dummy(sandbox, "drop")
        assert drop is not None
        # Kind, id and the manifest that describes it, relative to the state file's folder.
        assert owned(repo, url)["dummy/drop"] == {"kind": "dummy", "id": drop["pk"], "file": "config/m.yaml"}
        write(config, stages("keep"))
        # Without --prune nothing is deleted: the object is only reported.
        plan = run(url, "plan", str(config), "--detailed-exitcode")
        assert plan.exit_code == 0 and "dummy (1): drop" in plan.output
        pruning = run(url, "plan", str(config), "--prune", "--detailed-exitcode")
        assert pruning.exit_code == 2
        assert (f"  - dummy/drop  (delete: DELETE /api/v3/stages/dummy/{drop['pk']}/)\n"
                "        (owned by this repository, no longer in the manifests)\n") in pruning.output
        sandbox.clear_log()
        assert run(url, "apply", str(config), "--prune", "--auto-approve").exit_code == 0
        assert writes(sandbox) == [("DELETE", f"/api/v3/stages/dummy/{drop['pk']}/", None)]
        assert "dummy/drop" not in owned(repo, url) and "dummy/keep" in owned(repo, url)
        assert run(url, "plan", str(config), "--prune", "--detailed-exitcode").exit_code == 0


def test_prune_never_deletes_unowned_or_default_objects(repo: Path) -> None:
    config = write(repo / "config", {"stages": [{"kind": "user_login", "name": "default-authentication-login",
                                                 "session_duration": "hours=1"}, {"kind": "dummy", "name": "mine"}]})
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        assert "user_login/default-authentication-login" in owned(repo, url)  # applied, so owned
        assert calling(sandbox)("POST", "/stages/dummy/", json={"name": "by-hand"}).status_code == 201
        write(config, stages("mine"))
        result = run(url, "plan", str(config), "--prune", "--detailed-exitcode")
        # The default stage left the manifests but a fresh install has it: never pruned. The stage
        # made by hand was never owned: only reported.
        assert result.exit_code == 0, result.output
        assert "dummy (1): by-hand" in result.output


def test_a_prune_over_the_threshold_is_refused_and_lists_what_it_would_delete(repo: Path) -> None:
    names = [f"s{i:02}" for i in range(10)]
    config = write(repo / "config", stages(*names))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        write(config, stages(*names[4:]))  # 4 of 10 owned objects: more than 30%
        sandbox.clear_log()
        refused = run(url, "apply", str(config), "--prune", "--auto-approve")
        assert refused.exit_code == 1
        assert refused.output.startswith(
            "error: the plan is unsafe, nothing was applied; pass --force to accept it:\n"
            "  it deletes or replaces 4 of the 10 objects this repository owns (more than 30%):\n"
            "    delete dummy/s00\n    delete dummy/s01\n    delete dummy/s02\n    delete dummy/s03\n")
        assert writes(sandbox) == []
        as_json = json.loads(run(url, "plan", str(config), "--prune", "--format", "json").output)["error"]
        assert as_json["type"] == "unsafe_plan" and len(as_json["changes"]) == 4
        write(config, stages(*names[3:]))  # 3 of 10: allowed
        assert run(url, "plan", str(config), "--prune", "--detailed-exitcode").exit_code == 2
        write(config, stages(*names[4:]))
        forced = run(url, "apply", str(config), "--prune", "--force", "--auto-approve")
        assert forced.exit_code == 0 and "Applied 4 of 4 changes." in forced.output


def test_a_flow_a_brand_uses_is_not_deleted_without_force(repo: Path) -> None:
    config = write(repo / "config", {"flows": [{"slug": "default-invalidation-flow", "state": "absent"}]})
    with served() as (sandbox, url):
        refused = run(url, "plan", str(config))
        assert refused.exit_code == 1
        assert ("it deletes flow/default-invalidation-flow, the flow_invalidation of the brand authentik-default"
                in refused.output)
        assert run(url, "apply", str(config), "--force", "--auto-approve").exit_code == 0
        assert "default-invalidation-flow" not in {f["slug"] for f in sandbox.objects("flow")}


def test_a_saved_plan_keeps_the_guard_setting_it_was_made_with(repo: Path) -> None:
    # apply --plan checked the guard again whatever reconciler.toml said, and its advice, --force,
    # is refused with --plan (a review of issue #16's guards flag).
    config = write(repo / "config", {"flows": [{"slug": "default-invalidation-flow", "state": "absent"}]})
    with served() as (sandbox, url):
        assert run(url, "plan", str(config), "--out", str(repo / "guarded.json")).exit_code == 1
        (repo / "reconciler.toml").write_text("[safety]\nprotect_brand_flows = false\n")
        assert run(url, "plan", str(config), "--out", str(repo / "plan.json")).exit_code == 0
        applied = run(url, "apply", "--plan", str(repo / "plan.json"), "--auto-approve")
        assert applied.exit_code == 0, applied.output
        assert "default-invalidation-flow" not in {f["slug"] for f in sandbox.objects("flow")}


def test_the_repository_config_sets_prune_and_thresholds(repo: Path) -> None:
    config = write(repo / "config", stages("a", "b"))
    with served() as (_, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        write(config, stages("a"))
        (repo / "reconciler.toml").write_text("prune = true\n\n[safety]\nmax_delete_share = 0.9\nmin_owned = 1\n")
        assert run(url, "plan", str(config), "--detailed-exitcode").exit_code == 2  # prunes b
        assert run(url, "plan", str(config), "--no-prune", "--detailed-exitcode").exit_code == 0
        (repo / "reconciler.toml").write_text("prune = true\n[safety]\nmax_delete_share = 0.2\nmin_owned = 1\n")
        assert "more than 20%" in run(url, "plan", str(config)).output
        (repo / "reconciler.toml").write_text("prun = true\n")
        typo = run(url, "plan", str(config))
        assert (typo.exit_code, typo.output) == (1, f"error: {repo}/reconciler.toml: unknown setting prun\n")


def test_adopt_records_objects_made_by_hand_so_prune_may_delete_them(repo: Path) -> None:
    config = write(repo / "config", stages("by-hand"))
    with served() as (sandbox, url):
        assert calling(sandbox)("POST", "/stages/dummy/", json={"name": "by-hand"}).status_code == 201
        sandbox.clear_log()
        adopted = run(url, "adopt", str(config))
        assert adopted.exit_code == 0, adopted.output
        assert adopted.stdout.startswith("Adopted 1 object (1 described objects owned in all).\n"
                                         "  adopted: dummy/by-hand\n")
        assert writes(sandbox) == [] and "dummy/by-hand" in owned(repo, url)
        write(config, {"stages": []})
        result = run(url, "plan", str(config), "--prune")
        assert "- dummy/by-hand" in result.output


@contextmanager
def prune_of_b_saved(repo: Path) -> Iterator[tuple[Sandbox, str, dict[str, Any]]]:
    """Stages a and b applied, then b left the manifests: a saved plan (plan.json) prunes it."""
    config = write(repo / "config", stages("a", "b"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        write(config, stages("a"))
        assert run(url, "plan", str(config), "--prune", "--out", str(repo / "plan.json")).exit_code == 0
        b = dummy(sandbox, "b")
        assert b is not None
        yield sandbox, url, b


def test_a_saved_plan_with_deletes_is_stale_when_an_owned_object_changed(repo: Path) -> None:
    with prune_of_b_saved(repo) as (sandbox, url, b):
        assert calling(sandbox)("PATCH", f"/stages/dummy/{b['pk']}/", json={"throw_error": True}).status_code == 200
        sandbox.clear_log()
        result = run(url, "apply", "--plan", str(repo / "plan.json"), "--auto-approve")
        assert result.exit_code == 1
        assert "dummy/b: changed since the plan: throw_error" in result.output
        assert writes(sandbox) == []


def bound_by_hand(sandbox: Sandbox, slug: str, stage_name: str, order: int) -> dict[str, Any]:
    """A flow made by hand (not in the manifests) that binds the stage `stage_name`: the binding."""
    call = calling(sandbox)
    flow = call("POST", "/flows/instances/", json={"name": "F", "slug": slug, "title": "F",
                                                    "designation": "authentication"}).json()
    stage = dummy(sandbox, stage_name)
    assert stage is not None
    response = call("POST", "/flows/bindings/", json={"target": flow["pk"], "stage": stage["pk"], "order": order})
    assert response.status_code == 201
    binding: dict[str, Any] = response.json()
    return binding


def test_pruning_a_stage_names_the_flow_that_loses_it(repo: Path) -> None:
    config = write(repo / "config", stages("bound"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        bound_by_hand(sandbox, "hand-made", "bound", 5)
        write(config, {"stages": []})
        result = run(url, "plan", str(config), "--prune")
        assert "(authentik also deletes flow_stage_binding/hand-made/bound)" in result.output
        # A flow the manifests describe keeps its stage: the prune is refused, naming the binding.
        write(config, {"flows": [{"slug": "hand-made", "title": "F"}]})
        refused = run(url, "plan", str(config), "--prune")
        assert refused.exit_code == 1
        assert "authentik would delete flow_stage_binding/hand-made/bound (in flow/hand-made" in refused.output


def test_a_plan_of_part_of_the_repository_prunes_only_that_part(repo: Path) -> None:
    (repo / "config" / "stages").mkdir()
    (repo / "config" / "flows").mkdir()
    write(repo / "config" / "stages", stages("s1", "s2"))
    write(repo / "config" / "flows", {"flows": [{"slug": "f", "name": "F", "title": "F",
                                                 "designation": "authentication"}]})
    with served() as (sandbox, url):
        assert run(url, "apply", str(repo / "config"), "--auto-approve").exit_code == 0
        write(repo / "config" / "stages", stages("s1"))
        sandbox.clear_log()
        # Planning the stages folder prunes s2, never the flow described in the flows folder.
        applied = run(url, "apply", str(repo / "config" / "stages"), "--prune", "--auto-approve")
        assert applied.exit_code == 0, applied.output
        assert [(m, p.split("/")[4]) for m, p, _ in writes(sandbox)] == [("DELETE", "dummy")]
        assert "f" in {f["slug"] for f in sandbox.objects("flow")}
        empty = repo / "empty"
        empty.mkdir()
        refused = run(url, "plan", str(empty), "--prune")
        # A folder without manifests is an error of its own now, before any prune could be planned.
        assert (refused.exit_code, refused.output) == (1, f"{empty}:0:0: no manifest files under {empty}\n"
                                                          "1 problem found.\n")


def test_prune_leaves_alone_what_described_objects_still_use(repo: Path) -> None:
    flow = {"slug": "f", "name": "F", "title": "F", "designation": "authentication"}
    config = write(repo / "config", {
        "stages": [{"kind": "password", "name": "pw", "backends": ["authentik.core.auth.InbuiltBackend"]},
                   {"kind": "identification", "name": "idn", "user_fields": ["email"],
                    "password_stage": {"stage": "pw"}},
                   {"kind": "dummy", "name": "bound"}],
        "flows": [{**flow, "bindings": [{"stage": "bound", "order": 10}]}]})
    with served() as (_, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        # pw leaves the manifests but idn still points at it; the flow stays, its list unwritten.
        write(config, {"stages": [{"kind": "identification", "name": "idn", "user_fields": ["email"],
                                   "password_stage": {"stage": "pw"}}, {"kind": "dummy", "name": "bound"}],
                       "flows": [flow]})
        # pw is kept (idn refers to it, resolved live) and so is the binding (its flow is described
        # without a bindings list, which leaves them alone): nothing to do.
        result = run(url, "plan", str(config), "--prune", "--detailed-exitcode")
        assert result.exit_code == 0, result.output


def test_an_owned_object_renamed_by_hand_is_drift_not_a_delete(repo: Path) -> None:
    config = write(repo / "config", stages("foo"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        foo = dummy(sandbox, "foo")
        assert foo is not None
        assert calling(sandbox)("PATCH", f"/stages/dummy/{foo['pk']}/", json={"name": "bar"}).status_code == 200
        result = run(url, "plan", str(config), "--prune")
        assert "+ dummy/foo" in result.output and "- dummy/bar" not in result.output


def test_pruning_a_stage_bound_twice_names_both_bindings(repo: Path) -> None:
    config = write(repo / "config", {"stages": [{"kind": "dummy", "name": "s0"}], "flows": [{
        "slug": "f", "name": "F", "title": "F", "designation": "authentication",
        "bindings": [{"stage": "s0", "order": 10}, {"stage": "s0", "order": 20}]}]})
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        write(config, {"stages": []})
        result = run(url, "plan", str(config), "--prune", "--force", "--format", "json")
        deletes = sorted(c["address"] for c in json.loads(result.stdout)["changes"])
        assert deletes == ["dummy/s0", "flow/f", "flow_stage_binding/f/s0@10", "flow_stage_binding/f/s0@20"]


@pytest.mark.parametrize(("text", "message"), [
    ("[safety]\nmin_owned = -1\n", "safety.min_owned must be 0 or more, not -1"),
    ("[safety]\nmin_owned = 'ten'\n", "safety.min_owned must be a whole number, not 'ten'"),
    ("prune = 1\n", "prune must be true or false, not 1"),
    ("[safety]\nmax_delete_share = 2\n", "safety.max_delete_share must be between 0 and 1, not 2.0"),
    ("prune = \n", "cannot read"),
])
def test_a_wrong_setting_is_one_error_naming_the_file(repo: Path, text: str, message: str) -> None:
    (repo / "reconciler.toml").write_text(text)
    config = write(repo / "config", stages("a"))
    result = run("http://127.0.0.1:9", "plan", str(config))
    assert result.exit_code == 1 and result.output.startswith("error: ") and message in result.output
    assert str(repo / "reconciler.toml") in result.output


def test_a_saved_plan_refuses_a_delete_that_would_now_take_more_with_it(repo: Path) -> None:
    with prune_of_b_saved(repo) as (sandbox, url, b):
        call = calling(sandbox)
        flow = next(f for f in sandbox.objects("flow") if f["slug"] == "default-authentication-flow")
        assert call("POST", "/flows/bindings/", json={"target": flow["pk"], "stage": b["pk"],
                                                       "order": 99}).status_code == 201
        sandbox.clear_log()
        result = run(url, "apply", "--plan", str(repo / "plan.json"), "--auto-approve")
        assert result.exit_code == 1
        assert ("dummy/b: authentik would now also delete flow_stage_binding/default-authentication-flow/b "
                "with it") in result.output
        assert writes(sandbox) == []


def test_a_tenant_flow_is_protected_in_2023_and_the_refusal_lists_it(repo: Path) -> None:
    config = write(repo / "config", {"flows": [{"slug": "default-authentication-flow", "state": "absent"}]})
    with served("2023.10.7") as (_, url):
        refused = run(url, "plan", str(config), "--format", "json")
        error = json.loads(refused.output)["error"]
        assert error["type"] == "unsafe_plan"
        assert error["reasons"] == ["it deletes flow/default-authentication-flow, the flow_authentication of the "
                                    "tenant authentik-default"]
        assert error["changes"] == ["delete flow/default-authentication-flow"]


def test_a_delete_names_all_it_takes_along_and_its_saved_plan_applies(repo: Path) -> None:
    # The stage's binding in a flow the manifests do not describe carries a policy binding: the
    # plan reads what is needed to name both, and the saved plan is not mistaken for stale.
    config = write(repo / "config", stages("doomed"))
    with served() as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve").exit_code == 0
        call = calling(sandbox)
        binding = bound_by_hand(sandbox, "hand", "doomed", 1)
        policy = call("POST", "/policies/dummy/", json={"name": "p"}).json()
        assert call("POST", "/policies/bindings/", json={"target": binding["pk"], "policy": policy["pk"],
                                                          "order": 0}).status_code == 201
        write(config, {"stages": [{"kind": "dummy", "name": "doomed", "state": "absent"}]})
        planned = run(url, "plan", str(config), "--out", str(repo / "plan.json"))
        assert ("(authentik also deletes flow_stage_binding/hand/doomed, policy_binding/hand/doomed/policy:p)"
                in planned.output)
        applied = run(url, "apply", "--plan", str(repo / "plan.json"), "--auto-approve")
        assert applied.exit_code == 0, applied.output
