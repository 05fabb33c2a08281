"""The sandbox's groups, users and roles through its API (both versions), beyond the fidelity
replay of the directory recordings: the behaviours a client of the sandbox relies on."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Call, calling, created
from support import TOKEN, run, sandbox_process, write_manifest

from reconciler.sandbox import Sandbox
from reconciler.sandbox.profile import default_seed


def test_membership_is_one_relation_shown_from_both_sides(versioned_call: Call) -> None:
    """Written on the group, read on the user and back (directory 71, 120-124); a superuser group
    makes its members superusers (70, 137); a group PUT without `users` empties it (141)."""
    group = created(versioned_call, "/core/groups/", {"name": "ds-admins", "is_superuser": True})
    user = created(versioned_call, "/core/users/", {"username": "ds-alice", "name": "Alice Example"})
    assert user["is_superuser"] is False and user["groups"] == []
    patched = versioned_call("PATCH", f"/core/groups/{group['pk']}/", json={"users": [user["pk"]]}).json()
    assert patched["users"] == [user["pk"]] and patched["users_obj"][0]["username"] == "ds-alice"
    read = versioned_call("GET", f"/core/users/{user['pk']}/").json()
    assert read["groups"] == [group["pk"]] and read["is_superuser"] is True
    assert read["groups_obj"][0]["name"] == "ds-admins"
    assert versioned_call("PUT", f"/core/groups/{group['pk']}/", json={"name": "ds-admins"}).json()["users"] == []
    assert versioned_call("GET", f"/core/users/{user['pk']}/").json()["groups"] == []


def test_a_user_put_without_groups_leaves_them(versioned_call: Call) -> None:
    """`groups` defaults to an empty list on a PUT; email and path stay (81, 82)."""
    group = created(versioned_call, "/core/groups/", {"name": "ds-staff"})
    user = created(versioned_call, "/core/users/", {"username": "ds-bob", "name": "Bob", "email": "b@example.com",
                                                    "path": "ds/people", "groups": [group["pk"]]})
    put = versioned_call("PUT", f"/core/users/{user['pk']}/", json={"username": "ds-bob", "name": "Bob"}).json()
    assert (put["groups"], put["email"], put["path"]) == ([], "b@example.com", "ds/people")


def test_service_account_set_password_and_refusals(versioned_call: Call) -> None:
    """A service account is a 200 with a token and its group (98-101); set_password answers 204
    and never shows the password (92, 93); the internal service account refuses writes (106)."""
    answer = versioned_call("POST", "/core/users/service_account/", json={"name": "ds-ci", "create_group": True})
    assert answer.status_code == 200 and answer.json()["token"]
    account = versioned_call("GET", f"/core/users/{answer.json()['user_pk']}/").json()
    assert (account["type"], account["path"], account["groups"]) == (
        "service_account", "goauthentik.io/service-accounts", [answer.json()["group_pk"]])
    response = versioned_call("POST", f"/core/users/{account['pk']}/set_password/", json={"password": "s3cret-ds"})
    assert response.status_code == 204
    assert "s3cret-ds" not in versioned_call("GET", f"/core/users/{account['pk']}/").text
    outpost = next(u for u in versioned_call("GET", "/core/users/").json()["results"]
                   if u["type"] == "internal_service_account")
    refused = versioned_call("PATCH", f"/core/users/{outpost['pk']}/", json={"name": outpost["name"]})
    assert refused.json() == {"non_field_errors": ["Can't modify internal service account users"]}


def test_role_permissions_are_assigned_listed_and_unassigned(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """Assign answers 200 with row ids (2026) or 204 (2023) (162); `?role=` lists the global
    permissions (172); unassign is a PATCH (176); a bare codename is refused globally (165)."""
    role = created(versioned_call, "/rbac/roles/", {"name": "ds-auditors"})
    grants = f"/rbac/permissions/assigned_by_roles/{role['pk']}/"
    assigned = versioned_call("POST", grants + "assign/",
                              json={"permissions": ["authentik_core.view_user", "authentik_core.view_group"]})
    assert assigned.status_code == (204 if versioned_sandbox.api_version == "2023.10.7" else 200)
    listed = versioned_call("GET", f"/rbac/permissions/?role={role['pk']}").json()["results"]
    assert sorted(p["codename"] for p in listed) == ["view_group", "view_user"]
    assert versioned_call("PATCH", grants + "unassign/", json={"permissions": ["authentik_core.view_group"]}
                          ).status_code == 204
    listed = versioned_call("GET", f"/rbac/permissions/?role={role['pk']}").json()["results"]
    assert [p["codename"] for p in listed] == ["view_user"]
    assert versioned_call("POST", grants + "assign/", json={"permissions": ["view_user"]}).json() == {
        "permissions": ["When assigning global permissions, codename must be given as app_label.codename"]}


def test_a_seed_starts_the_permission_tables_and_holds_grants() -> None:
    """A seed's `rbac` starts each permission table's row ids where its install's were (2026 162:
    303, 304 on the lab's tables; 164: 97) and holds grants that `assigned_by_roles` lists (173)."""
    seed = copy.deepcopy(default_seed("2026.2.2"))
    role = seed["lists"]["/rbac/roles/"][0]["pk"]
    seed["rbac"] = {"rows": {"model": 302, "object": 96},
                    "grants": [{"role": role, "id": 12, "permission": 4}]}  # view_group (2026 172)
    call = calling(Sandbox("2026.2.2", seed=seed))
    made = created(call, "/rbac/roles/", {"name": "ds-seeded"})
    grants = f"/rbac/permissions/assigned_by_roles/{made['pk']}/assign/"
    assert call("POST", grants, json={"permissions": ["authentik_core.view_user", "authentik_core.add_group"]}
                ).json() == [{"id": "303"}, {"id": "304"}]
    group = created(call, "/core/groups/", {"name": "ds-target"})
    assert call("POST", grants, json={"permissions": ["authentik_core.delete_group"], "model": "authentik_core.group",
                                      "object_pk": group["pk"]}).json() == [{"id": "97"}]
    listed = call("GET", "/rbac/permissions/assigned_by_roles/?model=authentik_core.group").json()["results"]
    assert [(entry["role_pk"], [p["id"] for p in entry["model_permissions"]],
             [p["id"] for p in entry["object_permissions"]]) for entry in listed] == [
        (role, [12], []), (made["pk"], [303, 304], [97])]
    assert call("GET", "/rbac/permissions/assigned_by_roles/").json() == {"model": ["This field is required."]}


