"""Every server answer checked where it enters (issue #11) and lists read with bounded concurrent
pages (issue #12): the sandbox's misanswers through the CLI over real HTTP and through the Python
API in-process, each one error line naming the call; and the reads a plan makes, counted."""
from __future__ import annotations

import asyncio
import copy
import json
import math
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import TOKEN, run, served, write_manifest

from reconciler import ApiError, Connection, PlanOptions, plan
from reconciler.sandbox import Sandbox
from reconciler.sandbox.profile import default_seed
from reconciler.server.client import Client

NEW_DENY = [{"kind": "deny", "name": "new-deny"}]
"""A plan that creates a stage: it reads `/stages/deny/`, then `/stages/all/` for the name check."""


def seeded(**extra: int) -> dict[str, Any]:
    """A fresh 2026.2.2 install plus `extra[kind]` stages of each kind (`deny=150`)."""
    seed = copy.deepcopy(default_seed("2026.2.2"))
    for kind, count in extra.items():
        seed["lists"][f"/stages/{kind}/"] += [{"pk": str(uuid.UUID(int=i + 1)), "name": f"{kind}-{i:04}"}
                                              for i in range(count)]
    return seed


def gets(sandbox: Sandbox) -> list[str]:
    return [r.api_path for r in sandbox.requests if r.method == "GET"]


def connection(sandbox: Sandbox, **options: Any) -> Connection:
    return Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport(), backoff=0,
                      **options)


def planned_in_process(sandbox: Sandbox, folder: Path) -> str:
    """The one-line error the Python API raises for a plan against `sandbox` in-process."""
    with pytest.raises(ApiError) as caught:
        plan([folder], connection(sandbox), PlanOptions(keep_state=False))
    return str(caught.value)


SHAPES = [
    ("/stages/all/", "list", 'GET /stages/all/: the answer is a list, not an object with a "results" list'),
    ("/stages/all/", "empty_object", 'GET /stages/all/: the answer has no "results" list'),
    ("/stages/all/", "no_results", 'GET /stages/all/: the answer has no "results" list'),
    ("/stages/all/", "results_not_list", 'GET /stages/all/: the answer has no "results" list'),
    ("/stages/all/", "item_not_object", "GET /stages/all/: page 1, result 1 is a string, not an object"),
    ("/stages/all/", "no_pk", 'GET /stages/all/: page 1, result 1 has no "pk"'),
    ("/stages/all/", "bad_pagination", 'GET /stages/all/: "pagination" has no integer "total_pages"'),
    ("/stages/all/", "html", "GET /stages/all/: authentik answered 200 with a body that is not JSON"),
    ("/stages/all/", "not_utf8", "GET /stages/all/: authentik answered 200 with a body that is not valid UTF-8 "
                                 "(byte 16)"),
    ("/stages/all/", "bad_gzip", "GET /stages/all/: authentik's answer could not be decoded as its Content-Encoding "
                                 "says (Error -3 while decompressing data: incorrect header check)"),
    ("/admin/version/", "not_utf8", "GET /admin/version/: authentik answered 200 with a body that is not valid "
                                    "UTF-8 (byte 16)"),
    ("/admin/version/", "bad_gzip", "GET /admin/version/: authentik's answer could not be decoded as its "
                                    "Content-Encoding says (Error -3 while decompressing data: incorrect header "
                                    "check)"),
    ("/admin/version/", "list", 'GET /admin/version/: the answer has no "version_current" string'),
    ("/admin/version/", "empty_object", 'GET /admin/version/: the answer has no "version_current" string'),
]


@pytest.mark.parametrize(("path", "shape", "message"), SHAPES, ids=[f"{p}{s}" for p, s, _ in SHAPES])
def test_an_answer_of_the_wrong_shape_is_one_error_naming_the_call(tmp_path: Path, path: str, shape: Any,
                                                                    message: str) -> None:
    write_manifest(tmp_path, NEW_DENY)
    with served() as (sandbox, url):
        sandbox.wrong_shape_next("GET", path, shape)
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    in_process = Sandbox(token=TOKEN)
    in_process.wrong_shape_next("GET", path, shape)
    assert planned_in_process(in_process, tmp_path) == message


