"""The directory and platform kinds (issue 18) through the CLI against the sandbox over real HTTP:
groups, users, roles, brands and tenants, sources, notification rules and transports, on both
versions. What each behaviour comes from is named: a directory recording (`directory NN`) of
`tests/fixtures/recordings/<version>/directory/`."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import run, served, writes

from reconciler.model.kinds import load_model
from reconciler.sandbox import Sandbox

VERSIONS = ("2023.10.7", "2026.2.2")
ENV = {"DM_OAUTH_SECRET": "oauth-secret-1", "DM_BOT_PASSWORD": "bot-password-1"}


@pytest.fixture(params=VERSIONS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Sandbox, str, str]]:
    with served(request.param) as (sandbox, url):
        yield sandbox, url, request.param


def config(version: str) -> dict[str, Any]:
    """The issue's done-when config: a group hierarchy, a service account in a group with a
    password from the environment, a role with permissions, a brand (tenant) using custom flows,
    an OAuth source with its secret from the environment, a notification rule with a webhook
    transport. 2023 writes a group's parent, a tenant and a rule's `group`; 2026 `parents`, a
    brand and `destination_group` (directory 35, 36, 204, 409, 415)."""
    new = version.startswith("2026")
    parent = {"parents": [{"group": "dm-staff"}]} if new else {"parent": {"group": "dm-staff"}}
    brand_section = "brands" if new else "tenants"
    return {
        # policy bindings of the flow reach the new kinds: a group by name (a UUID) and a user by
        # username (an integer id), both made by the same apply
        "flows": [{"slug": "dm-login", "name": "dm login", "title": "Log in", "designation": "authentication",
                   "policies": [{"group": "dm-ops", "order": 0}, {"user": "dm-ci-bot", "order": 1}]}],
        "groups": [{"name": "dm-ops", **parent}, {"name": "dm-staff", "attributes": {"team": "staff"}}],
        "users": [{"username": "dm-ci-bot", "name": "CI bot", "type": "service_account",
                   "groups": [{"group": "dm-ops"}], "password": {"env": "DM_BOT_PASSWORD"}}],
        "roles": [{"name": "dm-auditors", "permissions": ["authentik_events.view_event",
                                                           "authentik_core.view_user"]}],
        brand_section: [{"domain": "dm.example.com", "flow_authentication": {"flow": "dm-login"}}],
        "sources": [{"kind": "oauth", "slug": "dm-discord", "name": "Discord", "provider_type": "discord",
                     "consumer_key": "dm-key", "consumer_secret": {"env": "DM_OAUTH_SECRET"}}],
        "notification_transports": [{"name": "dm-hook", "mode": "webhook",
                                     "webhook_url": "https://hooks.example.com/dm"}],
        "notification_rules": [{"name": "dm-errors", "transports": [{"notification_transport": "dm-hook"}],
                                "severity": "alert", ("destination_group" if new else "group"): {"group": "dm-ops"}}],
    }


def write(directory: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def plan_json(url: str, path: Path, *args: str) -> dict[str, Any]:
    result = run(url, "plan", str(path), "--format", "json", *args, env=ENV)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_done_when_config_applies_from_nothing_then_plans_empty(server: tuple[Sandbox, str, str],
                                                                     tmp_path: Path) -> None:
    sandbox, url, version = server
    manifest = write(tmp_path, config(version))
    state = ("--state", str(tmp_path / "state.json"))
    applied = run(url, "apply", str(manifest), "--auto-approve", *state, env=ENV)
    assert applied.exit_code == 0, applied.output
    calls = writes(sandbox)
    # the parent group is made before the child that names it
    assert [body["name"] for body in posts(calls, "/api/v3/core/groups/")] == ["dm-staff", "dm-ops"]
    # the password goes through set_password (directory 92), never in the user's body
    [user] = posts(calls, "/api/v3/core/users/")
    assert "password" not in user
    [bot] = [u for u in sandbox.objects("user") if u["username"] == "dm-ci-bot"]
    assert ("POST", f"/api/v3/core/users/{bot['pk']}/set_password/", {"password": "bot-password-1"}) in calls
    # the permissions are assigned after the role is made (directory 162)
    [role] = [r for r in sandbox.objects("role") if r["name"] == "dm-auditors"]
    assert ("POST", f"/api/v3/rbac/permissions/assigned_by_roles/{role['pk']}/assign/",
            {"permissions": ["authentik_core.view_user", "authentik_events.view_event"]}) in calls
    assert plan_json(url, manifest, *state)["changes"] == []
    # a second plan reads the permissions back from the server and still finds nothing to do
    assert run(url, "plan", str(manifest), "--detailed-exitcode", *state, env=ENV).exit_code == 0


def posts(calls: list[tuple[str, str, Any]], path: str) -> list[Any]:
    """The bodies of the POSTs to `path` among `calls`, in order."""
    return [body for method, called, body in calls if (method, called) == ("POST", path)]


def test_a_user_not_named_is_never_read_into_a_plan(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    sandbox, url, version = server
    manifest = write(tmp_path, {"users": [{"username": "dm-named", "name": "Named"}]})
    plan = plan_json(url, manifest, "--state", str(tmp_path / "state.json"))
    assert [c["name"] for c in plan["changes"]] == ["dm-named"]
    shown = json.dumps(plan)
    assert "akadmin" not in shown  # the admin user is live, but no manifest names it


def test_a_permission_removed_from_a_role_is_unassigned(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    role = {"name": "dm-readers", "permissions": ["authentik_core.view_user", "authentik_core.view_group"]}
    manifest = write(tmp_path, {"roles": [role]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    [live] = [r for r in sandbox.objects("role") if r["name"] == "dm-readers"]
    write(tmp_path, {"roles": [{**role, "permissions": ["authentik_core.view_group", "authentik_events.view_event"]}]})
    plan = plan_json(url, manifest, *state)
    [change] = plan["changes"]
    assert change["fields"] == {"permissions": {
        "before": ["authentik_core.view_group", "authentik_core.view_user"],
        "after": ["authentik_core.view_group", "authentik_events.view_event"]}}
    sandbox.clear_log()
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    base = f"/api/v3/rbac/permissions/assigned_by_roles/{live['pk']}"
    assert writes(sandbox) == [("POST", f"{base}/assign/", {"permissions": ["authentik_events.view_event"]}),
                               ("PATCH", f"{base}/unassign/", {"permissions": ["authentik_core.view_user"]})]
    assert plan_json(url, manifest, *state)["changes"] == []


def permission_reads(sandbox: Sandbox, names: dict[str, str]) -> list[str]:
    """The roles whose permissions were read (`GET /rbac/permissions/?role=`), by name."""
    return sorted(names.get(r.query["role"], r.query["role"]) for r in sandbox.requests
                  if r.method == "GET" and r.api_path == "/rbac/permissions/" and "role" in r.query)


def test_only_the_roles_a_plan_names_or_may_delete_have_their_permissions_read(
        server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    """The 2026 lab holds a managed role per user (directory 06): a plan reads the permissions of
    the roles its manifests name, and of the owned ones a prune may delete, not of every role."""
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    others = write(tmp_path, {"roles": [{"name": f"dm-other-{n}"} for n in range(3)]}, "others.yaml")
    assert run(url, "apply", str(others), "--auto-approve", "--state", str(tmp_path / "other.json")).exit_code == 0
    kept = {"name": "dm-kept", "permissions": ["authentik_core.view_user"]}
    manifest = write(tmp_path, {"roles": [kept, {"name": "dm-dropped"}]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    write(tmp_path, {"roles": [{**kept, "permissions": ["authentik_core.view_group"]}]})
    names = {str(role["pk"]): str(role["name"]) for role in sandbox.objects("role")}
    sandbox.clear_log()
    saved = tmp_path / "plan.json"
    assert run(url, "plan", str(manifest), "--prune", "--out", str(saved), *state).exit_code == 0
    assert permission_reads(sandbox, names) == ["dm-dropped", "dm-kept"]  # every role's, seeded ones too, before
    sandbox.clear_log()
    applied = run(url, "apply", "--plan", str(saved), "--auto-approve", *state)
    assert applied.exit_code == 0, applied.output
    assert permission_reads(sandbox, names) == ["dm-dropped", "dm-kept"]  # again for the stale check: the same
    assert sorted(r["name"] for r in sandbox.objects("role") if r["name"].startswith("dm-")) == [
        "dm-kept", "dm-other-0", "dm-other-1", "dm-other-2"]
    sandbox.clear_log()
    assert run(url, "export", "--kind", "role").exit_code == 0
    names = {str(role["pk"]): str(role["name"]) for role in sandbox.objects("role")}
    assert permission_reads(sandbox, names) == sorted(names.values())  # an export: every role's


def test_pruning_a_user_needs_the_kind_named(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    manifest = write(tmp_path, {"users": [{"username": "dm-leaver", "name": "Leaver"}],
                                "groups": [{"name": "dm-leavers"}]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    write(tmp_path, {"flows": []})
    plan = plan_json(url, manifest, "--prune", *state)
    assert [(c["action"], c["kind"], c["name"]) for c in plan["changes"]] == [("delete", "group", "dm-leavers")]
    plan = plan_json(url, manifest, "--prune", "--prune-kind", "user", *state)
    assert sorted((c["action"], c["kind"], c["name"]) for c in plan["changes"]) == [
        ("delete", "group", "dm-leavers"), ("delete", "user", "dm-leaver")]


def test_prune_kind_names_a_kind_of_data(tmp_path: Path) -> None:
    with served("2026.2.2") as (_, url):
        manifest = write(tmp_path, {"groups": [{"name": "dm-g"}]})
        result = run(url, "plan", str(manifest), "--prune", "--prune-kind", "group")
    assert result.exit_code == 1
    assert "--prune-kind group: not a kind of data in authentik 2026.2.2 (expected user); configuration kinds " \
           "are pruned by --prune alone" in result.output


def test_export_leaves_users_out_unless_asked(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    sandbox, url, version = server
    default = run(url, "export")
    assert default.exit_code == 0, default.output
    lines = default.stdout.splitlines()
    assert "users:" not in lines and "  - username: akadmin" not in lines
    users = run(url, "export", "--kind", "user")
    assert users.exit_code == 0, users.output
    assert "  - username: akadmin" in users.stdout.splitlines()


@pytest.mark.parametrize(("version", "text", "message"), [
    ("2026.2.2", "tenants:\n  - domain: a.example.com\n",
     "1:1: unknown top-level key 'tenants': 'tenants' is authentik 2023.10.7's, not 2026.2.2's; "
     "authentik 2026.2.2 has 'brands' instead"),
    ("2023.10.7", "brands:\n  - domain: a.example.com\n",
     "1:1: unknown top-level key 'brands': 'brands' is authentik 2026.2.2's, not 2023.10.7's; "
     "authentik 2023.10.7 has 'tenants' instead"),
    ("2026.2.2", "groups:\n  - name: a\n    parent: {group: b}\n",
     "3:5: group/a: parent: unknown field: 'parent' is authentik 2023.10.7's, not 2026.2.2's; "
     "authentik 2026.2.2 has 'parents' instead"),
    ("2023.10.7", "notification_rules:\n  - name: a\n    destination_group: {group: b}\n",
     "3:5: notification_rule/a: destination_group: unknown field: 'destination_group' is authentik "
     "2026.2.2's, not 2023.10.7's; authentik 2023.10.7 has 'group' instead"),
    ("2023.10.7", "lifecycle_rules:\n  - name: a\n    content_type: authentik_core.group\n    reviewers: [b]\n",
     "1:1: unknown top-level key 'lifecycle_rules': 'lifecycle_rules' is authentik 2026.2.2's, not 2023.10.7's"),
    ("2023.10.7", "sources:\n  - kind: scim\n    slug: a\n    name: a\n",
     "2:5: scim/a: kind: unknown kind \"scim\" in 'sources' for authentik 2023.10.7: 'scim' is authentik "
     "2026.2.2's, not 2023.10.7's"),
])
def test_a_kind_or_field_of_the_other_version_is_refused_naming_both(version: str, text: str, message: str,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(text)
    result = run("http://127.0.0.1:1", "validate", str(tmp_path / "m.yaml"), "--api-version", version)
    assert result.exit_code == 1
    assert result.output.startswith(f"{tmp_path / 'm.yaml'}:{message}"), result.output


def test_an_oauth_source_patch_carries_its_type_and_urls(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    """authentik 2023 fails an OAuth source PATCH without provider_type (directory 273), and both
    versions refuse an OpenID Connect one without its three URLs (271-276)."""
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    source = {"kind": "oauth", "slug": "dm-oidc", "name": "OIDC", "provider_type": "openidconnect",
              "consumer_key": "k", "consumer_secret": {"env": "DM_OAUTH_SECRET"},
              "authorization_url": "https://idp.example.com/auth", "access_token_url": "https://idp.example.com/token",
              "profile_url": "https://idp.example.com/me"}
    manifest = write(tmp_path, {"sources": [source]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state, env=ENV).exit_code == 0
    write(tmp_path, {"sources": [{**source, "name": "OIDC renamed"}]})
    sandbox.clear_log()
    applied = run(url, "apply", str(manifest), "--auto-approve", *state, env=ENV)
    assert applied.exit_code == 0, applied.output
    assert writes(sandbox) == [("PATCH", "/api/v3/sources/oauth/dm-oidc/", {
        "provider_type": "openidconnect", "authorization_url": "https://idp.example.com/auth",
        "access_token_url": "https://idp.example.com/token", "profile_url": "https://idp.example.com/me",
        "name": "OIDC renamed"})]


def test_an_ldap_source_put_leaves_its_unchanged_sync_flags_out(server: tuple[Sandbox, str, str],
                                                                  tmp_path: Path) -> None:
    """A source created without mappings is stored with `sync_users` and `sync_groups` true (their
    defaults, directory 309) beside empty mapping lists, and authentik 2026 refuses that pair in a
    body (314; groups checked on the 2026 lab). A PUT leaves the unchanged flags out, which the
    server keeps (318), so an `update: put` change applies on both versions and then plans empty."""
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    source = {"kind": "ldap", "slug": "dm-ldap", "name": "LDAP", "server_uri": "ldap://ldap.example.com",
              "base_dn": "dc=dm,dc=example", "update": "put"}
    manifest = write(tmp_path, {"sources": [source]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state, env=ENV).exit_code == 0
    write(tmp_path, {"sources": [{**source, "name": "LDAP renamed"}]})
    planned = run(url, "plan", str(manifest), *state, env=ENV)
    assert "PUT leaves out sync_users, sync_groups unchanged: a PUT leaves" in planned.output  # says why
    sandbox.clear_log()
    applied = run(url, "apply", str(manifest), "--auto-approve", *state, env=ENV)
    assert applied.exit_code == 0, applied.output
    [(method, path, body)] = writes(sandbox)
    assert (method, path, body["name"]) == ("PUT", "/api/v3/sources/ldap/dm-ldap/", "LDAP renamed")
    assert "sync_users" not in body and "sync_groups" not in body
    assert body["sync_users_password"] is True  # no rule leaves it out: it is sent from live
    assert plan_json(url, manifest, *state)["changes"] == []


def test_a_webhook_transport_mode_change_carries_its_url(server: tuple[Sandbox, str, str], tmp_path: Path) -> None:
    """A webhook transport's URL is checked in the same write only (directory 390)."""
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    transport = {"name": "dm-t", "mode": "local", "webhook_url": "https://hooks.example.com/t"}
    manifest = write(tmp_path, {"notification_transports": [transport]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    write(tmp_path, {"notification_transports": [{**transport, "mode": "webhook"}]})
    sandbox.clear_log()
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    [(method, _, body)] = writes(sandbox)
    assert (method, body) == ("PATCH", {"mode": "webhook", "webhook_url": "https://hooks.example.com/t"})


def test_a_rules_transports_in_the_servers_order_plan_no_change(server: tuple[Sandbox, str, str],
                                                                  tmp_path: Path) -> None:
    """authentik lists a rule's transports in the order their rows were last written, not as sent
    (directory 415, 430: sent [a, webhook], read [webhook, a] after 404 wrote a); the plan compares
    the list as a set, so a manifest in its own order has nothing to change."""
    sandbox, url, version = server
    state = ("--state", str(tmp_path / "state.json"))
    transports = [{"name": "dm-a", "mode": "local"}, {"name": "dm-b", "mode": "local"}]
    rule = {"name": "dm-r", "transports": [{"notification_transport": "dm-a"}, {"notification_transport": "dm-b"}]}
    manifest = write(tmp_path, {"notification_transports": transports, "notification_rules": [rule]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    write(tmp_path, {"notification_transports": [{**transports[0], "send_once": True}, transports[1]],
                     "notification_rules": [rule]})
    assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
    names = {t["pk"]: t["name"] for t in sandbox.objects("notification_transport")}
    [stored] = [r for r in sandbox.objects("notification_rule") if r["name"] == "dm-r"]
    assert [names[pk] for pk in stored["transports"]] == ["dm-b", "dm-a"]
    assert run(url, "plan", str(manifest), "--detailed-exitcode", *state).exit_code == 0


def test_lifecycle_rules_apply_plan_empty_export_and_prune(tmp_path: Path) -> None:
    """2026 lifecycle rules (directory 465-477): reviewers written by username travel as the users'
    UUIDs (465), also for a user the same apply makes; groups and transports by name; a rule of
    one object names it by `object_id` as authentik shows it, one without `object_id` reviews the
    whole type (470). Export writes them back by name, and pruning deletes them."""
    with served("2026.2.2") as (sandbox, url):
        state = ("--state", str(tmp_path / "state.json"))
        setup = {"groups": [{"name": "dm-reviewers"}, {"name": "dm-apps"}],
                 "users": [{"username": "dm-alice", "name": "Alice"}],
                 "notification_transports": [{"name": "dm-hook", "mode": "webhook",
                                              "webhook_url": "https://hooks.example.com/dm"}]}
        manifest = write(tmp_path, setup)
        assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
        [apps] = [g["pk"] for g in sandbox.objects("group") if g["name"] == "dm-apps"]
        rules = [{"name": "dm-groups", "content_type": "authentik_core.group", "reviewers": ["dm-alice", "dm-bob"],
                  "reviewer_groups": ["dm-reviewers"], "notification_transports": ["dm-hook"],
                  "interval": "days=90", "grace_period": "days=14"},
                 {"name": "dm-apps-group", "content_type": "authentik_core.group", "object_id": apps,
                  "reviewers": ["dm-bob"]}]
        write(tmp_path, {**setup, "users": [*setup["users"], {"username": "dm-bob", "name": "Bob"}],
                         "lifecycle_rules": rules})
        sandbox.clear_log()
        applied = run(url, "apply", str(manifest), "--auto-approve", *state)
        assert applied.exit_code == 0, applied.output
        uuids = {u["username"]: u["uuid"] for u in sandbox.objects("user")}
        bodies = posts(writes(sandbox), "/api/v3/lifecycle/rules/")
        assert [body["reviewers"] for body in bodies] == [[uuids["dm-alice"], uuids["dm-bob"]], [uuids["dm-bob"]]]
        assert {r["name"]: r["target_verbose"] for r in sandbox.objects("lifecycle_rule")} == {
            "dm-groups": "Groups", "dm-apps-group": "Group: Group dm-apps"}
        assert run(url, "plan", str(manifest), "--detailed-exitcode", *state).exit_code == 0
        exported = run(url, "export", "--kind", "lifecycle_rule")
        assert exported.exit_code == 0, exported.output
        assert yaml.safe_load(exported.stdout)["lifecycle_rules"] == [
            {"name": "dm-apps-group", "content_type": "authentik_core.group", "object_id": apps,
             "reviewers": ["dm-bob"]},
            {"name": "dm-groups", "content_type": "authentik_core.group", "interval": "days=90",
             "grace_period": "days=14", "reviewer_groups": ["dm-reviewers"], "reviewers": ["dm-alice", "dm-bob"],
             "notification_transports": ["dm-hook"]}]
        write(tmp_path, {**setup, "lifecycle_rules": []})
        plan = plan_json(url, manifest, "--prune", *state)
    assert sorted((c["action"], c["kind"], c["name"]) for c in plan["changes"]) == [
        ("delete", "lifecycle_rule", "dm-apps-group"), ("delete", "lifecycle_rule", "dm-groups")]


def test_a_user_a_lifecycle_rule_still_names_as_reviewer_is_not_pruned(tmp_path: Path) -> None:
    """A reviewer is a user named by its UUID, not its pk (directory 465): a prune keeps a user a
    described rule still names, as it keeps a group the rule names."""
    with served("2026.2.2") as (_, url):
        state = ("--state", str(tmp_path / "state.json"))
        rule = {"name": "dm-rule", "content_type": "authentik_core.group", "reviewers": ["dm-bob"],
                "reviewer_groups": ["dm-reviewers"]}
        manifest = write(tmp_path, {"users": [{"username": "dm-bob", "name": "Bob"}],
                                    "groups": [{"name": "dm-reviewers"}], "lifecycle_rules": [rule]})
        assert run(url, "apply", str(manifest), "--auto-approve", *state).exit_code == 0
        write(tmp_path, {"lifecycle_rules": [rule]})
        plan = plan_json(url, manifest, "--prune", "--prune-kind", "user", *state)
    assert plan["changes"] == []


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_export_of_the_config_plans_back_to_no_changes_byte_stable(server: tuple[Sandbox, str, str],
                                                                      tmp_path: Path) -> None:
    sandbox, url, version = server
    manifest = write(tmp_path, config(version))
    assert run(url, "apply", str(manifest), "--auto-approve", "--state", str(tmp_path / "state.json"),
               env=ENV).exit_code == 0
    for args, name in ((("export",), "all"), (("export", "--kind", "user"), "users")):
        out = tmp_path / name
        exported = run(url, *args, "--out", str(out))
        assert exported.exit_code == 0, exported.output
        first = files_of(out)
        assert run(url, *args, "--out", str(out)).exit_code == 0
        assert files_of(out) == first  # byte-stable
        plan = run(url, "plan", str(out), "--detailed-exitcode", "--state", str(tmp_path / f"{name}.json"))
        assert plan.exit_code == 0, plan.output
    users = (tmp_path / "users" / "users" / "user.yaml").read_text()
    # membership is written from the user's side only; a group's users never (they would fight)
    assert "      - dm-ops" in users.splitlines()  # a reference written plainly (CONTRACT.md)
    groups = (tmp_path / "all" / "groups" / "group.yaml").read_text()
    assert "users:" not in groups and "dm-ci-bot" not in groups
    assert not (tmp_path / "all" / "users").exists()


def test_membership_written_from_both_sides_must_agree(tmp_path: Path) -> None:
    """A group's `users` and a user's `groups` are one relation: written from both sides and
    disagreeing, the two would undo each other on every apply, so the plan refuses."""
    manifest = write(tmp_path, {
        "groups": [{"name": "dm-g", "users": [{"user": "dm-a"}]}],
        "users": [{"username": "dm-a", "name": "A", "groups": []},
                  {"username": "dm-b", "name": "B", "groups": [{"group": "dm-g"}]},
                  {"username": "dm-c", "name": "C"}]})
    result = run("http://unused", "plan", str(manifest), "--sandbox")
    assert result.exit_code == 1
    assert result.output == (
        f"{manifest}:3:3: group/dm-g: users: users leaves out user/dm-b, whose groups lists group/dm-g "
        f"({manifest}:11:3): write the relation from one side only\n"
        f"{manifest}:3:3: group/dm-g: users: users lists user/dm-a, whose groups leaves out group/dm-g "
        f"({manifest}:8:3): write the relation from one side only\n"
        "2 problems found.\n")
    agreeing = write(tmp_path, {
        "groups": [{"name": "dm-g", "users": [{"user": "dm-a"}]}],
        "users": [{"username": "dm-a", "name": "A", "groups": [{"group": "dm-g"}]}]}, "agreeing.yaml")
    assert run("http://unused", "validate", str(agreeing)).exit_code == 0


EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_platform_example_applies_with_the_config_on_its_version(version: str) -> None:
    """examples/platform/<version>/ holds a brand (2026) or a tenant (2023) with its own login
    flow; with the example config repo (a group with a service account) it applies and converges."""
    secrets = {"DUO_CLIENT_SECRET": "duo-secret-value-1", "TWILIO_AUTH_TOKEN": "twilio-token-value-1",
               "GRAFANA_CLIENT_SECRET": "grafana-secret-value-1"}
    # the Grafana application is written in 2026.2.2's form (examples/config/applications)
    config = [EXAMPLES / "config"] if version.startswith("2026") else \
        [EXAMPLES / "config" / "authentication", EXAMPLES / "config" / "directory"]
    result = run("http://unused", "apply", *map(str, config), str(EXAMPLES / "platform" / version),
                 "--sandbox", "--auto-approve", "--verify", "--api-version", version, env=secrets)
    assert result.exit_code == 0, result.output
    assert "create group/automation" in result.output and "create user/ci-bot" in result.output
    assert f"create {'brand' if version.startswith('2026') else 'tenant'}/auth.example.com" in result.output
    assert result.output.split("Verifying: planning again.\n")[1].startswith("No changes.")


def test_the_plan_says_which_calls_set_a_password_and_permissions(tmp_path: Path) -> None:
    """The change's method is the object's own write; the plan names the calls of their own
    (set_password, directory 92; assign/unassign, 162, 176) so nobody takes it for the only one."""
    users = [{key: value for key, value in user.items() if key != "groups"} for user in config("2026.2.2")["users"]]
    manifest = write(tmp_path, {"users": users, "roles": config("2026.2.2")["roles"]})
    with served("2026.2.2") as (_, url):
        plan = plan_json(url, manifest, "--state", str(tmp_path / "state.json"))
    notes = {change["kind"]: change["notes"] for change in plan["changes"]}
    assert notes == {
        "user": ["password: set by POST /api/v3/core/users/{pk}/set_password/ after the write, not in the object's "
                 "body"],
        "role": ["permissions: additions by POST /api/v3/rbac/permissions/assigned_by_roles/{id}/assign/, removals "
                 "by PATCH /api/v3/rbac/permissions/assigned_by_roles/{id}/unassign/, not in the object's body"]}
    assert "bot-password-1" not in json.dumps(plan)


DIRECTORY_SECTIONS = ("groups", "users", "roles", "brands", "tenants", "sources", "notification_transports",
                      "notification_rules", "lifecycle_rules")


@pytest.mark.parametrize("version", VERSIONS)
def test_explain_covers_every_directory_kind(version: str) -> None:
    model = load_model(version)
    kinds = [model.kinds[name] for section in DIRECTORY_SECTIONS for name in model.sections.get(section, {}).values()]
    # 7 source kinds and lifecycle rules in 2026, 4 source kinds in 2023
    assert len(kinds) == (14 if version.startswith("2026") else 10)
    for kind in kinds:
        result = run("http://unused", "explain", kind.name, "--api-version", version)
        assert result.exit_code == 0, result.output
        assert f"KNOWN BY:   {'+'.join(kind.key)}\n" in result.output
    user = run("http://unused", "explain", "user", "--api-version", version).output
    assert "  password <string>  write-only (never read back; kept as a fingerprint)\n" \
           "      Set through set_password; never returned.\n" in user
    if version.startswith("2026"):  # lifecycle rules: what the spec leaves unsaid (directory 465, 470)
        rule = run("http://unused", "explain", "lifecycle_rule", "--api-version", version).output
        assert "  reviewers <list of USERNAME of a reviewer>  required\n" \
               "      Users by username; authentik takes their UUIDs.\n" in rule


def test_the_readme_manifest_of_the_directory_applies_in_its_plain_form(tmp_path: Path) -> None:
    """README "Directory and platform": references written plainly (`parents: [staff]`,
    `destination_group: ops`) as CONTRACT.md shows them; applied against the sandbox, then
    planned empty."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Directory and platform", 1)[1]
    manifest = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    manifest = manifest.replace("example-login", "default-authentication-flow")
    (tmp_path / "directory.yaml").write_text(manifest)
    env = {"CI_BOT_PASSWORD": "bot-pass-value-1", "GITHUB_OAUTH_SECRET": "github-secret-value-1"}
    result = run("http://unused", "apply", str(tmp_path), "--sandbox", "--auto-approve", "--verify", env=env)
    assert result.exit_code == 0, result.output
    assert result.output.split("Verifying: planning again.\n")[1].startswith("No changes.")


def test_pruning_a_group_with_its_member_deletes_the_member_first(tmp_path: Path) -> None:
    """A group's `users` and a user's `groups` hold one relation (mirrored): deletes follow it from
    the user's side only, so pruning both is no reference cycle (the lab: the cleanup of a group and
    its service account failed the plan with an empty error)."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "d.yaml").write_text("groups:\n  - name: prune-ops\nusers:\n  - username: prune-bot\n    name: Bot\n"
                                   "    type: service_account\n    groups: [prune-ops]\n")
    state = str(tmp_path / "state.json")
    with served("2026.2.2") as (sandbox, url):
        assert run(url, "apply", str(config), "--auto-approve", "--state", state).exit_code == 0
        (config / "d.yaml").write_text("stages: []\n")
        sandbox.clear_log()
        result = run(url, "apply", str(config), "--prune", "--prune-kind", "user", "--auto-approve", "--force",
                     "--state", state)
        assert result.exit_code == 0, result.output
        deletes = [path for method, path, _ in writes(sandbox) if method == "DELETE"]
    assert [path.split("/")[4] for path in deletes] == ["users", "groups"]
