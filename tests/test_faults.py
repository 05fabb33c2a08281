"""Fault tests against the sandbox: an apply of about 200 changes (creates, PATCHes and pruned
deletes of stages of several kinds, expression policies, flows with stage bindings and policy
bindings) while about 30% of the requests meet a 503, a 429, a dropped connection or a lost write
answer converges after at most one re-run: a plan made without faults is then empty, every object
exists exactly once by its key (counted through the API), and each run's report accounted for
every change. The retries wait on a fake clock (in-process) or for 0 s (over HTTP, `Retry-After:
0` and no backoff), so no test sleeps."""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reconciler import ApplyError, ApplyResult, Connection, Plan, PlanOptions, apply, plan
from reconciler.sandbox import Faults, Sandbox
from reconciler.server.client import Client

TOKEN = "sandbox-token"
STAGE_KINDS: list[tuple[str, dict[str, list[Any]]]] = [
    ("deny", {"deny_message": ["no", "not today", "denied: ask an admin"]}),
    ("dummy", {"throw_error": [True, False]}),
    ("user_login", {"session_duration": ["hours=1", "minutes=30", "seconds=0"],
                    "terminate_other_sessions": [True, False]}),
    ("consent", {"mode": ["always_require", "permanent", "expiring"]}),
    ("user_write", {"create_users_as_inactive": [True, False]}),
]
EXPRESSIONS = ["return True", "return False", "return request.user.is_active"]
STAGES = 190
POLICIES = 40
FLOWS = 6
FAULTS = dict(throttle_rate=0.075, drop_rate=0.075, unavailable_rate=0.075, lost_answer_rate=0.08, retry_after=0)
"""About 30% of the requests fail: 7.5% each throttled (429, `Retry-After: 0`), dropped before the
server acts, answered 503 by a gateway, and (of the writes that meet none of these) carried out
with their answer lost."""

State = dict[str, list[dict[str, Any]]]


