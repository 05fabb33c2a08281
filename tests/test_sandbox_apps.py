"""The sandbox's applications, providers, mappings, certificates and outposts: the behaviours the
planner and the CLI rely on, as the apps recordings show them (cited as "apps NN"; both versions
where both have the behaviour)."""
from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import Call, calling, created

from reconciler.sandbox import Sandbox

VERSIONS = ("2023.10.7", "2026.2.2")


def flows(call: Call) -> dict[str, str]:
    return {flow["slug"]: flow["pk"] for flow in call("GET", "/flows/instances/?page_size=100").json()["results"]}


def provider_body(call: Call, version: str, name: str, **fields: Any) -> dict[str, Any]:
    slugs = flows(call)
    body = {"name": name, "authorization_flow": slugs["default-provider-authorization-implicit-consent"], **fields}
    if version == "2026.2.2":
        body["invalidation_flow"] = slugs["default-provider-invalidation-flow"]
    return body


def oauth2(call: Call, version: str, name: str) -> dict[str, Any]:
    redirect: Any = [{"matching_mode": "strict", "url": "https://app.example.test/cb"}] \
        if version == "2026.2.2" else "https://app.example.test/cb"
    return created(call, "/providers/oauth2/", provider_body(call, version, name, redirect_uris=redirect))


def scim(call: Call, name: str) -> dict[str, Any]:
    return created(call, "/providers/scim/", {"name": name, "url": "https://scim.example.test/v2", "token": "t"})


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(version: str) -> Call:
    return calling(Sandbox(version))


def test_the_fresh_install_holds_the_default_mappings_certificate_and_outpost(api: Call) -> None:
    """apps/fresh-install.json: default scope mappings, the self-signed key pair, the embedded outpost."""
    mappings = api("GET", "/propertymappings/all/?page_size=100").json()["results"]
    assert "goauthentik.io/providers/oauth2/scope-openid" in {m["managed"] for m in mappings}
    assert [c["name"] for c in api("GET", "/crypto/certificatekeypairs/").json()["results"]] == \
        ["authentik Self-signed Certificate"]
    outposts = api("GET", "/outposts/instances/").json()["results"]
    assert [(o["name"], o["managed"]) for o in outposts] == \
        [("authentik Embedded Outpost", "goauthentik.io/outposts/embedded")]


def test_provider_pks_are_integers_of_one_sequence_across_kinds(api: Call, version: str) -> None:
    """apps 190, 245, 302: 12, 16, 18 ... one sequence; unknown pks answer 404 (240)."""
    first = oauth2(api, version, "as-oauth")
    second = scim(api, "as-scim")
    assert isinstance(first["pk"], int) and second["pk"] == first["pk"] + 1
    assert api("GET", f"/providers/scim/{first['pk']}/").status_code == 404
    assert api("GET", f"/providers/all/{second['pk']}/").json()["name"] == "as-scim"


def test_oauth2_secrets_are_drawn_and_echoed_in_clear(api: Call, version: str) -> None:
    """apps 190, 195: a 40-character client id and a 128-character secret, returned on every read."""
    provider = oauth2(api, version, "as-oauth")
    assert len(provider["client_id"]) == 40 and len(provider["client_secret"]) == 128
    patched = api("PATCH", f"/providers/oauth2/{provider['pk']}/", json={"client_secret": "rotated"}).json()
    assert patched["client_secret"] == "rotated"
    assert api("GET", f"/providers/oauth2/{provider['pk']}/").json()["client_secret"] == "rotated"


def test_the_application_list_ignores_filters_unless_asked_for_the_full_list(api: Call) -> None:
    """apps 433-436: the first list after a write fills a cache that later filters do not change;
    `superuser_full_list=true` and `search` bypass it."""
    for slug in ("as-app-a", "as-app-b"):
        created(api, "/core/applications/", {"name": slug, "slug": slug})
    first = api("GET", "/core/applications/?slug=as-app-a").json()
    assert [app["slug"] for app in first["results"]] == ["as-app-a"]
    cached = api("GET", "/core/applications/?slug=as-app-b").json()
    assert cached["pagination"]["count"] == 1
    assert [app["slug"] for app in cached["results"]] == ["as-app-a"]
    full = api("GET", "/core/applications/?slug=as-app-b&superuser_full_list=true").json()
    assert [app["slug"] for app in full["results"]] == ["as-app-b"]


def test_deleting_an_application_deletes_its_backchannel_providers_only(api: Call, version: str) -> None:
    """apps 529, 549: the backchannel SCIM provider goes with its application; the main provider
    stays (521, 522)."""
    main = oauth2(api, version, "as-oauth")
    backchannel = scim(api, "as-scim")
    created(api, "/core/applications/", {"name": "as-app", "slug": "as-app", "provider": main["pk"],
                                         "backchannel_providers": [backchannel["pk"]]})
    shown = api("GET", f"/providers/scim/{backchannel['pk']}/").json()
    assert shown["assigned_backchannel_application_slug"] == "as-app"
    assert api("DELETE", "/core/applications/as-app/").status_code == 204
    assert api("GET", f"/providers/scim/{backchannel['pk']}/").status_code == 404
    assert api("GET", f"/providers/oauth2/{main['pk']}/").json()["assigned_application_slug"] is None


def test_a_provider_serves_one_application(api: Call, version: str) -> None:
    """apps 389: `provider` is a one-to-one."""
    main = oauth2(api, version, "as-oauth")
    app = created(api, "/core/applications/", {"name": "as-a", "slug": "as-a", "provider": main["pk"]})
    # the lab (both versions): an OAuth2 application launches at its first redirect URI's origin
    assert app["launch_url"] == "https://app.example.test"
    second = api("POST", "/core/applications/", json={"name": "as-b", "slug": "as-b", "provider": main["pk"]})
    assert second.status_code == 400
    assert second.json() == {"provider": ["Application with this provider already exists."]}


