"""The sandbox beyond what the recordings cover: pagination, filters, auth, faults, the request log,
seeding, serving over HTTP, the enterprise switch, references, and the three API reference pages
of the shared seeds (Duo PATCH, SMS PUT, identification PATCH)."""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Call, calling, created, server_error
from hypothesis import given, settings
from hypothesis import strategies as st

import reconciler.sandbox
from reconciler.sandbox import Faults, Sandbox, serve

PLACEHOLDER_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"  # the uuid in the reference pages' examples
BUILT_IN = {"2023.10.7": "8a19386e-afd4-4e69-83ef-91d791d7a5fe", "2026.2.2": "5fa28e9d-feec-49ca-bdd2-664242816859"}
AUTH_FLOW = {"2023.10.7": "aa9c2c89-28e0-4bd4-a9a3-4f7e6fcc49b5", "2026.2.2": "a4ba503b-7322-46cf-802c-4a717f502a43"}
SMS = {"name": "sms", "provider": "twilio", "from_number": "+15550000000", "account_sid": "AC", "auth": "token"}
DUO = {"name": "duo", "client_id": "DI", "client_secret": "duo-secret", "api_hostname": "api-x.duosecurity.com"}
SERVER_ERROR = ("text/html; charset=utf-8", b"", "GET, HEAD, OPTIONS")
UNORDERED = {"flow_set", "stages", "policies"}


def test_public_api() -> None:
    assert reconciler.sandbox.__all__ == ["DEFAULT_TOKEN", "LATEST_VERSION", "Faults", "RecordedRequest",
                                          "Sandbox", "serve"]


def test_unknown_version_names_the_known_ones() -> None:
    message = "unknown authentik API version '1999.1.1' (known: 2023.10.7, 2026.2.2)"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Sandbox("1999.1.1")
    with pytest.raises(ValueError, match="known: 2023.10.7, 2026.2.2"):
        serve(api_version="1999.1.1")


# -- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize(("headers", "detail"), [
    ({}, "Authentication credentials were not provided."),  # 88, 91
    # Source reading (authentik/api/authentication.py validate_auth): any scheme but Bearer.
    ({"Authorization": "Basic c2FuZGJveA=="}, "Unsupported authentication type"),
    ({"Authorization": "Bearer wrong"}, "Token invalid/expired"),  # 89
])
def test_requests_without_the_token_are_forbidden(sandbox: Sandbox, headers: dict[str, str], detail: str) -> None:
    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=sandbox.transport(), base_url="http://sandbox") as client:
            return [await client.get("/api/v3/stages/all/", headers=headers),
                    await client.post("/api/v3/stages/deny/", json={"name": "x"}, headers=headers)]

    import asyncio
    for response in asyncio.run(send()):
        assert (response.status_code, response.json()) == (403, {"detail": detail})
    assert sandbox.objects("deny") == []


def test_a_custom_token(call: Call) -> None:
    other = Sandbox(token="s3cret")
    assert calling(other)("GET", "/admin/version/").status_code == 200
    assert call("GET", "/admin/version/", headers={"Authorization": "Bearer s3cret"}).status_code == 403


# -- lists ---------------------------------------------------------------------------------------
def test_pagination_envelope(call: Call) -> None:
    for index in (3, 0, 6, 1, 5, 2, 4):
        created(call, "/stages/deny/", {"name": f"page-{index}"})

    def page(query: str) -> dict[str, Any]:
        response = call("GET", "/stages/deny/?" + query)
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result

    first = page("page_size=3")
    assert first["pagination"] == {"next": 2, "previous": 0, "count": 7, "current": 1, "total_pages": 3,
                                   "start_index": 1, "end_index": 3}
    assert [s["name"] for s in first["results"]] == ["page-0", "page-1", "page-2"]
    last = page("page_size=3&page=3")
    assert last["pagination"] == {"next": 0, "previous": 2, "count": 7, "current": 3, "total_pages": 3,
                                  "start_index": 7, "end_index": 7}
    assert page("page_size=3&page=last")["pagination"]["current"] == 3
    assert page("page_size=0")["pagination"]["total_pages"] == 1  # not a page size: the default 100
    assert page("page_size=abc")["pagination"]["count"] == 7
    for query in ("page_size=3&page=4", "page=0", "page=abc"):
        response = call("GET", "/stages/deny/?" + query)
        assert (response.status_code, response.json()) == (404, {"detail": "Invalid page."})