class FakeClock:
    """Waits cost nothing: `sleep` only adds up the time."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def time(self) -> float:
        return 1_780_000_000.0 + self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.elapsed += seconds

    def random(self) -> float:
        return 0.5


def desired_state(rng: random.Random, present: float) -> State:
    """Each pooled object is in the state with probability `present`, with random field values, so
    two states differ by creates, PATCHes and deletes of the same names."""
    stages = []
    for i in range(STAGES):
        if rng.random() < present:
            kind, fields = STAGE_KINDS[i % len(STAGE_KINDS)]
            stages.append({"kind": kind, "name": f"fault-stage-{i}",
                           **{name: rng.choice(choices) for name, choices in fields.items()}})
    policies = [{"kind": "expression", "name": f"fault-policy-{i}", "expression": rng.choice(EXPRESSIONS)}
                for i in range(POLICIES) if rng.random() < present]
    flows = []
    for i in range(FLOWS):
        if rng.random() >= present:
            continue
        bound = rng.sample([s["name"] for s in stages], min(len(stages), rng.randint(0, 6)))
        orders = rng.sample(range(100), len(bound))
        bindings = []
        for stage, order in zip(bound, orders, strict=True):
            chosen = rng.sample([p["name"] for p in policies], min(len(policies), rng.randint(0, 2)))
            bindings.append({"stage": stage, "order": order,
                             "policies": [{"policy": name, "order": n} for n, name in enumerate(chosen)]})
        flows.append({"slug": f"fault-flow-{i}", "name": f"Flow {i}", "title": rng.choice(["Welcome", "Sign in"]),
                      "designation": rng.choice(["authentication", "enrollment"]), "bindings": bindings,
                      "policies": [{"policy": name, "order": n}
                                   for n, name in enumerate(rng.sample([p["name"] for p in policies],
                                                                       min(len(policies), rng.randint(0, 2))))]})
    return {"stages": stages, "policies": policies, "flows": flows}


def write(folder: Path, state: State) -> None:
    for section, objects in state.items():
        (folder / f"{section}.yaml").write_text(yaml.safe_dump({section: objects}, sort_keys=False))


def expected_keys(state: State) -> Counter[tuple[Any, ...]]:
    """Every object of `state` by its natural key, once."""
    keys: Counter[tuple[Any, ...]] = Counter()
    keys.update(("stage", s["name"]) for s in state["stages"])
    keys.update(("policy", p["name"]) for p in state["policies"])
    for flow in state["flows"]:
        keys[("flow", flow["slug"])] += 1
        for binding in flow["bindings"]:
            keys[("binding", flow["slug"], binding["stage"], binding["order"])] += 1
            keys.update(("policy_binding", flow["slug"], binding["stage"], p["policy"], p["order"])
                        for p in binding["policies"])
        keys.update(("policy_binding", flow["slug"], p["policy"], p["order"]) for p in flow["policies"])
    return keys


def live_keys(connection: Connection) -> Counter[tuple[Any, ...]]:
    """The objects of the property's pools on the server by natural key, counted through the API's
    list calls: a create made twice counts twice."""
    async def read() -> Counter[tuple[Any, ...]]:
        async with Client(connection) as client:
            stages = await client.list("/stages/all/")
            policies = await client.list("/policies/all/")
            flows = await client.list("/flows/instances/")
            bindings = await client.list("/flows/bindings/")
            policy_bindings = await client.list("/policies/bindings/")
        stage_names = {s["pk"]: s["name"] for s in stages}
        policy_names = {p["pk"]: p["name"] for p in policies}
        slugs = {f["pk"]: f["slug"] for f in flows if f["slug"].startswith("fault-")}
        keys: Counter[tuple[Any, ...]] = Counter()
        keys.update(("stage", s["name"]) for s in stages if s["name"].startswith("fault-"))
        keys.update(("policy", p["name"]) for p in policies if p["name"].startswith("fault-"))
        keys.update(("flow", slug) for slug in slugs.values())
        targets: dict[str, tuple[Any, ...]] = {pk: (slug,) for pk, slug in slugs.items()}
        for binding in bindings:
            if binding["target"] in slugs:
                key = (slugs[binding["target"]], stage_names[binding["stage"]])
                keys[("binding", *key, binding["order"])] += 1
                targets[binding["pk"]] = targets[binding["policybindingmodel_ptr_id"]] = key
        for binding in policy_bindings:
            if binding["target"] in targets:
                keys[("policy_binding", *targets[binding["target"]], policy_names[binding["policy"]],
                      binding["order"])] += 1
        return keys

    return asyncio.run(read())


def exact(result: ApplyResult, planned: Plan, after: Plan) -> None:
    """The report names each planned change once, and what it says matches the server: an applied
    change is not planned again, a failed or not attempted one is (the server did not act)."""
    assert [o.change.address for o in result.outcomes] == [c.address for c in planned.changes]
    assert len(result.applied) + len(result.failed) + len(result.unknown) + len(result.not_attempted) == \
        len(planned.changes)
    left = {c.address for c in after.changes}
    assert not left & {c.address for c in result.applied}
    assert {o.change.address for o in result.failed} | {c.address for c in result.not_attempted} <= left


def converge(sandbox: Sandbox, folder: Path, faulty: Connection, clean: Connection, parallelism: int,
             faults: Faults) -> tuple[Plan, list[ApplyResult]]:
    """Apply with `faults` on, then (if that did not apply everything) once more; each run's
    report checked against a plan made without faults. The first plan and the reports."""
    options = PlanOptions(state_path=folder / "state.json", prune=True, force=True)
    first = plan([folder], clean, options)
    planned, results = first, []
    for run in range(2):
        sandbox.set_faults(replace(faults, seed=(faults.seed or 0) + 2 * run))  # the re-run meets other faults
        try:
            result = apply([folder], faulty, options, parallelism=parallelism).result
        except ApplyError as error:
            result = error.result
        sandbox.set_faults(Faults())
        after = plan([folder], clean, options)
        exact(result, planned, after)
        results.append(result)
        if result.ok:
            break
        planned = after
    return first, results


def check_converged(folder: Path, clean: Connection, state: State, results: list[ApplyResult]) -> None:
    options = PlanOptions(state_path=folder / "state.json", prune=True, force=True)
    assert results[-1].ok, [(o.change.address, o.status, o.error) for o in results[-1].outcomes
                            if o.status != "applied"]
    assert not plan([folder], clean, options).has_changes
    assert live_keys(clean) == expected_keys(state)


@settings(max_examples=4, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(state_seed=st.integers(1, 2**32), parallelism=st.sampled_from([4, 10]),
       fault_seed=st.integers(0, 2**16))
def test_an_apply_of_200_changes_under_30_percent_faults_converges_after_at_most_one_rerun(
        state_seed: int, parallelism: int, fault_seed: int, tmp_path_factory: Any) -> None:
    rng = random.Random(state_seed)  # a seed, not drawn structure: hypothesis's first draws are all 0
    folder = tmp_path_factory.mktemp("repo")
    sandbox = Sandbox(token=TOKEN)
    clean = Connection(url="http://sandbox", token=TOKEN, transport=sandbox.transport())
    faulty = Connection(url="http://sandbox", token=TOKEN, transport=sandbox.transport(), clock=FakeClock(),
                        retries=RETRIES)
    options = PlanOptions(state_path=folder / "state.json", prune=True, force=True)
    before, after = desired_state(rng, 0.5), desired_state(rng, 0.5)
    write(folder, before)
    apply([folder], clean, options)
    write(folder, after)
    first, results = converge(sandbox, folder, faulty, clean, parallelism,
                              Faults(seed=fault_seed, **FAULTS))  # type: ignore[arg-type]
    actions = Counter(c.action for c in first.changes)
    assert len(first.changes) >= 150 and actions["create"] and actions["update"] and actions["delete"], actions
    check_converged(folder, clean, after, results)


RETRIES = 6


def test_a_policy_binding_whose_create_answer_was_lost_is_found_not_made_twice(tmp_path: Path) -> None:
    """The lookup of a lost policy binding's create filters by its target: the flow's binding-model
    id, which is not the flow's own pk (authentik's PolicyBindingFilter; found by the property)."""
    sandbox = Sandbox(token=TOKEN)
    clean = Connection(url="http://sandbox", token=TOKEN, transport=sandbox.transport())
    state: State = {"stages": [{"kind": "deny", "name": "fault-stage-0"}],
                    "policies": [{"kind": "expression", "name": "fault-policy-0", "expression": "return True"}],
                    "flows": [{"slug": "fault-flow-0", "name": "F", "title": "F", "designation": "authentication",
                               "bindings": [{"stage": "fault-stage-0", "order": 10, "policies": [
                                   {"policy": "fault-policy-0", "order": 0}]}],
                               "policies": [{"policy": "fault-policy-0", "order": 5}]}]}
    write(tmp_path, state)
    sandbox.lose_answer_next("POST", "/policies/bindings/", times=2)
    outcome = apply([tmp_path], clean, PlanOptions(keep_state=False), parallelism=1)
    assert [(o.change.address, o.note) for o in outcome.result.outcomes if o.change.kind == "policy_binding"] == [
        ("policy_binding/fault-flow-0/fault-stage-0/policy:fault-policy-0",
         "found on the server after its answer was lost"),
        ("policy_binding/fault-flow-0/policy:fault-policy-0", "found on the server after its answer was lost")]
    assert live_keys(clean) == expected_keys(state)


def test_the_cli_over_http_converges_under_throttling_and_lost_answers(tmp_path: Path) -> None:
    # Over a real socket the retries cannot wait on a fake clock: only faults whose waits are 0 s
    # (429 with `Retry-After: 0`; lost answers, which apply makes good without a backoff).
    import json

    from support import TOKEN as SERVED_TOKEN
    from support import run, served

    rng = random.Random(7)
    state = desired_state(rng, 0.7)
    write(tmp_path, state)
    faults = Faults(seed=11, throttle_rate=0.15, lost_answer_rate=0.15, retry_after=0)
    with served() as (sandbox, url):
        reports = []
        for attempt in range(2):
            sandbox.set_faults(replace(faults, seed=11 + attempt))
            applied = run(url, "apply", str(tmp_path), "--auto-approve", "--format", "json", "--parallelism", "10",
                          "--state", str(tmp_path / "state.json"), env={"AUTHENTIK_RETRIES": "6"})
            sandbox.set_faults(Faults())
            report = json.loads(applied.stdout)
            reports.append(report)
            assert applied.exit_code in (0, 1), applied.output
            planned = len(report["plan"]["changes"])
            assert sum(len(report["result"][part]) for part in ("applied", "failed", "unknown", "not_attempted")) \
                == planned
            if applied.exit_code == 0:
                break
        assert reports[-1]["error"] is None, reports[-1]["error"]
        assert len(reports[0]["plan"]["changes"]) >= 150
        statuses = Counter(r.status for r in sandbox.requests)
        assert statuses[429] >= 10 and statuses[0] >= 10, statuses  # throttled, and answers lost (status 0)
        again = run(url, "plan", str(tmp_path), "--detailed-exitcode", "--state", str(tmp_path / "state.json"))
        assert again.exit_code == 0, again.output
        clean = Connection(url=url, token=SERVED_TOKEN)
        assert live_keys(clean) == expected_keys(state)
