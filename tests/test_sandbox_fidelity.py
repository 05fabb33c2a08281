"""The sandbox against the recordings of real authentik servers (tests/fixtures/recordings, copied
from the shared authentik-recordings). Each folder of a version (the top level, kinds/, flows/,
pages/) is replayed in the order its recordings were made against one sandbox of that version,
since later ones depend on the state earlier ones left. UUIDs the recorded server generated are
mapped to the ones the sandbox generated; seeded objects keep their recorded pks. The flows
recordings were made on another install than fresh-install.json, so their sandbox starts from a
seed rebased onto that install's own fresh reads (`flows_seed`)."""
from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fidelity_apps
import fidelity_directory
import httpx
import pytest

from reconciler.sandbox import Sandbox
from reconciler.sandbox.profile import default_seed

RECORDINGS = Path(__file__).parent / "fixtures" / "recordings"
VERSIONS = ("2023.10.7", "2026.2.2")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{64}\b")
"""Server-generated ids: UUIDs, and the users' 64-hex `uid` (directory 67)."""

FOLDERS = ("", "kinds", "flows", "pages", fidelity_apps.FOLDER, fidelity_directory.FOLDER)

# Recordings the sandbox does not reproduce, and why. They still run, as strict xfails, so a
# change that makes one pass is noticed.
NOT_REPRODUCED = {
    "2023.10.7/flows/74-fsb-list-page": (
        "2023 lists flow-stage bindings of equal order in no fixed order: 74 puts the source-enrollment "
        "prompt binding first, 300 the authorization consent binding; the sandbox keeps insertion order"),
    "2023.10.7/flows/270-pb-filter-search": (
        "2023 orders policy bindings by target and order and leaves ties in no fixed order: 270 lists "
        "the binding made by 233 before the one made by 232; the sandbox keeps insertion order"),
    **fidelity_apps.NOT_REPRODUCED,
    **fidelity_directory.not_reproduced(RECORDINGS, VERSIONS),
}


@dataclass(frozen=True)
class Gap:
    """A request a recording missing from the numbering must have made, as later recordings show
    the state it left. It runs right before the recording it is filed under. `{name}` in the url
    is the pk of the stage of that name; recorded UUIDs in the url and body are mapped like the
    recordings' own; `created` gives the recorded pk (and binding-model UUID) of what it creates."""

    method: str
    url: str
    body: dict[str, Any]
    created: tuple[str, ...] = ()
    learned: tuple[tuple[str, str], ...] = ()
    """(key, recorded value) of server-made values later recordings show (a user's `uid`): mapped
    to the sandbox's answer like a recording's own."""


@dataclass(frozen=True)
class Cleanup:
    """Deletes a recorder made outside the numbering, known by what later recordings no longer
    list: every object of `lists` whose name, username, slug or domain starts with `prefix` (any
    case), deleted through the API, one list after another."""

    prefix: str
    lists: tuple[str, ...]


NAMES = ("name", "username", "slug", "domain")


def both(case: str, gap: Gap, created: dict[str, str] | None = None) -> dict[str, Gap]:
    return {f"{version}/{case}": Gap(gap.method, gap.url, gap.body, tuple((created or {}).get(version, "").split()))
            for version in VERSIONS}


