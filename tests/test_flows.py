"""Flows, bindings, policies and policy bindings end to end: through the CLI against the sandbox over
real HTTP, for both API versions."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import run, served, writes

from reconciler.sandbox import Sandbox

VERSIONS = ("2023.10.7", "2026.2.2")
ENV = {"DUO_SECRET": "flow-duo-secret-7c1"}
PASSWORD_BACKEND = "authentik.core.auth.InbuiltBackend"


def write(path: Path, manifest: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def new_login_flow() -> dict[str, Any]:
    """A whole authentication flow from nothing: identification, password, Duo behind an expression
    policy, login."""
    return {
        "stages": [
            {"kind": "identification", "name": "login-identification", "user_fields": ["username", "email"]},
            {"kind": "password", "name": "login-password", "backends": [PASSWORD_BACKEND]},
            {"kind": "authenticator_duo", "name": "login-duo", "client_id": "DI0", "api_hostname": "api.example",
             "client_secret": {"env": "DUO_SECRET"}},
            {"kind": "user_login", "name": "login-done"},
        ],
        "policies": [{"kind": "expression", "name": "login-outside-office",
                      "expression": "return not ak_client_ip.is_private"}],
        "flows": [{
            "slug": "login", "name": "Login", "title": "Welcome", "designation": "authentication",
            "bindings": [
                {"stage": "login-identification", "order": 10},
                {"stage": "login-password", "order": 20},
                {"stage": "login-duo", "order": 30, "re_evaluate_policies": True,
                 "policies": [{"policy": "login-outside-office", "order": 0}]},
                {"stage": "login-done", "order": 100},
            ],
        }],
    }


@contextmanager
def login_flow_applied(tmp_path: Path, version: str) -> Iterator[tuple[Sandbox, str, Path, dict[str, Any]]]:
    """A sandbox over HTTP where the new login flow has been applied, and its manifest to edit."""
    manifest = new_login_flow()
    path = write(tmp_path / "login.yaml", manifest)
    with served(version) as (sandbox, url):
        assert run(url, "apply", str(path), "--auto-approve", env=ENV).exit_code == 0
        yield sandbox, url, path, manifest


def by(sandbox: Sandbox, kind: str, **match: Any) -> dict[str, Any]:
    [found] = [o for o in sandbox.objects(kind) if all(o.get(k) == v for k, v in match.items())]
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_authentication_flow_applies_from_nothing_and_plans_empty(tmp_path: Path, version: str) -> None:
    manifest = write(tmp_path / "login.yaml", new_login_flow())
    with served(version) as (sandbox, url):
        result = run(url, "apply", str(manifest), "--auto-approve", "--parallelism", "1", env=ENV)
        assert result.exit_code == 0, result.output
        assert "Applied 11 of 11 changes." in result.output
        calls = [(method, path[len("/api/v3"):]) for method, path, _ in writes(sandbox)]
        assert {method for method, _ in calls} == {"POST"}
        # What is referenced is created first: stages and the policy, the flow, its bindings, then
        # the policy binding on the Duo binding.
        assert [path for _, path in calls] == [
            "/stages/identification/", "/stages/password/", "/stages/authenticator/duo/", "/stages/user_login/",
            "/policies/expression/", "/flows/instances/", "/flows/bindings/", "/flows/bindings/",
            "/flows/bindings/", "/flows/bindings/", "/policies/bindings/"]
        flow = by(sandbox, "flow", slug="login")
        duo_binding = by(sandbox, "flow_stage_binding", target=flow["pk"], order=30)
        policy_binding = by(sandbox, "policy_binding", target=duo_binding["pk"])
        assert policy_binding["policy"] == by(sandbox, "policy", name="login-outside-office")["pk"]
        assert duo_binding["re_evaluate_policies"] is True
        again = run(url, "plan", str(manifest), "--detailed-exitcode", env=ENV)
        assert again.exit_code == 0, again.output
        assert again.stdout.startswith("No changes. Live state matches the manifests")


@pytest.mark.parametrize("version", VERSIONS)
def test_reordering_two_bindings_is_exactly_two_patches_of_order(tmp_path: Path, version: str) -> None:
    with login_flow_applied(tmp_path, version) as (sandbox, url, path, manifest):
        bindings = manifest["flows"][0]["bindings"]
        bindings[0]["order"], bindings[1]["order"] = 20, 10  # password before identification
        write(path, manifest)
        plan = run(url, "plan", str(path), env=ENV)
        assert "~ flow_stage_binding/login/login-identification" in plan.output
        assert "~ order = 10 -> 20" in plan.output and "~ order = 20 -> 10" in plan.output
        assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete" in plan.output
        sandbox.clear_log()
        assert run(url, "apply", str(path), "--auto-approve", env=ENV).exit_code == 0
        assert [(method, body) for method, _, body in writes(sandbox)] == [("PATCH", {"order": 20}),
                                                                            ("PATCH", {"order": 10})]
        assert run(url, "plan", str(path), "--detailed-exitcode", env=ENV).exit_code == 0


DEFAULT_FLOW = ["default-authentication-identification", "default-authentication-password",
                "default-authentication-mfa-validation", "default-authentication-login"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stage_joins_the_live_default_authentication_flow_without_a_uuid(tmp_path: Path, version: str) -> None:
    manifest = {
        "stages": [{"kind": "authenticator_duo", "name": "duo-mfa", "client_id": "DI0", "api_hostname": "api.example",
                    "client_secret": {"env": "DUO_SECRET"}}],
        "policies": [{"kind": "expression", "name": "outside-office",
                      "expression": "return not ak_client_ip.is_private"}],
        "flows": [{"slug": "default-authentication-flow", "bindings": [
            {"stage": DEFAULT_FLOW[0], "order": 10},
            {"stage": DEFAULT_FLOW[1], "order": 20},
            {"stage": "duo-mfa", "order": 25, "policies": [{"policy": "outside-office", "order": 0}]},
            {"stage": DEFAULT_FLOW[2], "order": 30},
            {"stage": DEFAULT_FLOW[3], "order": 100},
        ]}],
    }
    path = write(tmp_path / "flow.yaml", manifest)
    with served(version) as (sandbox, url):
        before = {b["pk"] for b in sandbox.objects("flow_stage_binding")}
        result = run(url, "apply", str(path), "--auto-approve", env=ENV)
        assert result.exit_code == 0, result.output
        assert [m for m, _, _ in writes(sandbox)] == ["POST"] * 4  # stage, policy, binding, policy binding
        flow = by(sandbox, "flow", slug="default-authentication-flow")
        added = by(sandbox, "flow_stage_binding", target=flow["pk"], order=25)
        assert added["stage"] == by(sandbox, "authenticator_duo", name="duo-mfa")["pk"]
        assert before <= {b["pk"] for b in sandbox.objects("flow_stage_binding")}  # the defaults stay
        assert run(url, "plan", str(path), "--detailed-exitcode", env=ENV).exit_code == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_binding_left_out_of_a_listed_flow_is_planned_and_shown_as_a_delete(tmp_path: Path, version: str) -> None:
    with login_flow_applied(tmp_path, version) as (sandbox, url, path, manifest):
        del manifest["flows"][0]["bindings"][1]  # login-password leaves the flow
        write(path, manifest)
        plan = run(url, "plan", str(path), "--detailed-exitcode", env=ENV)
        assert plan.exit_code == 2
        binding = by(sandbox, "flow_stage_binding", stage=by(sandbox, "password", name="login-password")["pk"])
        assert (f"  - flow_stage_binding/login/login-password  (delete: DELETE /api/v3/flows/bindings/"
                f"{binding['pk']}/)\n        (not listed in flow/login)\n") in plan.output
        assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete" in plan.output
        sandbox.clear_log()
        assert run(url, "apply", str(path), "--auto-approve", env=ENV).exit_code == 0
        assert [(m, p) for m, p, _ in writes(sandbox)] == [("DELETE", f"/api/v3/flows/bindings/{binding['pk']}/")]
        # The stage itself stays: only the binding was managed away.
        assert by(sandbox, "password", name="login-password")


@pytest.mark.parametrize("version", VERSIONS)
def test_deleting_a_stage_a_managed_flow_binds_is_refused_with_the_flow_named(tmp_path: Path, version: str) -> None:
    with login_flow_applied(tmp_path, version) as (sandbox, url, path, manifest):
        manifest["stages"][1] = {"kind": "password", "name": "login-password", "state": "absent"}
        write(path, manifest)
        sandbox.clear_log()
        result = run(url, "plan", str(path), env=ENV)
        assert result.exit_code == 1
        assert result.output == (
            f"{path}:30:5: flow_stage_binding/login/login-password: stage: {{stage: login-password}} is marked "
            f"state: absent in {path}:7:3, but flow/login still binds it; remove this entry or keep the stage\n"
            "1 problem found.\n")
        assert writes(sandbox) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reference_to_a_missing_flow_or_policy_fails_with_its_location(tmp_path: Path, version: str) -> None:
    manifest = {
        "stages": [{"kind": "identification", "name": "ident", "user_fields": ["email"],
                    "enrollment_flow": {"flow": "no-such-flow"}}],
        "flows": [{"slug": "default-authentication-flow", "policies": [{"policy": "no-such-policy", "order": 0}]}],
    }
    path = write(tmp_path / "refs.yaml", manifest)
    with served(version) as (sandbox, url):
        result = run(url, "plan", str(path))
        assert result.exit_code == 1
        lines = result.output.splitlines()
        assert lines[0].startswith(f"{path}:6:3: identification/ident: enrollment_flow: {{flow: no-such-flow}} does "
                                   "not resolve: no flow has the slug 'no-such-flow' (looked in the manifests and in ")
        assert lines[1].startswith(f"{path}:11:5: policy_binding/default-authentication-flow/policy:no-such-policy: "
                                   "policy: {policy: no-such-policy} does not resolve: no policy has the name "
                                   "'no-such-policy' (looked in the manifests and in ")
        assert lines[2] == "2 problems found."
        assert writes(sandbox) == []
