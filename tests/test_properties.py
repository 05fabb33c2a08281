"""Property tests against the sandbox: for random desired states (stages of several kinds,
expression policies, flows with stage bindings and policy bindings), moving a server from one
state to the next with `apply --prune` leaves a plan with no changes, and the server holds exactly
what the manifests describe."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import calling
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import Connection, PlanOptions, apply, plan
from reconciler.sandbox import Sandbox

TOKEN = "sandbox-token"
STAGE_KINDS: list[tuple[str, dict[str, st.SearchStrategy[Any]]]] = [
    ("deny", {"deny_message": st.sampled_from(["no", "not today", "denied: ask an admin"])}),
    ("dummy", {"throw_error": st.booleans()}),
    ("user_login", {"session_duration": st.sampled_from(["hours=1", "minutes=30", "seconds=0"]),
                    "terminate_other_sessions": st.booleans()}),
    ("consent", {"mode": st.sampled_from(["always_require", "permanent", "expiring"])}),
    ("user_write", {"create_users_as_inactive": st.booleans()}),
]
# A fixed pool of names, each of one kind, so successive states update, add and drop the same objects.
STAGE_NAMES = [f"prop-stage-{i}" for i in range(8)]
POLICY_NAMES = [f"prop-policy-{i}" for i in range(3)]
FLOW_SLUGS = [f"prop-flow-{i}" for i in range(3)]


def _stage(index: int) -> st.SearchStrategy[dict[str, Any]]:
    kind, fields = STAGE_KINDS[index % len(STAGE_KINDS)]
    return st.fixed_dictionaries({"kind": st.just(kind), "name": st.just(STAGE_NAMES[index])},
                                 optional=fields)


def _policy(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"kind": st.just("expression"), "name": st.just(name),
                                  "expression": st.sampled_from(["return True", "return False",
                                                                 "return request.user.is_active"])},
                                 optional={"execution_logging": st.booleans()})


@st.composite
def desired_states(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    stages = [draw(_stage(i)) for i in sorted(draw(st.sets(st.integers(0, len(STAGE_NAMES) - 1))))]
    policies = [draw(_policy(name)) for name in sorted(draw(st.sets(st.sampled_from(POLICY_NAMES))))]
    flows = []
    for slug in sorted(draw(st.sets(st.sampled_from(FLOW_SLUGS), max_size=2))):
        bound = draw(st.lists(st.sampled_from([s["name"] for s in stages]), unique=True, max_size=3)) \
            if stages else []
        orders = draw(st.lists(st.integers(0, 50), min_size=len(bound), max_size=len(bound), unique=True))
        bindings = []
        for stage, order in zip(bound, orders, strict=True):
            # Every binding lists its policy bindings (maybe none): one that leaves them alone would
            # rightly stop the prune of a policy it still binds.
            chosen = draw(st.lists(st.sampled_from([p["name"] for p in policies]), unique=True, max_size=2)) \
                if policies else []
            bindings.append({"stage": stage, "order": order,
                             "policies": [{"policy": name, "order": i} for i, name in enumerate(chosen)]})
        flows.append({"slug": slug, "name": f"Flow {slug}", "title": draw(st.sampled_from(["Welcome", "Sign in"])),
                      "designation": draw(st.sampled_from(["authentication", "enrollment"])),
                      "bindings": bindings})
    return {"stages": stages, "policies": policies, "flows": flows}


def _write(folder: Path, state: dict[str, list[dict[str, Any]]]) -> None:
    for section, objects in state.items():
        path = folder / f"{section}.yaml"
        if objects:
            path.write_text(yaml.safe_dump({section: objects}, sort_keys=False))
        elif path.exists():
            path.unlink()
    if not any(folder.glob("*.yaml")):  # an empty repository still needs a manifest to plan
        (folder / "stages.yaml").write_text("stages: []\n")


def live_names(sandbox: Sandbox) -> dict[str, list[str]]:
    """The objects of the property's pools on the server, by natural key, read through the API
    (duplicates kept: a create made twice shows twice)."""
    call = calling(sandbox)

    def names(path: str, key: str, prefix: str) -> list[str]:
        found: list[str] = []
        page = 1
        while page:
            body = call("GET", path, params={"page": page, "page_size": 100}).json()
            found += [o[key] for o in body["results"] if str(o[key]).startswith(prefix)]
            page = body["pagination"]["next"]
        return sorted(found)

    return {"stages": names("/stages/all/", "name", "prop-stage-"),
            "policies": names("/policies/all/", "name", "prop-policy-"),
            "flows": names("/flows/instances/", "slug", "prop-flow-")}


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(states=st.lists(desired_states(), min_size=1, max_size=3))
def test_apply_then_plan_is_empty_for_random_desired_states(states: list[dict[str, list[dict[str, Any]]]],
                                                            tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("repo")
    sandbox = Sandbox(token=TOKEN)
    connection = Connection(url="http://sandbox", token=TOKEN, transport=sandbox.transport())
    options = PlanOptions(state_path=folder / "state.json", prune=True, force=True)
    for state in states:
        _write(folder, state)
        apply([folder], connection, options)
        after = plan([folder], connection, options)
        assert not after.has_changes, [c.address for c in after.changes]
        assert live_names(sandbox) == {
            "stages": sorted(s["name"] for s in state["stages"]),
            "policies": sorted(p["name"] for p in state["policies"]),
            "flows": sorted(f["slug"] for f in state["flows"]),
        }