GAPS: dict[str, Gap | Cleanup | list[Gap]] = {
    # 21 is missing; 22 (a PATCH of `sources` only) shows user_fields ["email", "email"].
    **both("22-ident-patch-sources", Gap("PATCH", "/stages/identification/{probe-ident}/",
                                         {"user_fields": ["email", "email"]})),
    # 97 and 99 are missing; 102 and 105 list an SMS stage PROBE-SMS that nothing else created.
    **both("102-stages-all-search", Gap(
        "POST", "/stages/authenticator/sms/",
        {"name": "PROBE-SMS", "provider": "twilio", "from_number": "+15550000009", "account_sid": "AC",
         "auth": "probe"}),
        {"2023.10.7": "c6f3d6d5-3178-4c2e-9344-1063ae47f619", "2026.2.2": "19a90914-447f-4d0d-963f-61b2f4a2d52d"}),
    # flows: 45 is missing; 47 shows the 2026 background cleared after the refused 42 and 44.
    "2026.2.2/flows/46-flows-set_background_url": Gap("PATCH", "/flows/instances/rec-flow-a/", {"background": ""}),
    # flows: 79 and 83 are missing; 88 lists a binding of rec-stage-2 at order 10 that no recording made.
    "2023.10.7/flows/80-fsb-create-missing-stage": Gap(
        "POST", "/flows/bindings/", {"target": "7c6a4c7b-f8b4-497e-8207-1755f53996e3", "stage": "{rec-stage-2}",
                                     "order": 10},
        ("e2f1938e-166e-4a19-a13b-50c28ec746c6", "2b66f854-616d-4559-9448-53e4cb6cbdf3")),
    "2026.2.2/flows/80-fsb-create-missing-stage": Gap(
        "POST", "/flows/bindings/", {"target": "ed023d87-f835-4b1b-8c9a-2fdee132b6de", "stage": "{rec-stage-2}",
                                     "order": 10},
        ("04d398df-2c1c-47c2-93fb-8343d3dde359", "d2378985-e19b-4451-9e84-1cf51b82704a")),
    # flows: 205/206 are missing; 207 deletes a dummy policy named like rec-pol-shared in capitals.
    **both("flows/207-policies-delete-case-variant", Gap("POST", "/policies/dummy/", {"name": "REC-POL-SHARED"}),
           {"2023.10.7": "fd93dd1e-2f0f-4e5c-91e0-2e04a6b6aec6", "2026.2.2": "354d0b07-fdbe-4009-b273-d07fe75c6dc1"}),
    # flows: 238 is missing; 269 lists a second group binding on the flow at order 10.
    "2023.10.7/flows/239-pb-create-policy-and-group": Gap(
        "POST", "/policies/bindings/", {"group": "25d35046-293d-4797-ad21-5ddd14bb7078",
                                        "target": "8207239d-dde7-4c4b-ad9f-68035459b383", "order": 10},
        ("10042255-b93d-4f86-a61f-53a8f87d60e5",)),
    "2026.2.2/flows/239-pb-create-policy-and-group": Gap(
        "POST", "/policies/bindings/", {"group": "157a227f-aed1-4048-b5f5-1b5b701305d9",
                                        "target": "74cae444-07c8-460d-9242-a3207f1f9ba3", "order": 10},
        ("ce90d39a-38d7-4d86-b6c6-a6aa76426a9c",)),
    # flows: 256 is missing; 257 shows the binding's timeout at 0.
    "2023.10.7/flows/257-pb-patch-failure_result": Gap(
        "PATCH", "/policies/bindings/4e2ba3a4-b65e-43da-bf58-90839ceb7ddc/",
        {"target": "8207239d-dde7-4c4b-ad9f-68035459b383", "policy": "901d7d54-14bf-493e-b557-d904a741fc47",
         "timeout": 0}),
    "2026.2.2/flows/257-pb-patch-failure_result": Gap(
        "PATCH", "/policies/bindings/128bfa15-d7ed-4495-a9af-bb961ae20b11/",
        {"target": "74cae444-07c8-460d-9242-a3207f1f9ba3", "policy": "2321d372-e4ae-4aff-b746-1ae15bfdd537",
         "timeout": 0}),
    **fidelity_apps.gaps(Gap),
    **fidelity_directory.gaps(Gap, RECORDINGS),
    **{f"{version}/{fidelity_directory.FOLDER}/{fidelity_directory.CLEANUP_BEFORE}": Cleanup(
        fidelity_directory.CLEANUP_PREFIX, lists) for version, lists in fidelity_directory.CLEANUP_LISTS.items()},
}

# Values that depend on the clock: checked for form and plausibility, not equality.
INVITATION_LIFETIME = timedelta(minutes=30)
CLOCK_FIELDS = {"expires"}
# Lists the real server returns in no fixed order: a stage's flows came in one order in the fresh
# install and in another in 105 (default-password-change-write); a flow's stages in one order in
# 2023 flows 01 and in another in 02; its policies "in no particular order" (flows 271).
UNORDERED_LISTS = {"flow_set", "stages", "policies"}
# Media URLs carry a signed token with clock values (2026 flows 40): the URL up to the token and
# the token's claims are compared, not the signature or the times.
TOKEN = "?token="


