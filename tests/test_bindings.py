"""Flows, their bindings and policy bindings through the offline planning steps (validate, match,
resolve references, diff, order) against live state given as plain data: identity comes from the
model, a flow's listed bindings are managed exactly, and writes carry what the server demands."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import PlanError
from reconciler.model.kinds import load_model
from reconciler.model.live import LiveState
from reconciler.planning import pipeline
from reconciler.planning.changes import Create, Delete, Update
from reconciler.planning.diff import DiffResult, diff
from reconciler.planning.matching import match
from reconciler.planning.refs import resolve_refs
from reconciler.state import StateFile

MODEL = load_model("2026.2.2")
FLOW, FLOW_PTR = "f0000000-0000-4000-8000-000000000001", "f0000000-0000-4000-8000-0000000000ff"
STAGES = {name: f"5{index}000000-0000-4000-8000-000000000000" for index, name in enumerate("abcd")}
BINDINGS = {name: f"b{index}000000-0000-4000-8000-000000000000" for index, name in enumerate("abcd")}
POLICY = "90000000-0000-4000-8000-000000000000"
POLICY_BINDING = "a0000000-0000-4000-8000-000000000000"


def live_state() -> LiveState:
    stages = [{"pk": pk, "name": name, "meta_model_name": "authentik_stages_dummy.dummystage"}
              for name, pk in STAGES.items()]
    bindings = [{"pk": BINDINGS[name], "policybindingmodel_ptr_id": "p" + BINDINGS[name][1:], "target": FLOW,
                 "stage": STAGES[name], "order": order, "evaluate_on_plan": False, "re_evaluate_policies": True,
                 "policy_engine_mode": "any", "invalid_response_action": "retry"}
                for name, order in (("a", 10), ("b", 20), ("c", 30))]
    return LiveState(model=MODEL, lists={
        "/flows/instances/": [{"pk": FLOW, "policybindingmodel_ptr_id": FLOW_PTR, "slug": "login", "name": "Login",
                               "title": "Welcome", "designation": "authentication"}],
        "/stages/all/": stages,
        "/stages/dummy/": [{"pk": pk, "name": name, "throw_error": False} for name, pk in STAGES.items()],
        "/flows/bindings/": bindings,
        "/policies/all/": [{"pk": POLICY, "name": "office",
                            "meta_model_name": "authentik_policies_expression.expressionpolicy"}],
        "/policies/expression/": [{"pk": POLICY, "name": "office", "execution_logging": False,
                                   "expression": "return True"}],
        "/policies/reputation/": [],
        "/policies/bindings/": [{"pk": POLICY_BINDING, "policy": POLICY, "group": None, "user": None,
                                 "target": BINDINGS["b"], "negate": False, "enabled": True, "order": 0,
                                 "timeout": 30, "failure_result": False}],
        "/core/groups/": [{"pk": "60000000-0000-4000-8000-000000000000", "name": "admins"}],
    })


def plan(tmp_path: Path, manifest: dict[str, Any], live: LiveState | None = None) -> DiffResult:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    live = live or live_state()
    desired = pipeline.validate(pipeline.load([path]), MODEL)
    matching = match(desired, live, MODEL)
    desired = resolve_refs(desired, MODEL, live, matching)
    result = diff(matching.rebind(desired), live, MODEL, StateFile(key=b"k", server="s"))
    if result.problems:
        raise PlanError(result.problems)
    return result


def flow(*bindings: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"flows": [{"slug": "login", **fields, "bindings": list(bindings)}]}


def test_listed_bindings_unchanged_plan_nothing(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "a", "order": 10}, {"stage": "b", "order": 20},
                                 {"stage": "c", "order": 30}))
    assert (result.changes, result.unchanged) == ([], 4)


def test_reordering_two_bindings_is_two_patches_of_order(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "b", "order": 10}, {"stage": "a", "order": 20},
                                 {"stage": "c", "order": 30}))
    assert [(type(c), c.address, c.path, c.body()) for c in result.changes] == [
        (Update, "flow_stage_binding/login/b", f"/flows/bindings/{BINDINGS['b']}/", {"order": 10}),
        (Update, "flow_stage_binding/login/a", f"/flows/bindings/{BINDINGS['a']}/", {"order": 20})]


def test_a_binding_left_out_of_the_list_is_deleted_and_says_why(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "a", "order": 10}, {"stage": "c", "order": 30}))
    [delete] = result.changes
    assert isinstance(delete, Delete)
    assert (delete.address, delete.path) == ("flow_stage_binding/login/b", f"/flows/bindings/{BINDINGS['b']}/")
    # Its policy binding goes with it (FINDINGS flows 279-281): said, not called.
    assert delete.notes == ("not listed in flow/login",
                            "authentik also deletes policy_binding/login/b/policy:office")


def test_a_flow_without_a_bindings_list_leaves_them_alone(tmp_path: Path) -> None:
    result = plan(tmp_path, {"flows": [{"slug": "login", "title": "Hello"}]})
    [update] = result.changes
    assert (update.address, update.path, update.body()) == ("flow/login", "/flows/instances/login/",
                                                            {"title": "Hello"})


def test_a_new_binding_needs_no_uuid_and_its_policy_binding_follows_it(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "a", "order": 10}, {"stage": "b", "order": 20},
                                 {"stage": "c", "order": 30},
                                 {"stage": "d", "order": 25, "policies": [{"policy": "office", "order": 0}]}))
    create_binding, create_policy_binding = result.changes
    assert isinstance(create_binding, Create) and isinstance(create_policy_binding, Create)
    assert create_binding.wire_body() == {"stage": STAGES["d"], "order": 25, "target": FLOW}
    assert create_policy_binding.depends_on == {"flow_stage_binding/login/d"}
    body = create_policy_binding.body()
    assert body is not None and body["target"].address == "flow_stage_binding/login/d" and body["target"].pk is None


def test_policy_binding_patches_repeat_target_and_policy(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "a", "order": 10}, {"stage": "c", "order": 30},
                                 {"stage": "b", "order": 20, "policies": [{"policy": "office", "order": 5}]}))
    [update] = result.changes
    # A one-field PATCH fails on the server (FINDINGS flows 251, 262).
    assert update.wire_body() == {"target": BINDINGS["b"], "policy": POLICY, "order": 5}
    assert [c.field for c in update.companions] == ["target", "policy"]


def test_evaluation_flags_are_sent_together(tmp_path: Path) -> None:
    result = plan(tmp_path, flow({"stage": "a", "order": 10, "evaluate_on_plan": True}, {"stage": "b", "order": 20},
                                 {"stage": "c", "order": 30}))
    [update] = result.changes
    assert update.wire_body() == {"re_evaluate_policies": True, "evaluate_on_plan": True}  # FINDINGS flows 100-103


def test_a_reputation_policy_create_sets_a_check(tmp_path: Path) -> None:
    result = plan(tmp_path, {"policies": [{"kind": "reputation", "name": "rep", "threshold": -3}]})
    [create] = result.changes
    assert create.wire_body() == {"check_ip": True, "name": "rep", "threshold": -3}  # FINDINGS flows 184


def test_deleting_a_stage_a_managed_flow_binds_is_refused(tmp_path: Path) -> None:
    manifest = {"stages": [{"kind": "dummy", "name": "b", "state": "absent"}],
                **flow({"stage": "a", "order": 10}, {"stage": "b", "order": 20}, {"stage": "c", "order": 30})}
    with pytest.raises(PlanError) as caught:
        plan(tmp_path, manifest)
    [problem] = caught.value.problems
    assert problem.subject == "flow_stage_binding/login/b"
    assert problem.message == (f"{{stage: b}} is marked state: absent in {tmp_path}/m.yaml:2:3, but flow/login "
                               "still binds it; remove this entry or keep the stage")
    # The flow is described but its bindings are not listed: deleting the stage still changes it.
    without_list = {"stages": [{"kind": "dummy", "name": "b", "state": "absent"}],
                    "flows": [{"slug": "login", "title": "Welcome"}]}
    with pytest.raises(PlanError) as caught:
        plan(tmp_path, without_list)
    [problem] = caught.value.problems
    assert problem.message == ("cannot delete dummy/b: authentik would delete flow_stage_binding/login/b (in "
                               "flow/login, which the manifests describe) with it, which the manifests keep; "
                               "remove those first")
    # A flow the manifests do not describe loses the stage with a note (see below).


def test_deleting_a_stage_together_with_its_binding_deletes_the_binding_first(tmp_path: Path) -> None:
    from reconciler.planning.changes import order_changes

    manifest = {"stages": [{"kind": "dummy", "name": "c", "state": "absent"}],
                **flow({"stage": "a", "order": 10}, {"stage": "b", "order": 20})}
    ordered = order_changes(plan(tmp_path, manifest).changes)
    assert [c.address for c in ordered] == ["flow_stage_binding/login/c", "dummy/c"]


def test_bindings_of_one_stage_pair_in_ascending_order_negative_orders_included(tmp_path: Path) -> None:
    live = live_state()
    for binding, order in zip(live.lists["/flows/bindings/"], (-10, 3, -5), strict=True):
        binding["stage"], binding["order"] = STAGES["a"], order
    result = plan(tmp_path, flow({"stage": "a", "order": -20}, {"stage": "a", "order": -1},
                                 {"stage": "a", "order": 3}), live)
    # -20 takes the lowest live order (-10), -1 the next (-5); 3 is paired as it is.
    assert sorted((c.path, c.body()["order"]) for c in result.changes) == [  # type: ignore[index]
        (f"/flows/bindings/{BINDINGS['a']}/", -20), (f"/flows/bindings/{BINDINGS['c']}/", -1)]


def test_a_delete_says_everything_authentik_takes_with_it(tmp_path: Path) -> None:
    # The stage takes its binding, and the binding its policy binding (FINDINGS flows 119, 280).
    result = plan(tmp_path, {"stages": [{"kind": "dummy", "name": "b", "state": "absent"}]})
    [delete] = result.changes
    assert delete.notes == ("authentik also deletes flow_stage_binding/login/b, policy_binding/login/b/policy:office",)


def test_objects_the_tool_does_not_list_are_named_by_their_id(tmp_path: Path) -> None:
    live = live_state()
    rule = "c0000000-0000-4000-8000-000000000000"  # a notification rule: a binding target not listed
    live.lists["/policies/bindings/"].append({**live.lists["/policies/bindings/"][0], "pk": "x", "target": rule})
    result = plan(tmp_path, {"policies": [{"kind": "expression", "name": "office", "state": "absent"}]}, live)
    [delete] = result.changes
    assert delete.notes == (f"authentik also deletes policy_binding/login/b/policy:office, "
                            f"policy_binding/{rule}/policy:office",)