def test_a_live_object_without_its_id_is_an_api_error_not_a_key_error(tmp_path: Path) -> None:
    # The plan indexes the password stages by pk (the object it describes is owned by its id).
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}])
    with served() as (sandbox, url):
        sandbox.wrong_shape_next("GET", "/stages/password/", "no_pk")
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (1, 'error: GET /stages/password/: page 1, result 1 has no "pk"\n')


def test_a_redirect_names_its_target_over_https(tmp_path: Path) -> None:
    write_manifest(tmp_path, NEW_DENY)
    with served() as (sandbox, url):
        sandbox.redirect_next("GET", "/admin/version/")
        result = run(url, "plan", str(tmp_path))
    target = url.replace("http://", "https://") + "/api/v3/admin/version/"
    assert (result.exit_code, result.output) == (
        1, f"error: GET /admin/version/: authentik answered 301, redirecting to {target} — is the URL's "
           "scheme or path right?\n")
    assert [r.status for r in sandbox.requests] == [301]


def test_a_redirect_is_shown_without_its_credentials_and_query(tmp_path: Path) -> None:
    write_manifest(tmp_path, NEW_DENY)
    sandbox = Sandbox(token=TOKEN)
    sandbox.redirect_next("GET", "/stages/deny/", status=302,
                          location=f"https://admin:hunter22@auth.example.com/api/v3/stages/deny/?token={TOKEN}#x")
    assert planned_in_process(sandbox, tmp_path) == (
        "GET /stages/deny/: authentik answered 302, redirecting to https://auth.example.com/api/v3/stages/deny/ "
        "— is the URL's scheme or path right?")


def test_a_write_answered_with_a_redirect_is_not_taken_for_success(tmp_path: Path) -> None:
    write_manifest(tmp_path, NEW_DENY)
    with served() as (sandbox, url):
        sandbox.redirect_next("POST", "/stages/deny/", location="/if/flow/login/")
        result = run(url, "apply", "--auto-approve", str(tmp_path))
    assert result.exit_code == 1
    assert f"POST /stages/deny/: authentik answered 301, redirecting to {url}/if/flow/login/ — is the URL's " \
           "scheme or path right?" in result.output
    assert sandbox.objects("deny") == []


def test_a_body_trickled_past_the_deadline_is_one_error(tmp_path: Path) -> None:
    write_manifest(tmp_path, NEW_DENY)
    with served() as (sandbox, url):
        # the headers at once, then a piece every 0.1 s (each within any read timeout) for 0.8 s:
        # only a deadline over the whole answer stops it
        sandbox.slow_body_next("GET", "/admin/version/", seconds=0.8, pieces=8)
        with pytest.raises(ApiError) as caught:
            plan([tmp_path], Connection(url=url, token=TOKEN, timeout=0.3, retries=0), PlanOptions(keep_state=False))
    assert str(caught.value) == "GET /admin/version/: no complete answer within the 0.3 s deadline"


def test_a_slow_body_within_the_timeout_arrives_whole() -> None:
    with served() as (sandbox, url):
        sandbox.slow_body_next("GET", "/stages/all/", seconds=0.1, pieces=5)

        async def stages() -> list[dict[str, Any]]:
            async with Client(Connection(url=url, token=TOKEN)) as client:
                return await client.list("/stages/all/")

        assert len(asyncio.run(stages())) == 18


PAGINGS = [
    ("endless", 'GET /stages/deny/: page 2 has "next" 3: more pages than page 1\'s "total_pages" (2)', 2),
    ("stuck", 'GET /stages/deny/: page 1 has "next" 1: the pages do not advance', 1),
    ("ignores_page", "GET /stages/deny/: asked for page 2, authentik answered page 1", 2),
]