@dataclass
class Exchange:
    status: int
    headers: httpx.Headers
    body: Any
    stages: dict[str, Any]
    """Every stage as `/stages/all/` showed it right after the request, by pk."""


@dataclass
class Replay:
    sandbox: Sandbox
    started: datetime
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    """The drawn secrets the recordings showed so far (`fidelity_apps.learned_secrets`)."""


def step_order(path: Path) -> tuple[int, ...]:
    """Numbered order; in kinds/ `2x` (the spec-required body) was sent before `2`."""
    match = re.match(r"(\d+)-.*?-(\d+)([a-z]?)-", path.name)
    if path.parent.name != "kinds" or not match:
        return (int(path.name.split("-", 1)[0]),)
    letter = match[3]
    return int(match[1]), int(match[2]), -1 if letter == "x" else ord(letter or "`")


def recordings(version: str, folder: str) -> list[Path]:
    return sorted((RECORDINGS / version / folder).glob("[0-9]*.json"), key=step_order)


def case_name(path: Path) -> str:
    return path.stem if path.parent.name in VERSIONS else f"{path.parent.name}/{path.stem}"


def substitute(value: Any, ids: dict[str, str]) -> Any:
    """Recorded server-generated UUIDs replaced by the sandbox's, and whole values the replay
    learned (a generated key pair's fingerprints)."""
    if isinstance(value, str):
        return ids[value] if value in ids else UUID.sub(lambda m: ids.get(m[0], m[0]), value)
    if isinstance(value, list):
        return [substitute(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, ids) for key, item in value.items()}
    return value


# -- the sandbox each folder starts from ------------------------------------------------------------
FLOW_BINDING_READS = ("74-fsb-list-page", "289-defaults-flow-bindings-default-authentication-flow",
                      "290-defaults-flow-bindings-default-source-enrollment",
                      "292-defaults-flow-bindings-default-invalidation-flow", "300-verify-flow-bindings-count")
PERF_STAGES = 125  # pages/112, 113: the dummy stages of the performance run, every 8th of 1,000


def flows_seed(version: str) -> dict[str, Any]:
    """The fresh-install seed as the install the flows recordings were made on shows it: its own
    fresh reads (flows 01, 128, 224-226, 289-292, 294) replace the seed's flows, policies, policy
    bindings, groups and users, and every other object keeps its seed values with the pks of
    that install where a recording shows them (stages and bindings by name, flow and order); its
    blueprint instances are the ones flows 294 lists."""
    seed = copy.deepcopy(default_seed(version))
    lists = seed["lists"]
    reads = {path.stem: json.loads(path.read_text())["response"].get("json")
             for path in (RECORDINGS / version / "flows").glob("[0-9]*.json")}
    flows = reads["01-flows-list-fresh"]["results"]
    policies = reads["128-policies-all-list-fresh"]["results"]
    groups = {g["name"]: g for g in reads["225-pb-lookup-group"]["results"]}
    bindings = {b["pk"]: b for read in FLOW_BINDING_READS for b in reads[read]["results"]}
    ids = by_key(lists["/flows/instances/"], flows, "slug")
    ids.update(by_key(lists["/policies/all/"], policies, "name"))
    ids.update(by_key(lists.get("/core/groups/", []), list(groups.values()), "name"))
    seed_stages = {obj["name"]: obj["pk"] for path, objects in lists.items() if path.startswith("/stages/")
                   for obj in objects if "flow_set" in obj}
    ids.update({seed_stages[b["stage_obj"]["name"]]: b["stage"] for b in bindings.values()})
    infer_stage_ids(lists["/flows/bindings/"], flows, ids)
    slugs = {f["pk"]: f["slug"] for f in flows}
    recorded_keys = {(slugs[b["target"]], b["stage_obj"]["name"], b["order"]): b for b in bindings.values()}
    rebased = substitute(seed, ids)
    fsbs = rebased["lists"]["/flows/bindings/"]
    rebased["lists"]["/flows/bindings/"] = [
        recorded_keys.get((slugs.get(b["target"]), b["stage_obj"]["name"], b["order"]), b) for b in fsbs]
    rebased["lists"].update({
        "/flows/instances/": flows, "/policies/all/": policies,
        "/policies/bindings/": reads["224-pb-list-fresh"]["results"],
        "/core/groups/": [groups.get(g["name"], g) for g in rebased["lists"].get("/core/groups/", [])],
        "/core/users/": reads["226-pb-lookup-user"]["results"],
        "/managed/blueprints/": reads["294-defaults-blueprints"]["results"],
        **({TASKS: [task_row(pk, instance) for instance, pks in LAB_TASK_ROWS.items() for pk in pks]}
           if version in TASK_ROW_VERSIONS else {}),
    })
    return rebased


