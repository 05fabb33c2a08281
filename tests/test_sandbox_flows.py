"""Flows, flow-stage bindings, policies and policy bindings in the sandbox: exact statuses and bodies,
per version where the versions differ. Each test names the flows recordings
(authentik-recordings/<version>/flows/, FINDINGS.md there) its behaviour comes from; "source
reading" marks rules no recording shows, read from authentik's code through the search tool."""
from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from conftest import Call, calling, created, server_error

from reconciler.sandbox import Sandbox

SERVER_ERROR = ("text/html; charset=utf-8", b"", "GET, HEAD, OPTIONS")
DEFAULT_BACKGROUND = "/static/dist/assets/images/flow_background.jpg"
FLOW = {"name": "rec flow", "slug": "rec-flow", "title": "Rec flow", "designation": "authentication"}
GENERIC_STAGE = {"component": "", "verbose_name": "stage", "verbose_name_plural": "stages",
                 "meta_model_name": "authentik_flows.stage"}
NEW = "2026.2.2"


def not_found(version: str, model: str) -> dict[str, str]:
    """The 404 body: 2023 says "Not found.", 2026 names the model (flows 64, 117, 137, 223, 275)."""
    return {"detail": "Not found." if version != NEW else f"No {model} matches the given query."}


def bound_flow(call: Call, slug: str = "rec-flow") -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A flow with one dummy stage bound at order 10: (flow, stage, binding)."""
    flow = created(call, "/flows/instances/", {**FLOW, "slug": slug})
    stage = created(call, "/stages/dummy/", {"name": f"{slug}-stage"})
    binding = created(call, "/flows/bindings/", {"target": flow["pk"], "stage": stage["pk"], "order": 10})
    return flow, stage, binding


def expression(call: Call, name: str) -> dict[str, Any]:
    return created(call, "/policies/expression/", {"name": name, "expression": "return True"})


# -- flows -----------------------------------------------------------------------------------------
def test_flows_are_found_by_slug_and_a_rename_moves_them(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 02, 49, 51, 53, 64, 66: the slug is the URL; a PATCH of it moves the flow."""
    call, version = versioned_call, versioned_sandbox.api_version
    flow = created(call, "/flows/instances/", FLOW)
    assert flow["export_url"] == "/api/v3/flows/instances/rec-flow/export/"
    assert call("GET", f"/flows/instances/{flow['pk']}/").json() == not_found(version, "Flow")
    renamed = call("PATCH", "/flows/instances/rec-flow/", json={"slug": "rec-flow-2"}).json()
    assert (renamed["pk"], renamed["export_url"]) == (flow["pk"], "/api/v3/flows/instances/rec-flow-2/export/")
    assert call("GET", "/flows/instances/rec-flow/").status_code == 404
    assert call("GET", "/flows/instances/rec-flow-2/").json() == renamed
    assert call("DELETE", "/flows/instances/rec-flow-2/").status_code == 204
    assert call("GET", "/flows/instances/rec-flow-2/").json() == not_found(version, "Flow")


