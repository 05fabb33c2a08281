"""Plans that show consequences (issue 19), against the sandbox over real HTTP for both versions:
authentik's blueprints setting changes back (authentik-blueprints/README.md: a re-apply of
default/flow-default-authentication-flow.yaml reverted `user_fields` and kept `show_matched_user`),
drift they made since the last apply, and what runs or uses a changed object. Blueprint instances
as a managed kind, and the sandbox's instances (directory recordings 24, 28, 29, 445-447)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import TOKEN, run, served, write_manifest, writes

from reconciler.planning.changes import Plan
from reconciler.sandbox import Sandbox

VERSIONS = ("2023.10.7", "2026.2.2")
BLUEPRINT = "default/flow-default-authentication-flow.yaml"
INSTANCE = "Default - Authentication flow"
IDENTIFICATION = "default-authentication-identification"
CONFLICT = {"blueprint": BLUEPRINT, "instance": INSTANCE, "fields": ["user_fields"]}


def identification(**fields: Any) -> dict[str, Any]:
    return {"kind": "identification", "name": IDENTIFICATION, **fields}


def plan_json(url: str, folder: Path, *args: str) -> dict[str, Any]:
    result = run(url, "plan", str(folder), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def instance(sandbox: Sandbox, path: str = BLUEPRINT) -> dict[str, Any]:
    [found] = [i for i in sandbox.objects("blueprint_instance") if i["path"] == path]
    return found


def call(url: str, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{url}/api/v3{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def stage(sandbox: Sandbox, name: str = IDENTIFICATION) -> dict[str, Any]:
    [found] = [s for s in sandbox.objects("identification") if s["name"] == name]
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_a_listed_field_warns_an_unlisted_one_does_not(version: str, tmp_path: Path) -> None:
    with served(version) as (_, url):
        write_manifest(tmp_path, [identification(user_fields=["username"])])
        [change] = plan_json(url, tmp_path)["changes"]
        assert change["blueprint_conflicts"] == [CONFLICT]
        text = run(url, "plan", str(tmp_path)).stdout
        assert (f"      ! blueprint conflict: authentik's blueprint {BLUEPRINT} (instance \"{INSTANCE}\") sets "
                "user_fields; authentik re-applies this blueprint when its file changes (upgrades) or when applied "
                "by hand, and will set these fields back\n"
                "        to resolve: keep the default and make your own object, or disable the instance in a "
                f"manifest (blueprints: - path: {BLUEPRINT}, enabled: false)\n") in text
        markdown = run(url, "plan", str(tmp_path), "--format", "markdown").stdout
        assert f"- **Warning:** `identification/{IDENTIFICATION}`: blueprint conflict: authentik's blueprint " \
               f"{BLUEPRINT}" in markdown
        failing = run(url, "plan", str(tmp_path), "--fail-on-blueprint-conflict")
        assert failing.exit_code == 1
        assert failing.stderr.splitlines()[-1] == (
            f"error: 1 change conflicts with enabled authentik blueprint instances (identification/{IDENTIFICATION}); "
            "--fail-on-blueprint-conflict")

        write_manifest(tmp_path, [identification(show_matched_user=False)])
        [change] = plan_json(url, tmp_path)["changes"]
        assert "blueprint_conflicts" not in change and list(change["fields"]) == ["show_matched_user"]
        assert "blueprint conflict" not in run(url, "plan", str(tmp_path)).stdout
        assert run(url, "plan", str(tmp_path), "--fail-on-blueprint-conflict").exit_code == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_disabled_instance_conflicts_with_nothing(version: str, tmp_path: Path) -> None:
    with served(version) as (sandbox, url):
        write_manifest(tmp_path, [identification(user_fields=["username"])])
        # Disabled in the same plan: the manifest is the cure for the tug of war.
        (tmp_path / "blueprints.yaml").write_text(f"blueprints:\n  - path: {BLUEPRINT}\n    enabled: false\n")
        changes = plan_json(url, tmp_path)["changes"]
        assert [c["address"] for c in changes if "blueprint_conflicts" in c] == []
        # Disabled on the server (a PATCH must carry path or content: directory 446, 447).
        (tmp_path / "blueprints.yaml").unlink()
        assert call(url, "PATCH", f"/managed/blueprints/{instance(sandbox)['pk']}/", {"enabled": False}).json() == {
            "non_field_errors": ["Either path or content must be set."]}
        assert call(url, "PATCH", f"/managed/blueprints/{instance(sandbox)['pk']}/",
                    {"enabled": False, "path": BLUEPRINT}).status_code == 200
        [change] = plan_json(url, tmp_path)["changes"]
        assert "blueprint_conflicts" not in change


@pytest.mark.parametrize("version", VERSIONS)
def test_applying_the_instance_reverts_listed_fields_and_the_next_plan_explains_the_drift(
        version: str, tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    with served(version) as (sandbox, url):
        write_manifest(tmp_path, [identification(user_fields=["username"], show_matched_user=False)])
        assert run(url, "apply", str(tmp_path), "--auto-approve", "--state", state).exit_code == 0
        assert json.loads(Path(state).read_text())["servers"][url]["last_apply"]
        assert plan_json(url, tmp_path, "--state", state)["changes"] == []
        pk = instance(sandbox)["pk"]
        before = call(url, "GET", f"/managed/blueprints/{pk}/").json()
        answer = call(url, "POST", f"/managed/blueprints/{pk}/apply/").json()
        after = call(url, "GET", f"/managed/blueprints/{pk}/").json()
        # 2023 imports before answering (2023 directory 29); 2026 queues it and answers the instance
        # as it was (2026 directory 29); the sandbox's worker has run it by the next read.
        assert answer == (after if version == "2023.10.7" else before)
        assert after["status"] == "successful" and after["metadata"] == {"name": INSTANCE, "labels": {}}
        assert after["last_applied"] > last_apply(state, url)
        assert (stage(sandbox)["user_fields"], stage(sandbox)["show_matched_user"]) == (["email", "username"], False)

        [change] = plan_json(url, tmp_path, "--state", state)["changes"]
        assert change["fields"] == {"user_fields": {"before": ["email", "username"], "after": ["username"]}}
        assert change["blueprint_conflicts"] == [{**CONFLICT, "drift": after["last_applied"]}]
        text = run(url, "plan", str(tmp_path), "--state", state).stdout
        assert (f"      ! drift explained: the blueprint was applied at {after['last_applied']}, after this "
                "repository's last apply: it most likely set user_fields back\n") in text


def last_apply(state: str, url: str) -> str:
    moment: str = json.loads(Path(state).read_text())["servers"][url]["last_apply"]
    return moment


@pytest.mark.parametrize("version", VERSIONS)
def test_a_disabled_instance_is_not_applied_and_answers_as_the_version_does(version: str) -> None:
    with served(version) as (sandbox, url):
        pk = instance(sandbox)["pk"]
        call(url, "PATCH", f"/stages/identification/{stage(sandbox)['pk']}/", {"user_fields": ["username"]})
        call(url, "PATCH", f"/managed/blueprints/{pk}/", {"enabled": False, "path": BLUEPRINT})
        before = call(url, "GET", f"/managed/blueprints/{pk}/").json()
        assert call(url, "POST", f"/managed/blueprints/{pk}/apply/").json() == before
        assert stage(sandbox)["user_fields"] == ["username"]
        assert call(url, "GET", f"/managed/blueprints/{pk}/").json() == before

        created = call(url, "POST", "/managed/blueprints/", {
            "name": "cq-inline", "content": "version: 1\nmetadata:\n  name: cq-meta\n  labels:\n    cq: \"yes\"\n"
                                            "entries: []"}).json()
        assert (created["status"], created["last_applied_hash"], created["metadata"]) == ("unknown", "", {})
        answered = call(url, "POST", f"/managed/blueprints/{created['pk']}/apply/").json()
        read = call(url, "GET", f"/managed/blueprints/{created['pk']}/").json()
        assert read["status"] == "successful" and read["metadata"] == {"name": "cq-meta", "labels": {"cq": "yes"}}
        assert answered == (read if version == "2023.10.7" else created)


@pytest.mark.parametrize("version", VERSIONS)
def test_impact_lists_the_flows_running_a_stage_or_policy_and_the_brands_using_them(
        version: str, tmp_path: Path) -> None:
    with served(version) as (_, url):
        write_manifest(tmp_path, [{"kind": "password", "name": "default-authentication-password",
                                   "failed_attempts_before_cancel": 9}])
        # The password stage's policy, bound on its binding in the default authentication flow.
        (tmp_path / "policies.yaml").write_text(
            "policies:\n  - kind: expression\n    name: default-authentication-flow-password-stage\n"
            "    expression: return True\n")
        changes = {c["address"]: c for c in plan_json(url, tmp_path)["changes"]}
        every_login = {"flows": ["default-authentication-flow"], "brands": ["authentik-default"],
                       "every_login": True}
        assert changes["password/default-authentication-password"]["impact"] == every_login
        policy = changes["expression_policy/default-authentication-flow-password-stage"]
        assert policy["impact"] == every_login
        assert policy["blueprint_conflicts"] == [{"blueprint": BLUEPRINT, "instance": INSTANCE,
                                                  "fields": ["expression"]}]
        text = run(url, "plan", str(tmp_path)).stdout
        brand = "brand" if version == "2026.2.2" else "tenant"  # 2023.10.7 calls it a tenant
        assert (f"        used by: flow default-authentication-flow ({brand} authentik-default); affects every login "
                f"(a {brand}'s authentication flow)\n") in text
        # A stage no flow runs has no impact.
        write_manifest(tmp_path, [{"kind": "deny", "name": "cq-deny", "deny_message": "no"}])
        (tmp_path / "policies.yaml").unlink()
        assert run(url, "apply", str(tmp_path), "--auto-approve").exit_code == 0
        write_manifest(tmp_path, [{"kind": "deny", "name": "cq-deny", "deny_message": "never"}])
        [change] = plan_json(url, tmp_path)["changes"]
        assert "impact" not in change and "blueprint_conflicts" not in change


@pytest.mark.parametrize("version", VERSIONS)
def test_deleting_an_object_a_blueprint_makes_conflicts(version: str, tmp_path: Path) -> None:
    with served(version) as (_, url):
        write_manifest(tmp_path, [{"kind": "user_login", "name": "default-authentication-login",
                                   "state": "absent"}])
        result = run(url, "plan", str(tmp_path), "--format", "json", "--force")
        [change] = [c for c in json.loads(result.stdout)["changes"] if c["action"] == "delete"]
        # Two default blueprints make the login stage (the out-of-box flow binds it too).
        assert sorted(change["blueprint_conflicts"], key=lambda c: c["blueprint"]) == [
            {"blueprint": BLUEPRINT, "instance": INSTANCE, "fields": []},
            {"blueprint": "default/flow-oobe.yaml", "instance": "Default - Out-of-box-experience flow", "fields": []}]
        assert "makes this object; authentik re-applies this blueprint when its file changes (upgrades) or when " \
               "applied by hand, and will create it again" in run(url, "plan", str(tmp_path), "--force").stdout


def test_a_saved_plan_carries_conflicts_and_impact_and_show_renders_them(tmp_path: Path) -> None:
    with served() as (_, url):
        write_manifest(tmp_path, [identification(user_fields=["username"])])
        saved = tmp_path / "plan.json"
        assert run(url, "plan", str(tmp_path), "--out", str(saved)).exit_code == 0
        data = json.loads(saved.read_text())
        [change] = data["changes"]
        assert change["blueprint_conflicts"] == [CONFLICT]
        assert change["impact"]["flows"] == ["default-authentication-flow"]
        assert Plan.from_data(data).data["changes"] == data["changes"]  # loads back as it was written
        shown = run(url, "show", str(saved)).stdout
        assert f"! blueprint conflict: authentik's blueprint {BLUEPRINT}" in shown
        assert "used by: flow default-authentication-flow (brand authentik-default)" in shown


def test_conflicts_are_github_warnings(tmp_path: Path) -> None:
    with served() as (_, url):
        write_manifest(tmp_path, [identification(user_fields=["username"])])
        result = run(url, "plan", str(tmp_path), env={"GITHUB_ACTIONS": "true"})
        assert result.exit_code == 0
        assert (f"::warning file={tmp_path / 'stages.yaml'},title=blueprint conflict::identification/{IDENTIFICATION}: "
                f"{BLUEPRINT} ({INSTANCE}) sets back user_fields") in result.stdout.splitlines()


@pytest.mark.parametrize("version", VERSIONS)
def test_blueprint_instances_are_managed_by_path_or_name(version: str, tmp_path: Path) -> None:
    with served(version) as (sandbox, url):
        (tmp_path / "blueprints.yaml").write_text(
            f"blueprints:\n  - path: {BLUEPRINT}\n    enabled: false\n"
            "  - name: cq-inline\n    content: \"version: 1\\nentries: []\"\n")
        state = str(tmp_path / "state.json")
        assert run(url, "apply", str(tmp_path), "--auto-approve", "--state", state).exit_code == 0
        assert writes(sandbox) == [
            ("PATCH", f"/api/v3/managed/blueprints/{instance(sandbox)['pk']}/", {"path": BLUEPRINT, "enabled": False}),
            ("POST", "/api/v3/managed/blueprints/", {"name": "cq-inline", "content": "version: 1\nentries: []"})]
        assert instance(sandbox)["enabled"] is False
        assert run(url, "plan", str(tmp_path), "--detailed-exitcode").exit_code == 0
        export = run(url, "export", "--kind", "blueprint_instance").stdout
        assert ("  # Default: a fresh authentik install has it (authentik's blueprints make it).\n"
                f"  - path: {BLUEPRINT}\n") in export
        assert "  - name: cq-inline\n" in export
        # Left out of the manifests, the repository's own instance is pruned; authentik's never is.
        (tmp_path / "blueprints.yaml").unlink()
        write_manifest(tmp_path, [{"kind": "deny", "name": "cq-deny"}])
        pruned = plan_json(url, tmp_path, "--prune", "--state", state, "--force")["changes"]
        assert [(c["action"], c["address"]) for c in pruned] == [("create", "deny/cq-deny"),
                                                                 ("delete", "blueprint_instance/cq-inline")]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_last_apply_written_without_an_offset_is_read_as_utc(version: str, tmp_path: Path) -> None:
    """A hand-edited state file's `last_apply` without a time zone (review of the consequences
    branch: the comparison with the instance's aware `last_applied` crashed the plan)."""
    state = tmp_path / "state.json"
    with served(version) as (sandbox, url):
        write_manifest(tmp_path, [identification(user_fields=["username"])])
        assert run(url, "apply", str(tmp_path), "--auto-approve", "--state", str(state)).exit_code == 0
        data = json.loads(state.read_text())
        data["servers"][url]["last_apply"] = "2000-01-01T00:00:00"
        state.write_text(json.dumps(data))
        pk = instance(sandbox)["pk"]
        call(url, "POST", f"/managed/blueprints/{pk}/apply/")
        result = run(url, "plan", str(tmp_path), "--state", str(state))
        assert result.exit_code == 0, result.output
        assert "! drift explained: the blueprint was applied at " in result.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_a_policy_bound_to_a_flow_stage_binding_lists_the_binding_s_flow(version: str, tmp_path: Path) -> None:
    """default-authentication-flow-password-stage is bound to the password binding of the default
    authentication flow (fresh install): its impact reaches that flow through the binding, which
    needs the flow-stage bindings' list (review of the consequences branch)."""
    (tmp_path / "policies.yaml").write_text(
        "policies:\n  - kind: expression\n    name: default-authentication-flow-password-stage\n"
        "    expression: return True\n")
    with served(version) as (_, url):
        [change] = plan_json(url, tmp_path)["changes"]
    assert change["impact"]["flows"] == ["default-authentication-flow"]
    assert change["impact"]["brands"] == ["authentik-default"]