TASKS = "/tasks/tasks/"
TASK_ROW_VERSIONS = ("2026.2.2",)
LAB_TASK_ROWS = {"0d0671dc-2225-4244-b893-acedd45b4cbd": ("0494b0d3-f64b-4d9b-8563-dbab786c1c9c",
                                                         "99995daa-aa1f-45e4-8a6a-5ce97d97216d")}
"""The 2026 flows lab's worker task rows (authentik_tasks.task) of the default authentication flow's
instance: the two applies of the install, which only its used_by (flows 295) shows."""


def task_row(pk: str, instance: str) -> dict[str, Any]:
    return {"message_id": pk, "actor_name": "authentik.blueprints.v1.tasks.apply_blueprint",
            "rel_obj_app_label": "authentik_blueprints", "rel_obj_model": "blueprintinstance", "rel_obj_id": instance}


def by_key(seeded: list[dict[str, Any]], recorded: list[dict[str, Any]], key: str) -> dict[str, str]:
    """Seed pk -> recorded pk of the objects with the same natural key."""
    recorded_pks = {obj[key]: obj["pk"] for obj in recorded}
    return {obj["pk"]: recorded_pks[obj[key]] for obj in seeded if obj[key] in recorded_pks}


def infer_stage_ids(seed_bindings: list[dict[str, Any]], flows: list[dict[str, Any]], ids: dict[str, str]) -> None:
    """Stages no recording names are known by the flows' stage lists (flows 01): by the set of
    flows listing them, then, among stages bound to the same flows only, by binding order (a guess
    no recording can contradict: nothing shows those stages but these lists)."""
    seed_flows: dict[str, set[str]] = {}
    for binding in seed_bindings:
        seed_flows.setdefault(binding["stage"], set()).add(ids.get(binding["target"], ""))
    orders = {binding["stage"]: binding["order"] for binding in seed_bindings}
    recorded_flows: dict[str, set[str]] = {}
    for flow in flows:
        for stage in flow["stages"]:
            recorded_flows.setdefault(stage, set()).add(flow["pk"])
    unknown_recorded = sorted(set(recorded_flows) - set(ids.values()))
    unknown_seeded = sorted((stage for stage in seed_flows if stage not in ids), key=lambda stage: orders[stage])
    for stage in unknown_seeded:
        match = next((pk for pk in unknown_recorded if recorded_flows[pk] == seed_flows[stage]), None)
        if match is not None:
            ids[stage] = match
            unknown_recorded.remove(match)


def initial_seed(version: str, folder: str) -> dict[str, Any] | None:
    if folder == fidelity_apps.FOLDER:
        return fidelity_apps.apps_seed(version)
    if folder == fidelity_directory.FOLDER:
        seed = default_seed(version)
        rebased = substitute(copy.deepcopy(seed), fidelity_directory.directory_ids(seed, RECORDINGS, version))
        worker = {"worker": "stalled"} if version in fidelity_directory.STALLED_WORKER else {}
        return {**fidelity_directory.lab_rbac(fidelity_directory.with_lab_roles(rebased, RECORDINGS, version),
                                              RECORDINGS, version), **worker}
    return flows_seed(version) if folder == "flows" else None