def test_flow_uniqueness_and_slugs(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 10, 11, 14, 15, 52: slugs unique and case-sensitive, names not unique; 2023 slugs have
    at most 50 characters and a straight-quoted message, 2026 neither."""
    call, old = versioned_call, versioned_sandbox.api_version != NEW
    created(call, "/flows/instances/", FLOW)
    created(call, "/flows/instances/", {**FLOW, "slug": "REC-FLOW"})  # same name, slug in capitals
    assert call("POST", "/flows/instances/", json=FLOW).json() == {"slug": ["Flow with this slug already exists."]}
    quote = '"slug"' if old else "\u201cslug\u201d"
    assert call("POST", "/flows/instances/", json={**FLOW, "slug": "no spaces"}).json() == {
        "slug": [f"Enter a valid {quote} consisting of letters, numbers, underscores or hyphens."]}
    response = call("POST", "/flows/instances/", json={**FLOW, "slug": "x" * 60})
    if old:
        assert response.json() == {"slug": ["Ensure this field has no more than 50 characters."]}
    else:
        assert response.status_code == 201
    assert call("POST", "/flows/instances/", json={**FLOW, "slug": "a", "authentication": "require_outpost"}) \
        .status_code == (400 if old else 201)  # flows 31


def test_flow_put_keeps_omitted_fields_and_names_the_missing_ones(versioned_call: Call) -> None:
    """flows 54, 55."""
    call = versioned_call
    created(call, "/flows/instances/", {**FLOW, "layout": "sidebar_left", "compatibility_mode": True})
    put = call("PUT", "/flows/instances/rec-flow/", json={**FLOW, "title": "Put"}).json()
    assert (put["title"], put["layout"], put["compatibility_mode"]) == ("Put", "sidebar_left", True)
    assert call("PUT", "/flows/instances/rec-flow/", json={"name": "x"}).json() == {
        key: ["This field is required."] for key in ("slug", "title", "designation")}


def test_flow_filters_and_search() -> None:
    """flows 56, 57, 59-62: ?slug= exact, ?search= over name, slug and title (and, by source
    reading of FlowViewSet, designation and denied_action), ?designation=, ?flow_uuid=."""
    call = calling(Sandbox(NEW))
    flow = created(call, "/flows/instances/", {**FLOW, "title": "Alpha beta", "designation": "recovery"})

    def slugs(query: str) -> list[str]:
        return [f["slug"] for f in call("GET", f"/flows/instances/?{query}").json()["results"]]

    assert slugs("slug=rec-flow") == ["rec-flow"] and slugs("slug=rec") == []
    assert slugs("search=beta%20ALPHA") == ["rec-flow"]  # every term, in any order, any field, any case
    assert slugs("search=alpha%20gamma") == []
    recovery = call("GET", "/flows/instances/?designation=recovery").json()["results"]
    assert "rec-flow" in [f["slug"] for f in recovery] and {f["designation"] for f in recovery} == {"recovery"}
    assert slugs(f"flow_uuid={flow['pk']}") == ["rec-flow"]
    assert slugs("page_size=3") == ["default-authentication-flow", "default-authenticator-static-setup",
                                    "default-authenticator-totp-setup"]  # by slug (flows 01)


def test_2026_background_is_a_file_name_or_url() -> None:
    """flows 37-44 (2026); the other file-name rules by source reading
    (authentik/admin/files/validation.py, backends/passthrough.py, backends/file.py)."""
    call = calling(Sandbox(NEW))
    created(call, "/flows/instances/", FLOW)

    def patched(background: Any) -> Any:
        return call("PATCH", "/flows/instances/rec-flow/", json={"background": background}).json()

    url = patched("https://example.com/bg.png")
    assert (url["background_url"], url["background_themed_urls"]) == ("https://example.com/bg.png", None)
    themed = patched("https://example.com/bg-%(theme)s.png")
    assert themed["background_url"] == "https://example.com/bg-%(theme)s.png"
    assert themed["background_themed_urls"] == {"light": "https://example.com/bg-light.png",
                                                "dark": "https://example.com/bg-dark.png"}
    media = patched("rec/bg.png")["background_url"]
    assert media.startswith("/files/media/public/rec/bg.png?token=")
    payload = media.split("token=")[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert list(claims) == ["path", "exp", "nbf"] and claims["path"] == "media/public/rec/bg.png"
    assert claims["exp"] - claims["nbf"] == 915  # 15 minutes, not before 15 seconds ago
    assert patched("rec bg!.png") == {"background": [
        "File name can only contain letters (a-z, A-Z), numbers (0-9), dots (.), hyphens (-), underscores (_), "
        "forward slashes (/), and the placeholder %(theme)s for theme-specific files"]}
    assert patched(None) == {"background": ["This field may not be null."]}
    assert patched("a//b.png") == {"background": ["File name cannot contain duplicate /"]}  # source reading
    assert patched("../b.png") == {"background": ["Parent directory references ('..') are not allowed"]}
    assert patched("/media/b.png") == {"background": ["Absolute paths are not allowed"]}
    assert patched("")["background_url"] == DEFAULT_BACKGROUND
    response = call("POST", "/flows/instances/rec-flow/set_background_url/", json={"url": "x"})
    assert (response.status_code, *server_error(response)) == (405, *SERVER_ERROR)  # flows 46: no such route


def test_2023_background_is_read_only_and_set_by_url() -> None:
    """2023 flows 37-49: PATCH background is ignored; set_background_url sets and clears it; without
    `url` it answers Django's empty 400 (source reading: authentik/lib/utils/file.py set_file_url)."""
    call = calling(Sandbox("2023.10.7"))
    created(call, "/flows/instances/", FLOW)
    assert call("PATCH", "/flows/instances/rec-flow/", json={"background": "https://x/bg.png"}) \
        .json()["background"] == DEFAULT_BACKGROUND
    response = call("POST", "/flows/instances/rec-flow/set_background_url/", json={"url": "https://x/bg.png"})
    assert (response.status_code, response.json(), response.headers["allow"]) == (200, {}, "POST, OPTIONS")
    assert call("GET", "/flows/instances/rec-flow/").json()["background"] == "https://x/bg.png"
    call("POST", "/flows/instances/rec-flow/set_background_url/", json={"url": ""})
    assert call("GET", "/flows/instances/rec-flow/").json()["background"] == DEFAULT_BACKGROUND
    response = call("POST", "/flows/instances/rec-flow/set_background_url/", json={})
    assert (response.status_code, response.content, response.headers["content-type"]) == \
        (400, b"", "text/html; charset=utf-8")
    assert call("POST", "/flows/instances/nope/set_background_url/", json={"url": "x"}).status_code == 404


# -- flow-stage bindings ---------------------------------------------------------------------------
def test_binding_answers_show_the_generic_stage_after_writing_stage(versioned_call: Call) -> None:
    """flows 76, 93, 96, 98, 99: stage_obj is the base Stage in the answer to a write that sends
    `stage`, the real kind otherwise; two UUIDs; defaults."""
    call = versioned_call
    flow, stage, binding = bound_flow(call)
    assert binding["policybindingmodel_ptr_id"] != binding["pk"]
    assert {k: binding["stage_obj"][k] for k in GENERIC_STAGE} == GENERIC_STAGE
    assert (binding["evaluate_on_plan"], binding["re_evaluate_policies"], binding["policy_engine_mode"],
            binding["invalid_response_action"]) == (False, True, "any", "retry")
    got = call("GET", f"/flows/bindings/{binding['pk']}/").json()
    assert got["stage_obj"]["component"] == "ak-stage-dummy-form"
    patched = call("PATCH", f"/flows/bindings/{binding['pk']}/", json={"order": 15, "stage_obj": {}}).json()
    assert (patched["order"], patched["stage_obj"]) == (15, got["stage_obj"])
    other = created(call, "/stages/dummy/", {"name": "other"})
    moved = call("PATCH", f"/flows/bindings/{binding['pk']}/", json={"stage": other["pk"]}).json()
    assert (moved["pk"], moved["stage_obj"]["pk"], moved["stage_obj"]["component"]) == (binding["pk"], other["pk"], "")


def test_binding_triples_are_unique_also_on_patch(versioned_call: Call) -> None:
    """flows 77, 78, 88, 97."""
    call = versioned_call
    flow, stage, first = bound_flow(call)
    unique = {"non_field_errors": ["The fields target, stage, order must make a unique set."]}
    body = {"target": flow["pk"], "stage": stage["pk"], "order": 10}
    assert call("POST", "/flows/bindings/", json=body).json() == unique
    second = created(call, "/flows/bindings/", {**body, "order": 20})
    assert call("PATCH", f"/flows/bindings/{second['pk']}/", json={"order": 10}).json() == unique
    assert call("GET", "/flows/instances/rec-flow/").json()["stages"] == [stage["pk"], stage["pk"]]  # flows 94
    flow_set = call("GET", f"/stages/dummy/{stage['pk']}/").json()["flow_set"]
    assert [f["slug"] for f in flow_set] == ["rec-flow", "rec-flow"]  # once per binding (78)


def test_binding_evaluation_flags_come_from_the_request(versioned_call: Call) -> None:
    """flows 85, 100-106: a missing evaluate_on_plan reads as false, a missing
    re_evaluate_policies as true (source reading: FlowStageBindingSerializer.validate), so 103
    stores both flags false."""
    call = versioned_call
    _, _, binding = bound_flow(call)
    detail = f"/flows/bindings/{binding['pk']}/"
    refused = {"non_field_errors": ["Either evaluation on plan or evaluation on run must be enabled"]}
    call("PATCH", detail, json={"evaluate_on_plan": True})
    assert call("PATCH", detail, json={"re_evaluate_policies": False}).json() == refused  # 101
    call("PATCH", detail, json={"evaluate_on_plan": True, "re_evaluate_policies": False})
    both_off = call("PATCH", detail, json={"evaluate_on_plan": False}).json()  # 103
    assert (both_off["evaluate_on_plan"], both_off["re_evaluate_policies"]) == (False, False)
    assert call("PATCH", detail, json={"evaluate_on_plan": False, "re_evaluate_policies": False}).json() == refused


def test_binding_lists(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 75, 88, 89, 91, 92: ?target= takes the flow pk, ?search= the stage name; 2026 orders
    by order then pk, 2023 by order alone; an unknown flow is a 400 (source reading: django-filter
    on filterset_fields '__all__')."""
    call = versioned_call
    flow, stage, first = bound_flow(call)
    other = created(call, "/stages/dummy/", {"name": "zz-other"})
    second = created(call, "/flows/bindings/", {"target": flow["pk"], "stage": other["pk"], "order": 10})

    def pks(query: str) -> list[str]:
        return [b["pk"] for b in call("GET", f"/flows/bindings/?{query}").json()["results"]]

    assert pks(f"target={flow['pk']}&ordering=order") == [first["pk"], second["pk"]]  # ties: insertion
    expected = sorted([first["pk"], second["pk"]]) if versioned_sandbox.api_version == NEW \
        else [first["pk"], second["pk"]]
    assert pks(f"target={flow['pk']}") == expected
    assert pks("search=zz-oth") == [second["pk"]]
    assert pks(f"stage={stage['pk']}") == [first["pk"]]
    response = call("GET", f"/flows/bindings/?target={other['pk']}")
    assert (response.status_code, response.json()) == (
        400, {"target": ["Select a valid choice. That choice is not one of the available choices."]})


def test_deleting_a_stage_or_flow_deletes_its_bindings(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 119-124: a stage's bindings go with it; a flow's bindings go with it and the stage
    stays with an empty flow_set."""
    call, version = versioned_call, versioned_sandbox.api_version
    flow, stage, binding = bound_flow(call)
    other = created(call, "/stages/dummy/", {"name": "other"})
    kept = created(call, "/flows/bindings/", {"target": flow["pk"], "stage": other["pk"], "order": 20})
    assert call("DELETE", f"/stages/dummy/{stage['pk']}/").status_code == 204
    assert call("GET", f"/flows/bindings/{binding['pk']}/").json() == not_found(version, "FlowStageBinding")
    assert call("DELETE", "/flows/instances/rec-flow/").status_code == 204
    assert call("GET", f"/flows/bindings/{kept['pk']}/").status_code == 404
    assert call("GET", f"/stages/dummy/{other['pk']}/").json()["flow_set"] == []


# -- policies --------------------------------------------------------------------------------------
def test_policy_names_are_unique_across_kinds(versioned_call: Call) -> None:
    """flows 203, 204, 214."""
    call = versioned_call
    policy = expression(call, "shared")
    taken = {"name": ["Policy with this name already exists."]}
    assert call("POST", "/policies/expression/", json={"name": "shared", "expression": "return 1"}).json() == taken
    assert call("POST", "/policies/dummy/", json={"name": "shared"}).json() == taken
    created(call, "/policies/dummy/", {"name": "SHARED"})  # case-sensitive
    renamed = call("PATCH", f"/policies/expression/{policy['pk']}/", json={"name": "renamed"}).json()
    assert (renamed["pk"], renamed["name"]) == (policy["pk"], "renamed")


def test_policy_kind_rules(versioned_call: Call) -> None:
    """flows 138-143 (event matcher without action: server error), 184-190 (reputation needs a
    true check flag in the request), 175, 147, 166 (required fields and defaults)."""
    call = versioned_call
    assert server_error(call("POST", "/policies/event_matcher/", json={"name": "em"})) == SERVER_ERROR
    matcher = created(call, "/policies/event_matcher/", {"name": "em", "action": "login"})
    detail = f"/policies/event_matcher/{matcher['pk']}/"
    assert server_error(call("PATCH", detail, json={"client_ip": "192.0.2.1"})) == SERVER_ERROR
    assert call("PATCH", detail, json={"action": "login", "client_ip": "192.0.2.1"}).json()["client_ip"] == "192.0.2.1"
    either = {"non_field_errors": ["Either IP or Username must be checked"]}
    assert call("POST", "/policies/reputation/", json={"name": "rep"}).json() == either
    rep = created(call, "/policies/reputation/", {"name": "rep", "check_ip": True})
    assert (rep["check_username"], rep["threshold"]) == (True, -5)
    assert call("PATCH", f"/policies/reputation/{rep['pk']}/", json={"threshold": -10}).json() == either
    assert call("POST", "/policies/password_expiry/", json={"name": "pe"}).json() == {
        "days": ["This field is required."]}
    assert created(call, "/policies/password/", {"name": "pw"})["password_field"] == "password"


def test_expression_syntax_is_checked_on_write(versioned_call: Call) -> None:
    """flows 208, 210, 212; on update the error names the policy itself (source reading:
    ExpressionPolicySerializer.validate_expression uses the instance's name)."""
    call = versioned_call
    assert call("POST", "/policies/expression/", json={"name": "bad", "expression": "return ("}).json() == {
        "expression": ["Expression Syntax Error: '(' was never closed (temp-policy, line 2)"]}
    assert call("POST", "/policies/expression/", json={"name": "e", "expression": ""}).json() == {
        "expression": ["This field may not be blank."]}
    policy = created(call, "/policies/expression/", {"name": "undefined", "expression": "return nope"})
    response = call("PATCH", f"/policies/expression/{policy['pk']}/", json={"expression": "x = 1\nreturn ("})
    assert response.json() == {"expression": ["Expression Syntax Error: '(' was never closed (undefined, line 3)"]}


def test_unique_password_needs_enterprise() -> None:
    """flows 193, 195, 127 (requires_enterprise)."""
    call = calling(Sandbox(NEW))
    assert call("POST", "/policies/unique_password/", json={"name": "up"}).json() == {
        "non_field_errors": ["Enterprise is required to create/update this object."]}
    policy = created(calling(Sandbox(NEW, enterprise=True)), "/policies/unique_password/", {"name": "up"})
    assert (policy["component"], policy["verbose_name_plural"]) == (
        "ak-policy-password-uniqueness-form", "Password Uniqueness Policies")  # from /policies/all/types/
    # 2023 has no such kind: a write to an address no route matches answers 405 (2023 directory 238)
    assert calling(Sandbox("2023.10.7"))("POST", "/policies/unique_password/", json={"name": "up"}).status_code == 405


def test_geoip_countries_obj() -> None:
    """flows 156, 158, 162 (2026 only)."""
    call = calling(Sandbox(NEW))
    assert call("POST", "/policies/geoip/", json={"name": "geo"}).json() == {"countries": ["This field is required."]}
    policy = created(call, "/policies/geoip/", {"name": "geo", "countries": ["DE", "FR"]})
    assert policy["countries_obj"] == [{"code": "DE", "name": "Germany"}, {"code": "FR", "name": "France"}]


def test_policies_all(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 127, 128, 215, 219-223: the kind's own fields, by name, search, unbound policies,
    delete through it, Allow headers, 404 body."""
    call, version = versioned_call, versioned_sandbox.api_version
    policy = expression(call, "rec-pol")
    listed = call("GET", "/policies/all/?search=rec-pol")
    assert (listed.json()["results"], listed.headers["allow"]) == ([policy], "GET, HEAD, OPTIONS")
    one = call("GET", f"/policies/all/{policy['pk']}/")
    assert (one.json(), one.headers["allow"]) == (policy, "GET, DELETE, HEAD, OPTIONS")
    names = [p["name"] for p in call("GET", "/policies/all/?page_size=100").json()["results"]]
    assert names == sorted(names) and len(names) == (16 if version == NEW else 13)
    unbound = [p["name"] for p in call("GET", "/policies/all/?bindings__isnull=true").json()["results"]]
    assert "rec-pol" in unbound and "default-oobe-prefill-user" not in unbound
    types = call("GET", "/policies/all/types/").json()
    assert len(types) == (7 if version == NEW else 5)
    assert call("DELETE", f"/policies/all/{policy['pk']}/").status_code == 204
    assert call("GET", f"/policies/all/{policy['pk']}/").json() == not_found(version, "Policy")
    assert versioned_sandbox.objects("policy") == call("GET", "/policies/all/?page_size=100").json()["results"]


# -- policy bindings -------------------------------------------------------------------------------
def test_policy_binding_targets_and_the_target_filter(versioned_call: Call) -> None:
    """flows 232-234, 264, 265, 267, 271, 273: a target given by either UUID answers with the pk;
    ?target= takes only the binding-model UUID; the flow lists its policies once per binding."""
    call = versioned_call
    flow, _, fsb = bound_flow(call)
    policy = expression(call, "pol")
    by_ptr = created(call, "/policies/bindings/", {"policy": policy["pk"], "target": flow["policybindingmodel_ptr_id"],
                                                    "order": 0})
    assert by_ptr["target"] == flow["pk"]
    on_fsb = created(call, "/policies/bindings/", {"policy": policy["pk"], "target": fsb["pk"], "order": 0})
    created(call, "/policies/bindings/", {"policy": policy["pk"], "target": flow["pk"], "order": 5})
    refused = call("GET", f"/policies/bindings/?target={flow['pk']}")
    assert (refused.status_code, refused.json()) == (
        400, {"target": ["Select a valid choice. That choice is not one of the available choices."]})
    listed = call("GET", f"/policies/bindings/?target={fsb['policybindingmodel_ptr_id']}").json()["results"]
    assert [b["pk"] for b in listed] == [on_fsb["pk"]]
    assert call("GET", "/flows/instances/rec-flow/").json()["policies"] == [policy["pk"], policy["pk"]]
    assert call("GET", f"/policies/expression/{policy['pk']}/").json()["bound_to"] == 3
    assert by_ptr["policy_obj"] == {**policy, "bound_to": 1}


def test_policy_binding_validation(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 237, 239, 240, 241, 245, 248, 251, 262, 269: messages and the one-field PATCH differ
    per version; group bindings are not checked for uniqueness."""
    call, old = versioned_call, versioned_sandbox.api_version != NEW
    flow, _, _ = bound_flow(call)
    policy = expression(call, "pol")
    group = call("GET", "/core/groups/?name=authentik%20Admins").json()["results"][0]
    one = "One of 'policy', 'group' or 'user' must be set." if old else "One of 'group', 'policy', 'user' must be set."
    only = "Only one of 'policy', 'group' or 'user' can be set." if old \
        else "Only one of 'group', 'policy', 'user' can be set."
    base = {"target": flow["pk"], "order": 0}
    assert call("POST", "/policies/bindings/", json=base).json() == {"non_field_errors": [one]}
    assert call("POST", "/policies/bindings/", json={**base, "policy": policy["pk"], "group": group["pk"]}).json() \
        == {"non_field_errors": [only]}
    binding = created(call, "/policies/bindings/", {**base, "policy": policy["pk"]})
    assert call("POST", "/policies/bindings/", json={**base, "policy": policy["pk"]}).json() == {
        "non_field_errors": ["The fields policy, target, order must make a unique set."]}
    created(call, "/policies/bindings/", {**base, "group": group["pk"]})
    created(call, "/policies/bindings/", {**base, "group": group["pk"]})  # groups: no such check (269)
    assert call("POST", "/policies/bindings/", json={}).json() == {
        "target": ["This field is required."], "order": ["This field is required."]}
    assert call("POST", "/policies/bindings/", json={**base, "policy": policy["pk"], "timeout": -1}).json() == {
        "timeout": ["Ensure this value is greater than or equal to 0."]}
    one_field = call("PATCH", f"/policies/bindings/{binding['pk']}/", json={"order": 61})
    if old:
        assert one_field.json() == {"non_field_errors": [one]}
    else:
        assert (one_field.status_code, *server_error(one_field)) == (405, *SERVER_ERROR)
    assert call("PUT", f"/policies/bindings/{binding['pk']}/", json={"target": flow["pk"], "order": 61}).json() == \
        {"non_field_errors": [one]}
    patched = call("PATCH", f"/policies/bindings/{binding['pk']}/",
                   json={"target": flow["pk"], "policy": policy["pk"], "order": 61}).json()
    assert patched["order"] == 61


def test_group_and_user_objects_per_version(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 225, 226, 235, 236: 2023 embeds the whole group and user, 2026 a part of them; the
    seed's akadmin resolves as a user reference; a user is an integer pk (a text pk is DRF's
    'Incorrect type', source reading: PrimaryKeyRelatedField)."""
    call, old = versioned_call, versioned_sandbox.api_version != NEW
    flow, _, _ = bound_flow(call)
    group = call("GET", "/core/groups/?name=authentik%20Admins").json()["results"][0]
    [user] = call("GET", "/core/users/?username=akadmin").json()["results"]
    by_group = created(call, "/policies/bindings/", {"group": group["pk"], "target": flow["pk"], "order": 10})
    by_user = created(call, "/policies/bindings/", {"user": user["pk"], "target": flow["pk"], "order": 20})
    if old:
        assert (by_group["group_obj"], by_user["user_obj"]) == (group, user)
    else:
        assert list(by_group["group_obj"]) == ["pk", "num_pk", "name", "is_superuser", "attributes"]
        assert list(by_user["user_obj"]) == ["pk", "username", "name", "is_active", "last_login", "email",
                                             "attributes", "uid"]
    assert by_user["user"] == user["pk"] and isinstance(user["pk"], int)
    assert call("POST", "/policies/bindings/", json={"user": "akadmin", "target": flow["pk"], "order": 30}).json() == {
        "user": ["Incorrect type. Expected pk value, received str."]}
    assert call("POST", "/policies/bindings/", json={"user": 999, "target": flow["pk"], "order": 30}).json() == {
        "user": ['Invalid pk "999" - object does not exist.']}
    filtered = call("GET", f"/policies/bindings/?policy__isnull=true&target={flow['policybindingmodel_ptr_id']}")
    assert [b["pk"] for b in filtered.json()["results"]] == [by_group["pk"], by_user["pk"]]


def test_policy_binding_cascades(versioned_call: Call) -> None:
    """flows 276-286: bindings go with their policy, their flow-stage binding and their flow; the
    policy stays, bound to nothing."""
    call = versioned_call
    flow, _, fsb = bound_flow(call)
    doomed, kept = expression(call, "doomed"), expression(call, "kept")
    with_policy = created(call, "/policies/bindings/", {"policy": doomed["pk"], "target": flow["pk"], "order": 0})
    on_fsb = created(call, "/policies/bindings/", {"policy": kept["pk"], "target": fsb["pk"], "order": 0})
    on_flow = created(call, "/policies/bindings/", {"policy": kept["pk"], "target": flow["pk"], "order": 1})
    assert call("DELETE", f"/policies/expression/{doomed['pk']}/").status_code == 204
    assert call("GET", f"/policies/bindings/{with_policy['pk']}/").status_code == 404
    assert call("DELETE", f"/flows/bindings/{fsb['pk']}/").status_code == 204
    assert call("GET", f"/policies/bindings/{on_fsb['pk']}/").status_code == 404
    assert call("DELETE", "/flows/instances/rec-flow/").status_code == 204
    assert call("GET", f"/policies/bindings/{on_flow['pk']}/").status_code == 404
    assert call("GET", f"/policies/expression/{kept['pk']}/").json()["bound_to"] == 0
    response = call("GET", f"/policies/bindings/?target={flow['policybindingmodel_ptr_id']}")
    assert response.status_code == 400  # flows 285


def test_policy_binding_default_order_per_version(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """flows 224, 293, 301: 13 (2026) / 11 (2023) default bindings; 2026 lists them by order then
    pk, 2023 by the target's binding-model UUID then order."""
    call = versioned_call
    results = call("GET", "/policies/bindings/?page_size=100").json()["results"]
    orders = [b["order"] for b in results]
    if versioned_sandbox.api_version == NEW:
        assert len(results) == 13 and orders == sorted(orders)
        assert [b["pk"] for b in results if b["order"] == 0] == sorted(b["pk"] for b in results if b["order"] == 0)
    else:
        assert len(results) == 11 and orders != sorted(orders)
        assert {b["policy_obj"]["name"]: b["failure_result"] for b in results}[
            "default-authentication-flow-password-stage"] is False
    # Targets the sandbox does not model (notification rules) stay valid targets.
    flows_and_bindings = {obj["pk"] for obj in versioned_sandbox.objects("binding_target")}
    rule = next(b["target"] for b in results if b["target"] not in flows_and_bindings)
    policy = expression(call, "on-a-rule")
    assert created(call, "/policies/bindings/", {"policy": policy["pk"], "target": rule, "order": 5})["target"] == rule


# -- lists, objects, authentication, stages --------------------------------------------------------
@pytest.mark.parametrize(("version", "size", "default", "capped"), [("2026.2.2", 130, 20, 100),
                                                                  ("2023.10.7", 130, 100, 130)])
def test_page_size_per_version(version: str, size: int, default: int, capped: int) -> None:
    """2026.2.2 112, 113 (default 20, at most 100); 2023.10.7 FINDINGS "Pagination" (default 100)
    and source reading (authentik/api/pagination.py sets no maximum)."""
    call = calling(Sandbox(version))
    for index in range(size):
        created(call, "/stages/dummy/", {"name": f"perf-{index:03d}"})
    assert len(call("GET", "/stages/dummy/").json()["results"]) == default
    page = call("GET", "/stages/dummy/?page_size=1000").json()
    assert (len(page["results"]), page["pagination"]["total_pages"]) == (capped, -(-size // capped))


def test_objects_of_the_new_kinds(versioned_sandbox: Sandbox) -> None:
    sandbox = versioned_sandbox
    assert len(sandbox.objects("flow")) == (14 if sandbox.api_version == NEW else 13)
    assert len(sandbox.objects("policy_binding")) == (13 if sandbox.api_version == NEW else 11)
    assert len(sandbox.objects("binding_target")) == len(sandbox.objects("flow")) + 20
    # the admin and the embedded outpost's internal service account (directory fresh-install.json)
    assert [(u["username"][:11], u["type"]) for u in sandbox.objects("user")] == [
        ("ak-outpost-", "internal_service_account"), ("akadmin", "internal")]
    policies = sandbox.objects("policy")
    assert policies and all("bound_to" in p and "pk" in p for p in policies)
    assert "expression" in next(p for p in policies if p["name"] == "default-oobe-prefill-user")
    with pytest.raises(ValueError):
        sandbox.add_seed_object("/policies/all/", {})


@pytest.mark.parametrize(("authorization", "status", "detail"), [
    ("Bearer", 403, "Authentication credentials were not provided."),
    ("bearer sandbox-token", 200, None),
    ("Bearer  sandbox-token", 403, "Token invalid/expired"),
    ("Token sandbox-token", 403, "Unsupported authentication type"),
])
def test_authorization_header(sandbox: Sandbox, authorization: str, status: int, detail: str | None) -> None:
    """Source reading: authentik/api/authentication.py validate_auth (stripped header, no space means
    no credentials, the scheme case-insensitive, the rest after the first space is the token)."""
    response = calling(sandbox)("GET", "/admin/version/", headers={"Authorization": authorization})
    assert response.status_code == status
    if detail:
        assert response.json() == {"detail": detail}


def test_authenticator_validate_configure_needs_a_stage(versioned_call: Call) -> None:
    """Source reading: authentik/stages/authenticator_validate/api.py validate_configuration_stages
    (an empty configuration_stages sent with not_configured_action configure)."""
    call = versioned_call
    body = {"name": "v", "not_configured_action": "configure", "configuration_stages": []}
    assert call("POST", "/stages/authenticator/validate/", json=body).json() == {"configuration_stages": [
        'When "Not configured action" is set to "Configure", you must set a configuration stage.']}
    assert call("POST", "/stages/authenticator/validate/", json={**body, "not_configured_action": "skip"}) \
        .status_code == 201


# -- over real HTTP --------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2023.10.7", "2026.2.2"])
def test_flows_and_bindings_over_http(version: str) -> None:
    sandbox = Sandbox(version)
    with sandbox.serve_in_thread() as url, \
            httpx.Client(base_url=url + "/api/v3", headers={"Authorization": f"Bearer {sandbox.token}"}) as client:
        flow = client.post("/flows/instances/", json=FLOW).json()
        assert client.patch("/flows/instances/rec-flow/", json={"slug": "moved"}).json()["pk"] == flow["pk"]
        policy = client.post("/policies/dummy/", json={"name": "d"}).json()
        binding = client.post("/policies/bindings/", json={"policy": policy["pk"], "target": flow["pk"],
                                                           "order": 0}).json()
        response = client.patch(f"/policies/bindings/{binding['pk']}/", json={"order": 1})
        assert response.status_code == (405 if version == NEW else 400)
        assert client.delete("/flows/instances/moved/").status_code == 204
        assert client.get(f"/policies/bindings/{binding['pk']}/").status_code == 404


def test_used_by_names_what_a_delete_takes_along(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """The cascades of flows 119-124 and 276-283 as `used_by` shows them; the action is worded per
    version (106, 2026 flows 295)."""
    call = versioned_call
    flow, stage, binding = bound_flow(call)
    policy = expression(call, "pol")
    on_flow = created(call, "/policies/bindings/", {"policy": policy["pk"], "target": flow["pk"], "order": 0})
    cascade = "cascade" if versioned_sandbox.api_version == NEW else "CASCADE"
    assert call("GET", "/flows/instances/rec-flow/used_by/").json() == [
        {"app": "authentik_flows", "model_name": "flowstagebinding", "pk": binding["pk"], "name": binding["pk"],
         "action": cascade},
        {"app": "authentik_policies", "model_name": "policybinding", "pk": on_flow["pk"], "name": on_flow["pk"],
         "action": cascade}]
    assert [u["pk"] for u in call("GET", f"/policies/all/{policy['pk']}/used_by/").json()] == [on_flow["pk"]]