def test_a_list_shows_every_write_made_since_it_was_last_read(call: Call) -> None:
    # Lists keep their rendered objects until the next write (python -m bench): every write must
    # show in the next read of every list, pages and family lists included.
    def names(path: str) -> list[Any]:
        response = call("GET", path + "?page_size=1000")
        assert response.status_code == 200
        return [(o.get("name") or o.get("stage_obj", {}).get("name"), o.get("deny_message"))
                for o in response.json()["results"] if "bench" in json.dumps(o)]

    stage = created(call, "/stages/deny/", {"name": "bench-a", "deny_message": "one"})
    flow = created(call, "/flows/instances/", {"name": "F", "slug": "bench-f", "title": "F",
                                               "designation": "authentication"})
    created(call, "/flows/bindings/", {"target": flow["pk"], "stage": stage["pk"], "order": 1})
    assert names("/stages/deny/") == [("bench-a", "one")]
    assert names("/flows/bindings/") == [("bench-a", None)]
    assert call("PATCH", f"/stages/deny/{stage['pk']}/", json={"name": "bench-b", "deny_message": "two"}
                ).status_code == 200
    assert names("/stages/deny/") == [("bench-b", "two")]
    assert ("bench-b", None) in names("/stages/all/")
    assert names("/flows/bindings/") == [("bench-b", None)]
    assert call("DELETE", "/flows/instances/bench-f/").status_code == 204
    assert names("/flows/bindings/") == []
    assert call("DELETE", f"/stages/deny/{stage['pk']}/").status_code == 204
    assert names("/stages/deny/") == names("/stages/all/") == []


def test_empty_list(versioned_call: Call) -> None:
    body = versioned_call("GET", "/stages/dummy/").json()
    assert body["pagination"] == {"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
                                  "start_index": 0, "end_index": 0}
    assert body["results"] == []


@settings(max_examples=25, deadline=None)
@given(names=st.sets(st.text("abcxyz-", min_size=1, max_size=6), min_size=0, max_size=12),
       page_size=st.integers(1, 5))
def test_pages_together_hold_the_whole_list_in_name_order(names: set[str], page_size: int) -> None:
    call = calling(Sandbox())
    for name in names:
        created(call, "/stages/dummy/", {"name": name})
    seen: list[str] = []
    page = 1
    while page:
        body = call("GET", f"/stages/dummy/?page_size={page_size}&page={page}").json()
        seen += [s["name"] for s in body["results"]]
        assert body["pagination"]["end_index"] == len(seen)
        page = body["pagination"]["next"]
    assert seen == sorted(names)


def test_filters(call: Call) -> None:
    for name in ("probe", "probe-extra", "PROBE-upper", "other"):
        created(call, "/stages/deny/", {"name": name})

    def names(query: str, path: str = "/stages/deny/") -> list[str]:
        return [s["name"] for s in call("GET", f"{path}?{query}").json()["results"]]

    assert names("name=probe") == ["probe"]
    assert names("name=prob") == []
    assert names("search=probe") == ["PROBE-upper", "probe", "probe-extra"]
    assert names("search=PROBE&name=probe-extra&bogus=1") == ["probe-extra"]
    assert names("ordering=-name") == ["probe-extra", "probe", "other", "PROBE-upper"]
    assert names("search=probe", "/stages/all/") == ["probe", "probe-extra", "PROBE-upper"]  # insertion order
    flows = call("GET", "/flows/instances/?slug=default-authentication-flow").json()["results"]
    assert [f["slug"] for f in flows] == ["default-authentication-flow"]


def test_prompts_are_ordered_by_field_key(versioned_call: Call) -> None:
    keys = [p["field_key"] for p in versioned_call("GET", "/stages/prompt/prompts/").json()["results"]]
    assert keys == sorted(keys) and len(keys) == 11