async def setup(client: httpx.AsyncClient, state: Replay, folder: str) -> None:
    """pages/ was recorded on a server holding the performance run's dummy stages; the ones its
    recordings show keep their recorded pks."""
    if folder != "pages":
        return
    shown = {stage["name"]: stage["pk"] for path in recordings(state.sandbox.api_version, folder)
             for stage in json.loads(path.read_text())["response"]["json"]["results"]}
    for index in range(PERF_STAGES):
        name = f"perf-{index * 8:05d}"
        state.sandbox.store.next_ids = [shown[name]] if name in shown else []
        response = await client.post("/api/v3/stages/dummy/", json={"name": name},
                                     headers={"Authorization": f"Bearer {state.sandbox.token}"})
        assert response.status_code == 201


def seeded_pks(seed: dict[str, Any]) -> set[str]:
    return {str(obj.get(key)) for objects in seed["lists"].values() for obj in objects
            for key in ("pk", "policybindingmodel_ptr_id") if obj.get(key)}


async def replay(version: str, folder: str) -> Replay:
    seed = initial_seed(version, folder)
    directory = folder == fidelity_directory.FOLDER
    documents = fidelity_directory.served_documents(RECORDINGS, version) if directory else None
    sandbox = Sandbox(version, seed=seed, documents=documents)
    state = Replay(sandbox, datetime.now(UTC))
    seeded = seeded_pks(seed or default_seed(version))
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=fidelity_apps.SERVERS[version]) as client:
        await setup(client, state, folder)
        for path in recordings(version, folder):
            name = case_name(path)
            filed = GAPS.get(f"{version}/{name}", [])
            for gap in filed if isinstance(filed, list) else [filed]:
                await fill_gap(client, state, gap)
            recorded = json.loads(path.read_text())
            request = recorded["request"]
            headers = {key: value.replace("<token>", sandbox.token) for key, value in request["headers"].items()}
            content = (json.dumps(substitute(request["json"], state.ids)) if "json" in request
                       else request.get("raw_body"))
            recorded_body = recorded["response"].get("json")
            status = recorded["response"]["status"]
            # a create answers 201, an action that makes an object 200 (a generated key pair, a
            # service account with its `user_pk`: directory 70)
            creating = fidelity_apps.creates(request["url"], status) or (
                status == 200 and isinstance(recorded_body, dict) and "user_pk" in recorded_body)
            sandbox.store.next_ids = [*created_ids(creating, recorded_body, seeded),
                                      *fidelity_directory.MADE_UNSEEN.get(f"{version}/{name}", ())]
            sandbox.store.next_secrets = fidelity_apps.drawn_secrets(creating, recorded_body)
            response = await client.request(request["method"], substitute(request["url"], state.ids),
                                            headers=headers, content=content)
            sandbox.store.next_ids = []
            is_json = response.headers.get("content-type", "").startswith("application/json")
            body: Any = response.json() if is_json else response.text
            if response.status_code < 300:
                state.ids.update(fidelity_apps.learned_secrets(recorded_body, body, state.secrets))
            if response.status_code < 300 and isinstance(recorded_body, dict) and isinstance(body, dict):
                state.ids.update(fidelity_directory.learned_ids(recorded_body, body, seeded))
                state.ids.update(fidelity_directory.learned_from_page(recorded_body, body, seeded, state.ids))
                state.ids.update(fidelity_apps.learned_generated(request, recorded_body, body,
                                                                 state.started.replace(microsecond=0)))
            stages = {stage["pk"]: stage for stage in sandbox.objects("stage")}
            state.exchanges[name] = Exchange(response.status_code, response.headers, body, stages)
    return state


def created_ids(creating: bool, body: Any, seeded: set[str]) -> list[str | int]:
    """The ids the recorded server generated for what a request created, in the order the
    sandbox draws them (pk, then binding-model UUID or a user's UUID), so it generates the same ones."""
    if not creating or not isinstance(body, dict):
        return []
    keys = [key for key in fidelity_directory.ID_KEYS if key in body]
    if not keys or str(body[keys[0]]) in seeded:
        return []
    return [body[key] if isinstance(body[key], int) else str(body[key]) for key in keys] + \
        fidelity_directory.token_ids(body)