@pytest.mark.parametrize(("paging", "message", "reads"), PAGINGS, ids=[p for p, _, _ in PAGINGS])
def test_pagination_that_does_not_end_or_advance_stops_with_one_error(tmp_path: Path, paging: Any, message: str,
                                                                        reads: int) -> None:
    # 150 deny stages: two pages of the 100 a 2026.2.2 server caps a page at (recording 112).
    write_manifest(tmp_path, NEW_DENY)
    with served(seed=seeded(deny=150)) as (sandbox, url):
        sandbox.wrong_pages_next("/stages/deny/", paging, times=100)
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    assert gets(sandbox).count("/stages/deny/") == reads
    in_process = Sandbox(token=TOKEN, seed=seeded(deny=150))
    in_process.wrong_pages_next("/stages/deny/", paging, times=100)
    assert planned_in_process(in_process, tmp_path) == message


def test_an_endless_next_on_a_single_page_ends_at_once(tmp_path: Path) -> None:
    write_manifest(tmp_path, NEW_DENY)
    sandbox = Sandbox(token=TOKEN)
    sandbox.wrong_pages_next("/stages/all/", "endless", times=100)
    assert planned_in_process(sandbox, tmp_path) == \
        'GET /stages/all/: page 1 has "next" 2: more pages than page 1\'s "total_pages" (1)'
    assert gets(sandbox) == ["/admin/version/", "/stages/deny/", "/stages/all/"]


class GrowingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the served sandbox; once the `after`-th page of `/stages/deny/` has been
    answered (every page from then on when `each_page`), it POSTs `count` more deny stages named
    `prefix-N` before handing the answer back: the list grows while the client reads it."""

    def __init__(self, url: str, *, prefix: str, count: int, after: int = 1, each_page: bool = False) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.url, self.prefix, self.count, self.after, self.each_page = url, prefix, count, after, each_page
        self.pages: list[str | None] = []
        self.created = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path == "/api/v3/stages/deny/":
            self.pages.append(request.url.params.get("page"))
            if len(self.pages) == self.after or (self.each_page and len(self.pages) > self.after):
                await response.aread()
                for _ in range(self.count):
                    self.created += 1
                    posted = await self.inner.handle_async_request(httpx.Request(
                        "POST", f"{self.url}/api/v3/stages/deny/", json={"name": f"{self.prefix}-{self.created:03}"},
                        headers={"Authorization": f"Bearer {TOKEN}"}))
                    await posted.aread()
                    assert posted.status_code == 201
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def read_growing(url: str, transport: GrowingTransport) -> list[dict[str, Any]]:
    async def stages() -> list[dict[str, Any]]:
        conn = Connection(url=url, token=TOKEN, transport=transport, page_size=100, backoff=0)
        async with Client(conn) as client:
            return await client.list("/stages/deny/")

    return asyncio.run(stages())


def test_a_list_that_grows_while_it_is_read_is_read_whole() -> None:
    # 150 stages: page 1 says 2 pages; 60 more arrive once page 1 is answered, so page 2 says
    # there is a page 3, which is read too.
    with served(seed=seeded(deny=150)) as (sandbox, url):
        transport = GrowingTransport(url, prefix="new", count=60)
        stages = read_growing(url, transport)
        assert [s["name"] for s in stages] == [s["name"] for s in sandbox.seed_objects("/stages/deny/")]
    assert len(stages) == 210 and stages[-1]["name"] == "new-060"
    assert transport.pages == ["1", "2", "3"]


def test_an_object_a_growing_list_moves_onto_a_later_page_is_kept_once() -> None:
    # The 60 new stages sort first: page 2, read after them, repeats the 60 last of page 1.
    with served(seed=seeded(deny=150)) as (_, url):
        transport = GrowingTransport(url, prefix="a-new", count=60)
        stages = read_growing(url, transport)
    assert [s["name"] for s in stages] == [f"deny-{i:04}" for i in range(150)]
    assert transport.pages == ["1", "2", "3"]


def test_a_list_that_keeps_growing_while_it_is_read_stops_with_one_error() -> None:
    # A page more after each page answered: page N always says there is another one.
    with served(seed=seeded(deny=150)) as (sandbox, url):
        transport = GrowingTransport(url, prefix="new", count=100, each_page=True)
        with pytest.raises(ApiError) as caught:
            read_growing(url, transport)
    assert str(caught.value) == \
        "GET /stages/deny/: the list kept growing while it was read (page 7 of at most 6); run again"
    assert transport.pages == ["1", "2", "3", "4", "5", "6"]


# -- the reads a plan makes ----------------------------------------------------------------------
class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and records how many requests were under way when each one started. It
    yields to the event loop once inside each request, so every request ready to start does
    start: the overlap is the client's doing, not a matter of timing."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.started: list[tuple[str, str | None, int]] = []

    @property
    def most(self) -> int:
        return max(under_way for _, _, under_way in self.started)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.started.append((request.url.path, request.url.params.get("page"), self.in_flight))
        try:
            await asyncio.sleep(0)
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


BENCH_KINDS = ("deny", "dummy", "user_login", "user_logout", "user_write", "consent", "password", "identification")


def thousand_stages() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A seed with 1,000 stages over 8 kinds, and manifests describing them as they are."""
    seed = copy.deepcopy(default_seed("2026.2.2"))
    described = []
    for index in range(1000):
        kind = BENCH_KINDS[index % len(BENCH_KINDS)]
        name = f"bench-{kind}-{index:04}"
        seed["lists"][f"/stages/{kind}/"].append({"pk": str(uuid.UUID(int=index + 1)), "name": name})
        described.append({"kind": kind, "name": name})
    return seed, described


