"""The sandbox's groups, users and roles through its API (both versions), beyond the fidelity
replay of the directory recordings: the behaviours a client of the sandbox relies on."""
from __future__ import annotations

import copy

from conftest import Call, calling, created

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