async def fill_gap(client: httpx.AsyncClient, state: Replay, gap: Gap | Cleanup) -> None:
    if isinstance(gap, Cleanup):
        return await clean_up(client, state, gap)
    names = {stage["name"]: stage["pk"] for stage in state.sandbox.objects("stage")}
    url = "/api/v3" + substitute(re.sub(r"\{(.+?)\}", lambda m: names[m[1]], gap.url), state.ids)
    body = {key: names[value[1:-1]] if isinstance(value, str) and value.startswith("{") else value
            for key, value in gap.body.items()}
    headers = {"Authorization": f"Bearer {state.sandbox.token}"}
    state.sandbox.store.next_ids = list(gap.created)
    response = await client.request(gap.method, url, json=substitute(body, state.ids), headers=headers)
    state.sandbox.store.next_ids = []
    assert response.status_code < 300, response.text
    if gap.created:
        created = response.json()
        state.ids[gap.created[0]] = next(created[key] for key in fidelity_directory.ID_KEYS if key in created)
    state.ids.update({recorded: response.json()[key] for key, recorded in gap.learned})


async def clean_up(client: httpx.AsyncClient, state: Replay, cleanup: Cleanup) -> None:
    headers = {"Authorization": f"Bearer {state.sandbox.token}"}
    for path in cleanup.lists:
        listed = await client.get(f"/api/v3{path}?page_size=1000", headers=headers)
        assert listed.status_code == 200, listed.text
        for obj in listed.json()["results"]:
            if any(str(obj.get(key) or "").lower().startswith(cleanup.prefix) for key in NAMES):
                ident = next(obj[key] for key in fidelity_directory.ID_KEYS if key in obj)
                deleted = await client.delete(f"/api/v3{path}{ident}/", headers=headers)
                assert deleted.status_code == 204, (path, ident, deleted.text)


REPLAYS: dict[tuple[str, str], Replay] = {}


def replayed(version: str, folder: str) -> Replay:
    """One replay per folder, made on first use, so any selection of tests sees the full order."""
    if (version, folder) not in REPLAYS:
        REPLAYS[version, folder] = asyncio.run(replay(version, folder))
    return REPLAYS[version, folder]


def cases() -> list[Any]:
    params = []
    for version in VERSIONS:
        for folder in FOLDERS:
            for path in recordings(version, folder):
                case_id = f"{version}/{case_name(path)}"
                marks = [pytest.mark.xfail(strict=True, reason=NOT_REPRODUCED[case_id])] \
                    if case_id in NOT_REPRODUCED else []
                params.append(pytest.param(version, folder, path, id=case_id, marks=marks))
    return params


@pytest.mark.parametrize(("version", "folder", "path"), cases())
def test_sandbox_answers_like_the_recording(version: str, folder: str, path: Path) -> None:
    state = replayed(version, folder)
    recorded = json.loads(path.read_text())["response"]
    actual = state.exchanges[case_name(path)]
    assert actual.status == recorded["status"]
    assert media_type(actual.headers) == media_type(recorded["headers"])
    if "allow" in recorded["headers"]:
        assert actual.headers.get("allow") == recorded["headers"]["allow"]
    if "json" not in recorded:
        assert (actual.body == "") == (recorded["text"] == "")
        return
    expected = substitute(recorded["json"], state.ids)
    if folder == "pages":  # the recordings keep only the first results, "for size" (their notes)
        actual.body["results"] = actual.body["results"][:len(expected["results"])]
    request_url = json.loads(path.read_text())["request"]["url"]
    if request_url.split("?")[0] == "/api/v3/stages/all/" and "results" in expected:
        assert_unordered_page(expected, actual)
    else:
        assert_same(expected, actual.body, "$", state.started)


def media_type(headers: Any) -> str | None:
    value = headers.get("content-type")
    return value.split(";")[0] if value else None