def test_a_list_reads_page_1_then_the_other_pages_concurrently_within_the_limit() -> None:
    seed, _ = thousand_stages()
    sandbox = Sandbox(seed=seed)
    transport = CountingTransport(sandbox.transport())

    async def stages() -> list[dict[str, Any]]:
        conn = Connection(url="http://sandbox", token=sandbox.token, transport=transport, max_concurrency=4)
        async with Client(conn) as client:
            return await client.list("/stages/all/")

    stages_read = asyncio.run(stages())
    assert len(stages_read) == 1018 and len({s["pk"] for s in stages_read}) == 1018
    assert [s["name"] for s in stages_read] == [s["name"] for s in sandbox.seed_objects("/stages/all/")]
    # page 1 alone (its total_pages says what comes next), then pages 2..11 four at a time
    assert transport.started[0] == ("/api/v3/stages/all/", "1", 1)
    assert sorted(int(page or 0) for _, page, _ in transport.started) == list(range(1, 12))
    assert transport.most == 4


def test_a_plan_of_1000_stages_reads_each_list_once_by_pages_and_never_an_object(tmp_path: Path) -> None:
    seed, described = thousand_stages()
    write_manifest(tmp_path, described)
    sandbox = Sandbox(seed=seed)
    transport = CountingTransport(sandbox.transport())
    # Pages of 20: 7 a kind, so the lists of several kinds and their pages could overlap.
    conn = Connection(url="http://sandbox", token=sandbox.token, transport=transport, max_concurrency=4,
                      page_size=20)
    result = plan([tmp_path], conn, PlanOptions(keep_state=False))
    assert not result.has_changes
    pages = {path: sorted(int(r.query["page"]) for r in sandbox.requests if r.api_path == path)
             for path in set(gets(sandbox)) - {"/admin/version/"}}
    expected = {f"/stages/{kind}/": list(range(1, 1 + math.ceil(len(sandbox.objects(kind)) / 20)))
                for kind in BENCH_KINDS}
    assert pages == expected
    assert gets(sandbox).count("/admin/version/") == 1
    assert len(sandbox.requests) == 1 + 8 * 7
    assert transport.most == 4


CONSEQUENCE_READS = sorted(["/core/applications/", "/core/brands/", "/flows/bindings/", "/flows/instances/",
                           "/managed/blueprints/",
                           *(f"/providers/{kind}/" for kind in ("ldap", "oauth2", "proxy", "rac", "radius", "saml",
                                                               "ssf", "wsfed"))])