def test_proxy_providers_are_filled_by_the_server_and_checked_on_the_body_only(api: Call, version: str) -> None:
    """apps 277: default scope mappings and redirect URIs from external_host; 280: a one-field
    PATCH is refused for want of internal_host in the body; 283: accepted with it."""
    proxy = created(api, "/providers/proxy/", provider_body(
        api, version, "as-proxy", external_host="https://app.example.test", internal_host="http://127.0.0.1:9999"))
    assert len(proxy["property_mappings"]) == (5 if version == "2026.2.2" else 4)
    assert "https://app.example.test" in str(proxy["redirect_uris"])
    path = f"/providers/proxy/{proxy['pk']}/"
    refused = api("PATCH", path, json={"skip_path_regex": "^/health$"})
    assert refused.status_code == 400
    assert refused.json() == {"internal_host": ["Internal host cannot be empty when forward auth is disabled."]}
    accepted = api("PATCH", path, json={"skip_path_regex": "^/health$", "internal_host": "http://127.0.0.1:9999"})
    assert accepted.status_code == 200 and accepted.json()["skip_path_regex"] == "^/health$"


def test_key_pair_pems_are_write_only_and_viewable(api: Call, sandbox_pem: tuple[str, str]) -> None:
    """apps 33, 35: the PEMs never come back; 38, 39: the view actions give them; 53: a new
    certificate recomputes the subject and fingerprints."""
    certificate, key = sandbox_pem
    pair = created(api, "/crypto/certificatekeypairs/", {"name": "as-cert", "certificate_data": certificate,
                                                         "key_data": key})
    assert "certificate_data" not in pair and "key_data" not in pair
    assert pair["cert_subject"].endswith("CN=as-generated") and pair["private_key_available"] is True
    # stored as sent, surrounding whitespace trimmed as for every text field
    view = f"/crypto/certificatekeypairs/{pair['pk']}/view_"
    assert api("GET", view + "certificate/").json() == {"data": certificate.strip()}
    assert api("GET", view + "private_key/").json() == {"data": key.strip()}
    refused = api("POST", "/crypto/certificatekeypairs/", json={"name": "as-bad", "certificate_data": "garbage"})
    assert refused.json() == {"certificate_data": ["Unable to load certificate."]}


@pytest.fixture
def sandbox_pem(api: Call) -> tuple[str, str]:
    """A PEM pair from the sandbox's own generate action (apps 26: 200, not 201)."""
    response = api("POST", "/crypto/certificatekeypairs/generate/", json={"common_name": "as-generated",
                                                                        "validity_days": 30})
    assert response.status_code == 200, response.text
    pk = response.json()["pk"]
    certificate = api("GET", f"/crypto/certificatekeypairs/{pk}/view_certificate/").json()["data"]
    key = api("GET", f"/crypto/certificatekeypairs/{pk}/view_private_key/").json()["data"]
    assert response.json()["cert_subject"] == "OU=Self-signed,O=authentik,CN=as-generated"
    assert "PRIVATE KEY" in key and "PRIVATE KEY" not in response.text
    return certificate, key


def test_enterprise_providers_are_refused_naming_the_licence() -> None:
    """apps 357, 361, 365: field validation first, then the licence; `enterprise=True` lifts it."""
    body = {"name": "as-ssf", "signing_key": None}
    call = calling(Sandbox("2026.2.2"))
    pair = call("GET", "/crypto/certificatekeypairs/").json()["results"][0]["pk"]
    refused = call("POST", "/providers/ssf/", json={**body, "signing_key": pair})
    assert refused.status_code == 400
    assert refused.json() == {"non_field_errors": ["Enterprise is required to create/update this object."]}
    licensed = calling(Sandbox("2026.2.2", enterprise=True))
    assert licensed("POST", "/providers/ssf/", json={**body, "signing_key": pair}).status_code == 201


def test_the_types_listings_are_the_recorded_ones(api: Call, version: str) -> None:
    """apps 05, 07: /providers/all/types/ and /propertymappings/all/types/ as recorded (2026: 12
    provider types with the SAML import pseudo type)."""
    providers = api("GET", "/providers/all/types/").json()
    names = {entry["model_name"] for entry in providers}
    assert "oauth2provider" in names
    if version == "2026.2.2":
        assert len(providers) == 12 and "samlproviderimportmodel" in names
    assert api("GET", "/propertymappings/all/types/").status_code == 200


def test_outposts_answer_with_base_class_providers_over_real_http(version: str) -> None:
    """apps 459, 461: `providers_obj` shows the base class; the provider's `outpost_set` names the
    outpost. Over real HTTP, as the CLI reaches the sandbox."""
    sandbox = Sandbox(version)
    call = calling(sandbox)
    proxy = created(call, "/providers/proxy/", provider_body(
        call, version, "as-proxy", external_host="https://app.example.test", internal_host="http://127.0.0.1:1"))
    with sandbox.serve_in_thread() as url:
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        outpost = httpx.post(f"{url}/api/v3/outposts/instances/", headers=headers, json={
            "name": "as-outpost", "type": "proxy", "providers": [proxy["pk"]], "config": {}}).json()
        served = httpx.get(f"{url}/api/v3/providers/proxy/{proxy['pk']}/", headers=headers).json()
    assert outpost["providers_obj"][0]["meta_model_name"] == "authentik_core.provider"
    assert outpost["token_identifier"] == f"ak-outpost-{outpost['pk']}-api"
    assert served["outpost_set"] == ["Outpost as-outpost"]