def assert_unordered_page(expected: dict[str, Any], actual: Exchange) -> None:
    """`/stages/all/` has no stable order (105): the envelope must match exactly, and each
    recorded stage must look the same in the sandbox; a full page must hold the same stages."""
    assert list(actual.body) == list(expected)
    assert actual.body["pagination"] == expected["pagination"]
    for stage in expected["results"]:
        assert_same(stage, actual.stages.get(stage["pk"]), f"$.results[{stage['name']}]", None)
    if expected["pagination"]["count"] == len(expected["results"]):
        assert sorted(s["pk"] for s in actual.body["results"]) == sorted(s["pk"] for s in expected["results"])


def assert_same(expected: Any, actual: Any, where: str, started: datetime | None) -> None:
    """Equal values and equal key order, all the way down."""
    if isinstance(expected, dict):
        assert_same_object(expected, actual, where, started)
    elif isinstance(expected, list):
        assert_same_list(expected, actual, where, started)
    elif isinstance(expected, str) and TOKEN in expected:
        assert_same_token_url(expected, actual, where)
    elif isinstance(expected, str) and expected in fidelity_directory.REDACTED:
        form = fidelity_directory.REDACTED[expected]
        assert isinstance(actual, str) and form.fullmatch(actual), f"{where}: {actual!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_object(expected: dict[str, Any], actual: Any, where: str, started: datetime | None) -> None:
    """The same keys in the same order, each value the same (a clock field plausible, a list
    without a stable order sorted by pk first)."""
    assert isinstance(actual, dict), f"{where}: {actual!r}"
    assert list(actual) == list(expected), f"{where}: keys"
    for key, value in expected.items():
        if key in CLOCK_FIELDS and started is not None and value is not None:  # a token that never expires: 352
            assert_plausible_expiry(actual[key], started, f"{where}.{key}")
        elif key in fidelity_directory.APPLIED and value != actual[key] and started is not None:
            assert_replay_time(actual[key], started, f"{where}.{key}")
        elif key in fidelity_directory.TIMESTAMPS and isinstance(value, str):
            assert isinstance(actual[key], str) and datetime.fromisoformat(actual[key]).tzinfo, f"{where}.{key}"
        elif key in UNORDERED_LISTS and isinstance(value, list) and isinstance(actual[key], list):
            assert_same(sorted(value, key=by_pk), sorted(actual[key], key=by_pk), f"{where}.{key}", started)
        else:
            assert_same(value, actual[key], f"{where}.{key}", started)


def assert_same_list(expected: list[Any], actual: Any, where: str, started: datetime | None) -> None:
    assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert_same(want, got, f"{where}[{index}]", started)


def assert_same_token_url(expected: str, actual: Any, where: str) -> None:
    """A URL that carries a token: the same before the token, the same claims in the same order
    and the same path claim."""
    assert isinstance(actual, str) and TOKEN in actual, f"{where}: {actual!r}"
    assert actual.split(TOKEN)[0] == expected.split(TOKEN)[0], where
    assert list(claims(actual)) == list(claims(expected)), where
    assert claims(actual)["path"] == claims(expected)["path"], where


def claims(url: str) -> dict[str, Any]:
    payload = url.split(TOKEN)[1].split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def by_pk(item: Any) -> str:
    return str(item.get("pk")) if isinstance(item, dict) else str(item)


def assert_replay_time(value: Any, started: datetime, where: str) -> None:
    """A clock value the sandbox set during the replay: in the recorded form, not before it began."""
    assert isinstance(value, str) and value.endswith("Z"), f"{where}: {value!r}"
    assert datetime.fromisoformat(value) >= started, f"{where}: {value} is before the replay began"


def assert_plausible_expiry(value: str, started: datetime, where: str) -> None:
    """Invitations expire 30 minutes after creation (kinds/16); the replay created them just now."""
    assert value.endswith("Z"), where
    delay = datetime.fromisoformat(value) - (started + INVITATION_LIFETIME)
    assert timedelta(0) <= delay < timedelta(minutes=5), f"{where}: {value}"