"""What the consequences of a stage update read, once each and last: the lists of what uses it on
the way to a flow, brand or application (planning/impact.py: the bindings, the flows, the brands,
the providers that run flows and the applications that use them) and the blueprint instances
(planning/consequences.py)."""


def assert_reads(sandbox: Sandbox, first: list[str]) -> None:
    """The plan's reads: `first` in this order, then the consequences' (made concurrently: in any order)."""
    reads = gets(sandbox)
    assert reads[:len(first)] == first
    assert sorted(reads[len(first):]) == CONSEQUENCE_READS


def test_a_plan_that_creates_nothing_does_not_read_the_family_list(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}])
    sandbox = Sandbox()
    plan([tmp_path], connection(sandbox), PlanOptions(keep_state=False))
    assert_reads(sandbox, ["/admin/version/", "/stages/password/"])


def test_a_plan_that_creates_a_stage_reads_the_family_list_after_its_kind(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}, *NEW_DENY])
    sandbox = Sandbox()
    plan([tmp_path], connection(sandbox), PlanOptions(keep_state=False))
    assert_reads(sandbox, ["/admin/version/", "/stages/deny/", "/stages/password/", "/stages/all/"])
    assert Counter(r.query.get("page") for r in sandbox.requests if r.api_path != "/admin/version/") == {
        "1": 3 + len(CONSEQUENCE_READS)}


def test_a_put_plan_reads_the_targets_of_the_references_it_carries_over(tmp_path: Path) -> None:
    # `update: put` sends the live `password_stage` the manifest leaves out: the plan names it by
    # key, which `/stages/all/` gives (no stage is created, so the name check does not read it).
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    write_manifest(first, [{"kind": "password", "name": "pw-x", "backends": ["authentik.core.auth.InbuiltBackend"]},
                           {"kind": "identification", "name": "id-x", "user_fields": ["email"],
                            "password_stage": {"stage": "pw-x"}},
                           {"kind": "identification", "name": "id-y", "user_fields": ["email"]}])
    write_manifest(second, [{"kind": "identification", "name": "id-x", "update": "put", "user_fields": ["username"]}])
    with served() as (sandbox, url):
        assert run(url, "apply", str(first), "--auto-approve", "--state", str(tmp_path / "state.json")).exit_code == 0
        [password] = [s for s in sandbox.objects("password") if s["name"] == "pw-x"]
        sandbox.clear_log()
        result = run(url, "plan", str(second), "--format", "json", "--state", str(tmp_path / "state.json"))
        assert result.exit_code == 0, result.output
        [change] = json.loads(result.stdout)["changes"]
        assert (change["action"], change["body"]["password_stage"]) == (
            "replace", {"$ref": {"target": "stage", "key": ["pw-x"], "id": password["pk"], "address": None}})
        assert_reads(sandbox, ["/admin/version/", "/stages/identification/", "/stages/all/"])
        # Without a live reference to carry over, the PUT reads its own kind only.
        write_manifest(second, [{"kind": "identification", "name": "id-y", "update": "put",
                                 "user_fields": ["username"]}])
        sandbox.clear_log()
        assert run(url, "plan", str(second), "--state", str(tmp_path / "state.json")).exit_code == 0
    assert_reads(sandbox, ["/admin/version/", "/stages/identification/"])


def test_a_saved_plan_that_creates_nothing_is_checked_without_the_family_list(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                               "failed_attempts_before_cancel": 9}])
    with served() as (sandbox, url):
        assert run(url, "plan", str(tmp_path), "--out", str(tmp_path / "plan.json")).exit_code == 0
        sandbox.clear_log()
        applied = run(url, "apply", "--plan", str(tmp_path / "plan.json"), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    [password] = sandbox.objects("password")
    assert [(r.method, r.api_path) for r in sandbox.requests] == [
        ("GET", "/admin/version/"), ("GET", "/stages/password/"), ("PATCH", f"/stages/password/{password['pk']}/")]