def test_a_deleted_role_leaves_its_permissions_to_its_name_in_2023_only(versioned_sandbox: Sandbox,
                                                                         versioned_call: Call) -> None:
    """2023 keeps a Django group per role name with its permissions: a new role of a deleted
    role's name has them (2023 196); 2026 starts it empty (2026 196)."""
    role = created(versioned_call, "/rbac/roles/", {"name": "ds-ghost"})
    versioned_call("POST", f"/rbac/permissions/assigned_by_roles/{role['pk']}/assign/",
                   json={"permissions": ["authentik_core.view_group"]})
    assert versioned_call("DELETE", f"/rbac/roles/{role['pk']}/").status_code == 204
    again = created(versioned_call, "/rbac/roles/", {"name": "ds-ghost"})
    listed = versioned_call("GET", f"/rbac/permissions/?role={again['pk']}").json()["results"]
    assert [p["codename"] for p in listed] == (["view_group"] if versioned_sandbox.api_version == "2023.10.7" else [])


def test_2026_role_members_and_filters() -> None:
    """`roles/{pk}/add_user/` gives a user the role (2026 181), `?users=` and `?groups=` find the
    roles a user or group holds, `?inherited=true` its ancestors' too (182, 183), and a role's
    `used_by` lists its group, its permission rows and its users (187)."""
    call = calling(Sandbox("2026.2.2"))
    role = created(call, "/rbac/roles/", {"name": "ds-ops"})
    user = created(call, "/core/users/", {"username": "ds-carol", "name": "Carol"})
    parent = created(call, "/core/groups/", {"name": "ds-parent", "roles": [role["pk"]]})
    child = created(call, "/core/groups/", {"name": "ds-child", "parents": [parent["pk"]]})
    assert call("POST", f"/rbac/roles/{role['pk']}/add_user/", json={"pk": user["pk"]}).status_code == 204
    assert call("GET", f"/core/users/{user['pk']}/").json()["roles"] == [role["pk"]]
    names = lambda query: [r["name"] for r in call("GET", f"/rbac/roles/?{query}").json()["results"]]  # noqa: E731
    assert names(f"users={user['pk']}") == ["ds-ops"]
    assert (names(f"groups={child['pk']}"), names(f"groups={child['pk']}&inherited=true")) == ([], ["ds-ops"])
    call("POST", f"/rbac/permissions/assigned_by_roles/{role['pk']}/assign/",
         json={"permissions": ["authentik_core.view_user"]})
    used = call("GET", f"/rbac/roles/{role['pk']}/used_by/").json()
    assert [(e["model_name"], e["name"]) for e in used] == [
        ("group", "Group ds-parent"), ("rolemodelpermission", f"RoleModelPermission with role {role['pk']} and "
                                                               "permission 20"), ("user", "ds-carol")]
    assert call("POST", f"/rbac/roles/{role['pk']}/remove_user/", json={"pk": user["pk"]}).status_code == 204
    # checked on the 2026 lab: no such user or no pk -> the plain 404; a pk that is no integer -> 405
    refused = [call("POST", f"/rbac/roles/{role['pk']}/add_user/", json=body) for body in ({"pk": 999999}, {})]
    assert [(r.status_code, r.json()) for r in refused] == [(404, {"detail": "Not found."})] * 2
    assert call("POST", f"/rbac/roles/{role['pk']}/add_user/", json={"pk": "abc"}).status_code == 405
    assert names(f"users={user['pk']}") == []