def test_read_only_lists_and_fixed_endpoints(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    for target in versioned_sandbox.model.targets.values():
        if target.union:
            continue  # a union of other targets (binding_target) has no list of its own
        response = versioned_call("GET", target.path)
        assert response.status_code == 200, target.path
        assert set(response.json()) >= {"pagination", "results"}
    flow = versioned_call("GET", "/flows/instances/default-authentication-flow/").json()
    assert flow["pk"] == AUTH_FLOW[versioned_sandbox.api_version]
    # Flows are looked up by slug only (flows 02, 66): the pk names no flow.
    assert versioned_call("GET", f"/flows/instances/{flow['pk']}/").status_code == 404
    assert versioned_call("GET", "/flows/bindings/?page_size=100").json()["pagination"]["count"] == 20
    assert versioned_call("POST", "/flows/instances/", json={}).json() == {  # flows 04: writable now
        key: ["This field is required."] for key in ("name", "slug", "title", "designation")}
    assert isinstance(versioned_call("GET", "/stages/all/types/").json(), list)
    assert versioned_call("GET", "/admin/version/").json()["version_current"] == versioned_sandbox.api_version


def test_seeded_objects_answer_as_the_fresh_install(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """Read-only fields (flow_set, promptstage_set / prompt_stages_obj) are computed from the seed's
    flows, bindings and prompt stages; they must match what the real server returned."""
    from reconciler.sandbox.profile import default_seed

    def unordered(obj: Any) -> Any:
        # flow_set, and a flow's stages and policies, come in no fixed order (flows 01, 02 of 2023)
        if isinstance(obj, dict):
            return {k: sorted(map(unordered, v), key=json.dumps) if k in UNORDERED else unordered(v)
                    for k, v in obj.items()}
        return [unordered(item) for item in obj] if isinstance(obj, list) else obj

    for path, objects in default_seed(versioned_sandbox.api_version)["lists"].items():
        kind = versioned_sandbox.model.kind_for_path(path)
        if kind is not None:
            for obj in objects:
                answer = versioned_call("GET", kind.detail_path(obj)).json()
                assert list(answer) == list(obj)
                assert unordered(answer) == unordered(obj)


# -- writes --------------------------------------------------------------------------------------
def test_validation_messages(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    call = versioned_call
    response = call("POST", "/stages/invitation/invitations/", json={"name": "not a slug", "expires": "soon"})
    assert response.json() == {
        "name": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'],
        "expires": ["Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}
    response = call("POST", "/stages/password/", json={"name": True, "backends": "x",
                                                       "failed_attempts_before_cancel": "many"})
    assert response.json() == {"name": ["Not a valid string."],
                               "backends": ['Expected a list of items but got type "str".'],
                               "failed_attempts_before_cancel": ["A valid integer is required."]}
    response = call("POST", "/stages/prompt/stages/", json={"name": "p", "fields": ["nope"]})
    assert response.json() == {"fields": ["“nope” is not a valid UUID."]}
    response = call("POST", "/stages/authenticator/static/", json={"name": "s", "token_count": -1})
    assert response.json() == {"token_count": ["Ensure this value is greater than or equal to 0."]}
    response = call("POST", "/stages/email/", json={"name": "e", "from_address": "nobody"})
    assert response.json() == {"from_address": ["Enter a valid email address."]}
    response = call("POST", "/stages/deny/", json=["name"])
    assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    response = call("PATCH", f"/stages/identification/{PLACEHOLDER_UUID}/", content=b"{")
    assert response.status_code == 404  # the object is looked up before the body is read
    assert versioned_sandbox.objects("password") != []  # only the seeded one
    assert [s["name"] for s in versioned_sandbox.objects("password")] == ["default-authentication-password"]


def test_values_are_converted_like_drf(versioned_call: Call) -> None:
    stage = created(versioned_call, "/stages/password/", {
        "name": "  padded  ", "backends": ["authentik.core.auth.InbuiltBackend"],
        "failed_attempts_before_cancel": "7", "allow_show_password": "true"})
    assert stage["name"] == "padded"
    assert stage["failed_attempts_before_cancel"] == 7
    invitation = created(versioned_call, "/stages/invitation/invitations/",
                         {"name": "inv", "expires": "2030-01-01T02:00:00+02:00"})
    assert invitation["expires"] == "2030-01-01T00:00:00Z"


def test_names_are_unique_within_a_family(versioned_call: Call) -> None:
    created(versioned_call, "/stages/deny/", {"name": "taken"})
    response = versioned_call("POST", "/stages/dummy/", json={"name": "taken"})
    assert response.json() == {"name": ["stage with this name already exists."]}
    field = {"field_key": "k", "label": "l", "type": "text"}
    created(versioned_call, "/stages/prompt/prompts/", {"name": "taken", **field})  # another family
    response = versioned_call("POST", "/stages/prompt/prompts/", json={"name": "taken", **field})
    assert response.json() == {"name": ["prompt with this name already exists."]}


def test_invitation_defaults(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    before = datetime.now(UTC)
    flow = AUTH_FLOW[versioned_sandbox.api_version]
    invitation = created(versioned_call, "/stages/invitation/invitations/", {"name": "welcome", "flow": flow})
    expires = datetime.fromisoformat(invitation["expires"])
    assert before + timedelta(minutes=30) <= expires <= datetime.now(UTC) + timedelta(minutes=30)
    assert invitation["created_by"]["username"] == "akadmin"
    assert invitation["flow_obj"]["slug"] == "default-authentication-flow"


def test_prompt_stages_show_on_their_prompts(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    prompt = created(versioned_call, "/stages/prompt/prompts/",
                     {"name": "nick", "field_key": "nick", "label": "Nick", "type": "text"})
    stage = created(versioned_call, "/stages/prompt/stages/", {"name": "ask-nick", "fields": [prompt["pk"]]})
    answer = versioned_call("GET", f"/stages/prompt/prompts/{prompt['pk']}/").json()
    [listed] = answer.get("promptstage_set") or answer["prompt_stages_obj"]
    assert listed["pk"] == stage["pk"]
    assert ("fields" in listed) == (versioned_sandbox.api_version == "2026.2.2")  # 2023 lists base fields


def test_references_used_by_and_delete(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    call = versioned_call
    version = versioned_sandbox.api_version
    password = created(call, "/stages/password/", {"name": "pw", "backends": ["authentik.core.auth.InbuiltBackend"]})
    ident = created(call, "/stages/identification/", {
        "name": "id", "user_fields": ["email"], "password_stage": password["pk"], "sources": [BUILT_IN[version]]})
    upper = version == "2023.10.7"
    assert call("GET", f"/stages/identification/{ident['pk']}/used_by/").json() == [
        {"app": "authentik_core", "model_name": "source", "pk": BUILT_IN[version], "name": "authentik Built-in",
         "action": "CASCADE_MANY" if upper else "cascade_many"}]
    assert call("GET", f"/stages/all/{password['pk']}/used_by/").json() == [
        {"app": "authentik_stages_identification", "model_name": "identificationstage", "pk": ident["pk"],
         "name": "id", "action": "SET_NULL" if upper else "set_null"}]
    assert call("DELETE", f"/stages/all/{password['pk']}/").status_code == 204
    assert call("GET", f"/stages/identification/{ident['pk']}/").json()["password_stage"] is None
    seeded = next(s for s in versioned_sandbox.objects("stage") if s["name"] == "default-authentication-login")
    assert call("DELETE", f"/stages/user_login/{seeded['pk']}/").status_code == 204
    bindings = call("GET", "/flows/bindings/").json()["results"]
    assert len(bindings) == 18 and all(b["stage"] != seeded["pk"] for b in bindings)


def test_nested_prompt_writes_fail_like_flow_set_in_2023() -> None:
    call = calling(Sandbox("2023.10.7"))
    body: dict[str, Any] = {"name": "n", "field_key": "n", "label": "N", "type": "text", "promptstage_set": []}
    assert server_error(call("POST", "/stages/prompt/prompts/", json=body)) == SERVER_ERROR
    body["promptstage_set"] = [{"name": "default-authentication-login"}]
    assert call("POST", "/stages/prompt/prompts/", json=body).json() == {
        "promptstage_set": [{"name": ["stage with this name already exists."]}]}


# -- enterprise (2026.2.2 KINDS.md item 7) ---------------------------------------------------------
GDTC = {"name": "gdtc", "credentials": {"type": "service_account"}}
MTLS = {"name": "mtls", "mode": "optional", "cert_attribute": "subject", "user_attribute": "username"}
ENTERPRISE_REQUIRED = {"non_field_errors": ["Enterprise is required to create/update this object."]}


def test_enterprise_kinds_are_refused_without_a_licence() -> None:
    call = calling(Sandbox("2026.2.2"))
    assert call("POST", "/stages/authenticator/endpoint_gdtc/", json={"name": "g"}).json() == {
        "credentials": ["This field is required."]}  # fields first
    assert call("POST", "/stages/authenticator/endpoint_gdtc/", json=GDTC).json() == ENTERPRISE_REQUIRED
    assert call("POST", "/stages/mtls/", json=MTLS).json() == ENTERPRISE_REQUIRED


def test_enterprise_flag_lifts_the_refusal() -> None:
    sandbox = Sandbox("2026.2.2", enterprise=True)
    call = calling(sandbox)
    gdtc = created(call, "/stages/authenticator/endpoint_gdtc/", GDTC)
    assert "credentials" in gdtc and gdtc["component"] == "ak-stage-authenticator-endpoint-gdtc-form"
    mtls = created(call, "/stages/mtls/", MTLS)
    assert mtls["verbose_name"] == "Mutual TLS Stage"
    built_in = {"name": "src", "source": BUILT_IN["2026.2.2"]}
    assert call("POST", "/stages/source/", json=built_in).json() == {
        "source": ["Invalid source selected, only web-based sources are supported."]}
    flow = call("GET", "/flows/instances/default-authentication-flow/").json()["pk"]
    saml = created(call, "/sources/saml/", {"name": "SAML", "slug": "saml", "sso_url": "https://idp.example/sso",
                                            "issuer": "saml", "pre_authentication_flow": flow})["pk"]
    assert created(call, "/stages/source/", {"name": "src", "source": saml})["source"] == saml
    for path in ("/stages/deny/", "/sources/all/"):
        with pytest.raises(ValueError):
            sandbox.add_seed_object(path, {})


# -- the API reference pages of the shared seeds ----------------------------------------------------
def test_duo_patch_page_example_fails_on_its_placeholder_uuid(versioned_call: Call) -> None:
    """The page's example body, with a flow_set item and placeholder values: the placeholder
    configure_flow does not exist (2023.10.7 78); nothing else is wrong with it."""
    duo = created(versioned_call, "/stages/authenticator/duo/", DUO)
    example = {"name": "string", "flow_set": [{"name": "string", "slug": "string", "title": "string",
                                               "designation": "authentication"}],
               "configure_flow": PLACEHOLDER_UUID, "friendly_name": "string", "client_id": "string",
               "client_secret": "string", "api_hostname": "string", "admin_integration_key": "string",
               "admin_secret_key": "string"}
    response = versioned_call("PATCH", f"/stages/authenticator/duo/{duo['pk']}/", json=example)
    assert response.json() == {"configure_flow": [f'Invalid pk "{PLACEHOLDER_UUID}" - object does not exist.']}


def test_duo_patch_with_flow_set(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """2023.10.7 answers a valid flow_set with its server error and changes nothing (46); 2026.2.2
    ignores it (FINDINGS 2026 [43-50])."""
    duo = created(versioned_call, "/stages/authenticator/duo/", DUO)
    response = versioned_call("PATCH", f"/stages/authenticator/duo/{duo['pk']}/",
                              json={"friendly_name": "Duo", "flow_set": []})
    if versioned_sandbox.api_version == "2023.10.7":
        assert server_error(response) == SERVER_ERROR
        assert versioned_sandbox.objects("authenticator_duo")[0]["friendly_name"] is None
    else:
        assert response.status_code == 200
        assert (response.json()["friendly_name"], response.json()["flow_set"]) == ("Duo", [])


def test_duo_patch_secrets_are_write_only(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    duo = created(versioned_call, "/stages/authenticator/duo/", DUO)
    response = versioned_call("PATCH", f"/stages/authenticator/duo/{duo['pk']}/",
                              json={"client_secret": "new-secret", "admin_secret_key": "admin-secret",
                                    "admin_integration_key": "DIADMIN"})
    assert list(response.json()) == ["pk", "name", "component", "verbose_name", "verbose_name_plural",
                                     "meta_model_name", "flow_set", "configure_flow", "friendly_name",
                                     "client_id", "api_hostname", "admin_integration_key"]
    [stored] = versioned_sandbox.objects("authenticator_duo")
    assert (stored["client_secret"], stored["admin_secret_key"]) == ("new-secret", "admin-secret")


def test_sms_put_page(versioned_call: Call) -> None:
    """PUT needs every required field (36) and keeps the optional ones it leaves out (35); the
    SMS secrets come back in clear (15)."""
    sms = created(versioned_call, "/stages/authenticator/sms/", SMS)
    detail = f"/stages/authenticator/sms/{sms['pk']}/"
    versioned_call("PATCH", detail, json={"auth_password": "pw", "auth_type": "bearer", "verify_only": True})
    response = versioned_call("PUT", detail, json={"name": "sms", "provider": "generic"})
    assert response.json() == {key: ["This field is required."] for key in ("from_number", "account_sid", "auth")}
    replaced = versioned_call("PUT", detail, json={**SMS, "auth": "token-2"}).json()
    assert (replaced["auth"], replaced["auth_password"], replaced["auth_type"], replaced["verify_only"]) == \
        ("token-2", "pw", "bearer", True)


def test_identification_patch_page(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """A one-field PATCH is refused unless it carries user_fields or sources (17, 18, 22)."""
    stage = next(s for s in versioned_sandbox.objects("identification"))
    detail = f"/stages/identification/{stage['pk']}/"
    response = versioned_call("PATCH", detail, json={"show_matched_user": False})
    assert response.json() == {
        "non_field_errors": ["When no user fields are selected, at least one source must be selected"]}
    answer = versioned_call("PATCH", detail, json={"show_matched_user": False, "user_fields": ["email"]}).json()
    assert (answer["show_matched_user"], answer["user_fields"]) == (False, ["email"])
    assert ("pretend_user_exists" in answer) == (versioned_sandbox.api_version == "2026.2.2")
    answer = versioned_call("PATCH", detail, json={"sources": [BUILT_IN[versioned_sandbox.api_version]]}).json()
    assert answer["user_fields"] == ["email"]


@settings(max_examples=60, deadline=None)
@given(body=st.dictionaries(
    st.sampled_from(["name", "user_fields", "password_stage", "sources", "show_matched_user", "flow_set",
                     "friendly_name", "provider", "auth", "bogus"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                 max_leaves=4)),
    path=st.sampled_from(["/stages/identification/", "/stages/authenticator/sms/"]),
    version=st.sampled_from(["2023.10.7", "2026.2.2"]))
def test_any_body_gets_an_answer_not_a_crash(body: dict[str, Any], path: str, version: str) -> None:
    call = calling(Sandbox(version))
    response = call("POST", path, json=body)
    assert response.status_code in (201, 400, 405)
    if response.status_code == 201:
        assert call("GET", f"{path}{response.json()['pk']}/").json() == response.json()


# -- faults ----------------------------------------------------------------------------------------
def test_latency() -> None:
    call = calling(Sandbox(faults=Faults(latency=0.05)))
    started = time.monotonic()
    call("GET", "/admin/version/")
    assert time.monotonic() - started >= 0.05


def test_random_errors_look_like_authentik_server_errors() -> None:
    call = calling(Sandbox(faults=Faults(error_rate=1.0)))
    response = call("GET", "/stages/all/")
    assert (response.status_code, response.headers["content-type"]) == (500, "text/html; charset=utf-8")
    response = call("POST", "/stages/deny/", json={"name": "x"})
    assert (response.status_code, *server_error(response)) == (405, *SERVER_ERROR)


def test_throttling_says_when_to_retry() -> None:
    call = calling(Sandbox(faults=Faults(throttle_rate=1.0, retry_after=7)))
    response = call("GET", "/stages/all/")
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert response.json() == {"detail": "Request was throttled. Expected available in 7 seconds."}


def test_dropped_connection_in_process() -> None:
    sandbox = Sandbox(faults=Faults(drop_rate=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        calling(sandbox)("GET", "/stages/all/")
    assert [r.status for r in sandbox.requests] == [0]


def test_random_faults_repeat_with_the_same_seed() -> None:
    def statuses() -> list[int]:
        call = calling(Sandbox(faults=Faults(error_rate=0.3, throttle_rate=0.3, seed=7)))
        return [call("GET", "/admin/version/").status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert {200, 429, 500} <= set(first)


def test_fail_next(sandbox: Sandbox, call: Call) -> None:
    sandbox.fail_next("POST", "/stages/deny/", status=405, times=2)
    assert call("GET", "/stages/deny/").status_code == 200  # another method
    assert call("POST", "/stages/dummy/", json={"name": "d"}).status_code == 201  # another path
    for _ in range(2):
        assert server_error(call("POST", "/stages/deny/", json={"name": "x"})) == SERVER_ERROR
    assert call("POST", "/stages/deny/", json={"name": "x"}).status_code == 201
    sandbox.fail_next("*", "/api/v3/stages/", status=429)
    assert call("GET", "/stages/all/").headers["retry-after"] == "1"
    sandbox.fail_next("GET", "/stages/all/", status=503)
    assert call("GET", "/stages/all/").status_code == 503
    sandbox.fail_next("GET", "/stages/all/", status=409)
    assert call("GET", "/stages/all/").json() == {"detail": "Injected failure (HTTP 409)."}
    with pytest.raises(ValueError):
        sandbox.fail_next("GET", "/", status=42)


def test_drop_next(sandbox: Sandbox, call: Call) -> None:
    sandbox.drop_next("PATCH", "/stages/")
    with pytest.raises(httpx.RemoteProtocolError):
        call("PATCH", "/stages/deny/x/", json={})
    assert call("PATCH", f"/stages/deny/{PLACEHOLDER_UUID}/", json={}).status_code == 404


# -- the request log -------------------------------------------------------------------------------
def test_request_log(sandbox: Sandbox, call: Call) -> None:
    call("POST", "/stages/deny/", json={"name": "logged"})
    call("GET", "/stages/deny/?name=logged&page=1")
    call("PATCH", f"/stages/deny/{PLACEHOLDER_UUID}/", content=b"{not json",
         headers={"Content-Type": "application/json"})
    post, get, patch = sandbox.requests
    assert (post.method, post.path, post.api_path, post.body, post.status) == (
        "POST", "/api/v3/stages/deny/", "/stages/deny/", {"name": "logged"}, 201)
    assert (get.query, get.body, get.status) == ({"name": "logged", "page": "1"}, None, 200)
    assert (patch.body, patch.status) == (None, 404)
    sandbox.clear_log()
    assert sandbox.requests == []


# -- seeding -------------------------------------------------------------------------------------------
def test_seed_from_a_file(tmp_path: Path) -> None:
    pk = "0b0f2525-46d3-4bff-9513-73f7f80d0a8c"
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"version": "2023.10.7", "lists": {"/stages/deny/": [{"pk": pk, "name": "seeded"}]}}))
    sandbox = Sandbox("2023.10.7", seed=seed)
    assert sandbox.objects("deny") == [{
        "pk": pk, "name": "seeded", "component": "ak-stage-deny-form", "verbose_name": "Deny Stage",
        "verbose_name_plural": "Deny Stages", "meta_model_name": "authentik_stages_deny.denystage",
        "flow_set": [], "deny_message": ""}]
    assert sandbox.objects("identification") == [] and sandbox.objects("flow") == []
    assert Sandbox("2023.10.7", seed={"lists": {}}).objects("stage") == []
    with pytest.raises(ValueError, match="the seed is for authentik 2023.10.7, not 2026.2.2"):
        Sandbox("2026.2.2", seed=seed)
    with pytest.raises(ValueError, match="a sandbox seed is an object"):
        Sandbox(seed={"stages": []})


def test_objects_of_targets(sandbox: Sandbox) -> None:
    assert [f["slug"] for f in sandbox.objects("flow")][:1] == ["default-authentication-flow"]
    assert len(sandbox.objects("stage")) == 18
    assert sandbox.seed_objects("/stages/all/") == sandbox.objects("stage")
    with pytest.raises(KeyError):
        sandbox.objects("nothing")


# -- over real HTTP ------------------------------------------------------------------------------------
def test_serve_in_thread(sandbox: Sandbox) -> None:
    threads = threading.active_count()
    with sandbox.serve_in_thread() as url:
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            assert client.get("/api/v3/admin/version/").status_code == 200
            created_stage = client.post("/api/v3/stages/deny/", json={"name": "over-http"})
            assert created_stage.status_code == 201
            sandbox.drop_next("GET", "/stages/all/")
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/api/v3/stages/all/")
            assert client.get("/api/v3/stages/all/?name=over-http").json()["pagination"]["count"] == 1
    assert threading.active_count() == threads
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/api/v3/admin/version/")