def test_current_brand_is_the_one_serving_the_host(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """`/core/brands/current/` (2023 `/core/tenants/current/`) answers the default brand with its
    flows by slug (directory 09); a brand whose domain ends the request's host serves it instead."""
    kind = "tenants" if versioned_sandbox.api_version == "2023.10.7" else "brands"
    fresh = versioned_call("GET", f"/core/{kind}/current/").json()
    assert (fresh["matched_domain"], fresh["flow_authentication"]) == ("authentik-default",
                                                                        "default-authentication-flow")
    created(versioned_call, f"/core/{kind}/", {"domain": "ds-login.example.com", "branding_title": "ds title"})
    served = versioned_call("GET", f"/core/{kind}/current/", headers={"host": "sso.ds-login.example.com"}).json()
    assert (served["matched_domain"], served["branding_title"], served["flow_authentication"]) == (
        "ds-login.example.com", "ds title", None)
    assert versioned_call("GET", f"/core/{kind}/current/").json() == fresh


def test_oauth_source_computed_fields_and_body_only_url_rule(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """A Discord source shows its type's fixed URLs and an absolute callback URL by slug (directory
    248); an OpenID Connect source needs the three URLs in every write's body, stored ones do not
    count (271, 273, 276; 2023 fails a PATCH without provider_type on the server, 273)."""
    secret = {"consumer_key": "k", "consumer_secret": "ds-secret"}
    discord = created(versioned_call, "/sources/oauth/",
                      {"name": "ds-discord", "slug": "ds-discord", "provider_type": "discord", **secret})
    assert discord["callback_url"] == "http://sandbox/source/oauth/callback/ds-discord/"
    assert discord["type"]["authorization_url"] == "https://discord.com/api/oauth2/authorize"
    oidc = {"name": "ds-oidc", "slug": "ds-oidc", "provider_type": "openidconnect", **secret}
    refused = versioned_call("POST", "/sources/oauth/", json=oidc)
    assert refused.json() == {"non_field_errors": ["authorization_url is required for provider OpenID Connect"]}
    urls = {f"{name}_url": f"https://idp.example.com/{name}" for name in ("authorization", "access_token", "profile")}
    created(versioned_call, "/sources/oauth/", {**oidc, **urls})
    rename = versioned_call("PATCH", "/sources/oauth/ds-oidc/", json={"name": "ds-oidc renamed"})
    assert rename.status_code == (405 if versioned_sandbox.api_version == "2023.10.7" else 400)
    patched = versioned_call("PATCH", "/sources/oauth/ds-oidc/",
                             json={"name": "ds-oidc renamed", "provider_type": "openidconnect", **urls})
    assert patched.status_code == 200 and "ds-secret" not in patched.text



def test_ldap_sync_flags_need_mappings_in_the_body_on_2026(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """2026 refuses `sync_users: true` without `user_property_mappings` in the same body (directory
    314), though a minimal create stores it so (309), and `sync_groups` likewise (checked on the
    2026 lab: the users message alone when both fail); 2023 accepts both (its 314)."""
    created(versioned_call, "/sources/ldap/", {"name": "ds-ldap", "slug": "ds-ldap", "server_uri": "ldap://ds.example",
                                               "base_dn": "dc=ds"})
    both = versioned_call("PATCH", "/sources/ldap/ds-ldap/", json={"sync_users": True, "sync_groups": True})
    groups = versioned_call("PATCH", "/sources/ldap/ds-ldap/", json={"sync_groups": True})
    if versioned_sandbox.api_version == "2023.10.7":
        assert (both.status_code, groups.status_code) == (200, 200)
    else:
        assert both.json() == {"user_property_mappings": [
            "When 'Sync users' is enabled, 'users property mappings' cannot be empty."]}
        assert groups.json() == {"group_property_mappings": [
            "When 'Sync groups' is enabled, 'groups property mappings' cannot be empty."]}


IDP = "https://idp.example.com"
DOCUMENTS = {f"{IDP}/.well-known/openid-configuration": {
    "issuer": IDP, "authorization_endpoint": f"{IDP}/authorize", "token_endpoint": f"{IDP}/token",
    "userinfo_endpoint": f"{IDP}/userinfo", "jwks_uri": f"{IDP}/jwks", "code_challenge_methods_supported": ["S256"]},
    f"{IDP}/jwks": {"keys": [{"kty": "oct", "kid": "ds", "k": "ZHM"}]}, f"{IDP}/not-oidc": {"name": "not oidc"}}


@pytest.mark.parametrize("version", ["2023.10.7", "2026.2.2"])
def test_an_oidc_source_reads_the_documents_it_is_given_and_nothing_else(version: str) -> None:
    """authentik fetches `oidc_well_known_url` and the key set while it validates (directory 280);
    the sandbox serves them from `documents`, refuses a document without `issuer` (279) and
    answers any other URL as a closed port (278), so it never reaches the network."""
    call = calling(Sandbox(version, documents=DOCUMENTS))
    body = {"name": "ds-oidc", "slug": "ds-oidc", "provider_type": "openidconnect", "consumer_key": "k",
            "consumer_secret": "s"}
    refused = call("POST", "/sources/oauth/", json={**body, "oidc_well_known_url": "http://127.0.0.1:9/.well-known/x"})
    [message] = refused.json()["oidc_well_known_url"]
    assert message.startswith("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
                              "/.well-known/x (Caused by NewConnectionError(") and "Connection refused" in message
    not_oidc = call("POST", "/sources/oauth/", json={**body, "oidc_well_known_url": f"{IDP}/not-oidc"})
    assert not_oidc.json() == {"oidc_well_known_url": ["Invalid well-known configuration"]}
    made = created(call, "/sources/oauth/", {**body, "oidc_well_known_url": f"{IDP}/.well-known/openid-configuration"})
    assert (made["authorization_url"], made["access_token_url"], made["profile_url"], made["oidc_jwks_url"]) == (
        f"{IDP}/authorize", f"{IDP}/token", f"{IDP}/userinfo", f"{IDP}/jwks")
    assert made["oidc_jwks"] == DOCUMENTS[f"{IDP}/jwks"]
    assert made.get("pkce", ["S256"]) == ["S256"]  # 2026 answers the list it read (280); 2023 has no pkce
    # ... and its text column keeps Python's text of that list (283)
    assert call("GET", "/sources/oauth/ds-oidc/").json().get("pkce", "['S256']") == "['S256']"
    missing_keys = call("PATCH", "/sources/oauth/ds-oidc/", json={"provider_type": "openidconnect",
                                                                 "oidc_jwks_url": f"{IDP}/gone"})
    assert "HTTPSConnectionPool(host='idp.example.com', port=443)" in missing_keys.json()["oidc_jwks_url"][0]


def test_the_sandbox_command_serves_a_seeds_documents(tmp_path: Path) -> None:
    """`reconciler sandbox --seed` takes the documents an OpenID Connect source fetches (the
    seed's `"documents"`), so a manifest using `oidc_well_known_url` applies and plans empty
    against it; a seed whose documents are not an object is refused, naming the key."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({**default_seed("2026.2.2"), "documents": DOCUMENTS}))
    source = {"kind": "oauth", "slug": "ds-oidc", "name": "ds-oidc", "provider_type": "openidconnect",
              "consumer_key": "k", "consumer_secret": {"env": "DS_SECRET"},
              "oidc_well_known_url": f"{IDP}/.well-known/openid-configuration"}
    write_manifest(tmp_path, [source], name="sources.yaml", section="sources")
    manifest = str(tmp_path / "sources.yaml")
    with sandbox_process("--port", "0", "--token", TOKEN, "--seed", str(seed)) as first:
        url = first.split()[4]
        applied = run(url, "apply", manifest, "--auto-approve", env={"DS_SECRET": "s3"})
        assert applied.exit_code == 0, applied.output
        assert run(url, "plan", manifest, "--detailed-exitcode", env={"DS_SECRET": "s3"}).exit_code == 0
    seed.write_text(json.dumps({**default_seed("2026.2.2"), "documents": ["not", "an", "object"]}))
    refused = subprocess.run([sys.executable, "-m", "reconciler", "sandbox", "--port", "0", "--seed", str(seed)],
                             capture_output=True, text=True, timeout=30, check=False)
    assert (refused.returncode, refused.stderr.strip()) == (
        1, f"error: {seed}: documents: an object of URL -> the JSON document that URL serves")


def test_one_ldap_source_syncs_passwords_on_2023(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """2023 refuses a second LDAP source syncing passwords, a write without the flag counting as
    true (directory 320), and takes one with it false (321, 323); 2026 has no such check (its 320)."""
    body = {"server_uri": "ldap://ds.example", "base_dn": "dc=ds"}
    created(versioned_call, "/sources/ldap/", {"name": "ds-1", "slug": "ds-1", **body})
    second = versioned_call("POST", "/sources/ldap/", json={"name": "ds-2", "slug": "ds-2", **body})
    third = versioned_call("POST", "/sources/ldap/", json={"name": "ds-3", "slug": "ds-3", **body,
                                                           "sync_users_password": False})
    assert third.status_code == 201
    if versioned_sandbox.api_version == "2023.10.7":
        assert second.json() == {"sync_users_password": [
            "Only a single LDAP Source with password synchronization is allowed"]}
        assert versioned_call("PATCH", "/sources/ldap/ds-3/", json={"name": "ds-3 renamed"}).status_code == 400
        assert versioned_call("PATCH", "/sources/ldap/ds-1/", json={"name": "ds-1 renamed"}).status_code == 200
    else:
        assert second.status_code == 201


def test_source_user_settings_icons_and_the_built_in_source(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """`/sources/all/user_settings/` lists the enabled OAuth and SAML sources by title (372); 2023
    sets an icon through `set_icon_url` (269), 2026 writes `icon`; 2026 refuses to delete the
    built-in source (373)."""
    new = versioned_sandbox.api_version.startswith("2026")
    body = {"provider_type": "discord", "consumer_key": "k", "consumer_secret": "s"}
    created(versioned_call, "/sources/oauth/", {"name": "ds-b", "slug": "ds-b", **body})
    created(versioned_call, "/sources/oauth/", {"name": "ds-a", "slug": "ds-a", **body, **(
        {"icon": "https://icons.example/a.png"} if new else {})})
    created(versioned_call, "/sources/oauth/", {"name": "ds-off", "slug": "ds-off", "enabled": False, **body})
    if not new:
        assert versioned_call("POST", "/sources/all/ds-a/set_icon_url/",
                              json={"url": "https://icons.example/a.png"}).json() == {}
    listed = versioned_call("GET", "/sources/all/user_settings/").json()
    assert [(e["object_uid"], e["configure_url"], e["icon_url"]) for e in listed] == [
        ("ds-a", "/source/oauth/login/ds-a/", "https://icons.example/a.png"),
        ("ds-b", "/source/oauth/login/ds-b/", "/static/authentik/sources/discord.svg")]
    refused = versioned_call("DELETE", "/sources/all/authentik-built-in/")
    if new:
        assert (refused.status_code, refused.json()) == (400, {"detail": "Built-in sources cannot be deleted"})


def test_a_saml_source_serves_its_metadata(versioned_sandbox: Sandbox, versioned_call: Call) -> None:
    """`GET …/metadata/`: the SP metadata with the issuer as entityID and the ACS URL by slug;
    2023 lists every NameID format, 2026 the source's policy (directory 303)."""
    created(versioned_call, "/flows/instances/", {"name": "ds", "slug": "ds-pre", "title": "t",
                                                  "designation": "stage_configuration"})
    flow = versioned_call("GET", "/flows/instances/ds-pre/").json()["pk"]
    created(versioned_call, "/sources/saml/", {"name": "ds-saml", "slug": "ds-saml", "sso_url": "https://idp.example/sso",
                                               "issuer": "https://sp.example/ds", "pre_authentication_flow": flow})
    answer = versioned_call("GET", "/sources/saml/ds-saml/metadata/").json()
    assert answer["download_url"] == "/source/saml/ds-saml/metadata/"
    metadata = answer["metadata"]
    assert 'entityID="https://sp.example/ds"' in metadata
    assert 'Location="http://sandbox/source/saml/ds-saml/acs/"' in metadata
    formats = metadata.count("<md:NameIDFormat>")
    assert formats == (1 if versioned_sandbox.api_version.startswith("2026") else 5)
    assert versioned_call("GET", "/sources/saml/nope/metadata/").status_code == 404


def test_a_scim_source_makes_its_service_account_and_token(call: Call) -> None:
    """A SCIM source comes with an internal service account `ak-source-scim-<pk>` and its API
    token, shown as `token_obj` (directory 352-354); the account takes the source's new name
    (355) and goes with it (358)."""
    made = created(call, "/sources/scim/", {"name": "ds-scim", "slug": "ds-scim"})
    token = made["token_obj"]
    username = f"ak-source-scim-{made['pk']}"
    assert (token["identifier"], token["intent"], token["managed"], token["expires"]) == (
        username, "api", f"goauthentik.io/sources/scim/{made['pk']}", None)
    account = token["user_obj"]
    assert (account["pk"], account["username"], account["name"], account["type"], account["path"]) == (
        token["user"], username, "SCIM Source ds-scim Service-Account", "internal_service_account",
        "goauthentik.io/sources/scim")
    renamed = call("PATCH", "/sources/scim/ds-scim/", json={"name": "ds-renamed"}).json()
    assert renamed["token_obj"]["user_obj"]["name"] == "SCIM Source ds-renamed Service-Account"
    assert call("DELETE", "/sources/scim/ds-scim/").status_code == 204
    assert call("GET", f"/core/users/{token['user']}/").status_code == 404


def test_a_rules_transports_come_in_the_order_they_were_last_written() -> None:
    """PostgreSQL reads these small tables in storage order, and an UPDATE writes the row's new
    version last (directory 415, 434; checked on the 2026 lab: patching transport a, then b, moved
    each to the end of the rule's list)."""
    for version in ("2023.10.7", "2026.2.2"):
        call = calling(Sandbox(version))
        first, second = (created(call, "/events/transports/", {"name": name})["pk"] for name in ("ds-a", "ds-b"))
        rule = created(call, "/events/rules/", {"name": "ds-r", "transports": [second, first]})
        assert rule["transports"] == [first, second]
        call("PATCH", f"/events/transports/{first}/", json={"send_once": True})
        assert call("GET", f"/events/rules/{rule['pk']}/").json()["transports"] == [second, first]
        call("PATCH", f"/events/transports/{second}/", json={"send_once": True})
        assert call("GET", f"/events/rules/{rule['pk']}/").json()["transports"] == [first, second]


def test_a_lifecycle_rules_checks_as_on_the_lab() -> None:
    """What the 2026 lab answered in this project's own check (not in the recordings): a rule needs
    a reviewer, on create and on a PATCH; an unknown reviewer UUID; a bad interval; a second rule
    of one object."""
    call = calling(Sandbox("2026.2.2"))
    admin = next(u for u in call("GET", "/core/users/").json()["results"] if u["username"] == "akadmin")
    group = created(call, "/core/groups/", {"name": "ds-lc"})
    rule = {"name": "ds-lc1", "content_type": "authentik_core.group", "object_id": group["pk"]}
    missing = "00000000-0000-4000-8000-000000000000"
    answers = [call("POST", "/lifecycle/rules/", json={**rule, **extra}) for extra in (
        {"reviewers": []}, {"reviewers": [missing]}, {"reviewers": [admin["uuid"]], "interval": "bogus"})]
    assert [(a.status_code, a.json()) for a in answers] == [
        (400, {"non_field_errors": ["Either a reviewer group or a reviewer must be set."]}),
        (400, {"reviewers": [f"Object with uuid={missing} does not exist."]}),
        (400, {"interval": ["bogus is not in the correct format of 'hours=3;minutes=1'."]})]
    made = created(call, "/lifecycle/rules/", {**rule, "reviewers": [admin["uuid"]]})
    second = call("POST", "/lifecycle/rules/", json={**rule, "name": "ds-lc2", "reviewers": [admin["uuid"]]})
    assert (second.status_code, second.json()) == (
        400, {"non_field_errors": ["The fields content_type, object_id must make a unique set."]})
    emptied = call("PATCH", f"/lifecycle/rules/{made['id']}/", json={"reviewers": []})
    assert (emptied.status_code, emptied.json()) == (
        400, {"non_field_errors": ["Either a reviewer group or a reviewer must be set."]})


def test_a_tenants_domain_is_not_unique_a_brands_is() -> None:
    """2023 directory 226 lists two tenants of one domain; on the labs (this project's check) the
    2023 server took a second tenant of a domain and the 2026 one refused a second brand."""
    old = calling(Sandbox("2023.10.7"))
    statuses = [old("POST", "/core/tenants/", json={"domain": "ds.example.com"}).status_code for _ in range(2)]
    assert statuses == [201, 201]
    new = calling(Sandbox("2026.2.2"))
    assert new("POST", "/core/brands/", json={"domain": "ds.example.com"}).status_code == 201
    again = new("POST", "/core/brands/", json={"domain": "ds.example.com"})
    assert (again.status_code, again.json()) == (400, {"domain": ["This field must be unique."]})


def test_lifecycle_rules_are_filtered_by_model_and_searched_by_reviewer() -> None:
    """`?content_type__model=` and a search of the model, reviewer group names and reviewer
    usernames (source reading: authentik/enterprise/lifecycle/api/rules.py LifecycleRuleViewSet)."""
    call = calling(Sandbox("2026.2.2"))
    user = created(call, "/core/users/", {"username": "ds-carol", "name": "Carol"})
    group = created(call, "/core/groups/", {"name": "ds-auditors"})
    created(call, "/lifecycle/rules/", {"name": "ds-groups", "content_type": "authentik_core.group",
                                        "reviewers": [user["uuid"]]})
    created(call, "/lifecycle/rules/", {"name": "ds-roles", "content_type": "authentik_rbac.role",
                                        "reviewer_groups": [group["pk"]], "reviewers": []})

    def names(query: str) -> list[str]:
        return [rule["name"] for rule in call("GET", f"/lifecycle/rules/?{query}").json()["results"]]

    assert names("content_type__model=role") == ["ds-roles"]
    assert names("search=CAROL") == ["ds-groups"]
    assert names("search=auditors") == ["ds-roles"]
    assert names("search=core") == []  # the model's name, not its app label
