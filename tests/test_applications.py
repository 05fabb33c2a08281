"""Applications, providers, property mappings, certificates and outposts (issue 17) end to end:
through the CLI against the sandbox over real HTTP, for both API versions. What the real server
does comes from the apps recordings (tests/fixtures/recordings/<version>/apps/, cited by number)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support import TOKEN, key_pair, run, served, writes

from reconciler.manifests.compiled import is_uuid
from reconciler.model.kinds import known_versions
from reconciler.sandbox import Sandbox

EXAMPLE = Path(__file__).parent.parent / "examples" / "config" / "applications" / "grafana.yaml"
CLIENT_SECRET = "grafana-client-secret-value-1"


def grafana(version: str) -> dict[str, Any]:
    """The example application in the form of `version`: 2023.10.7 has flat mapping paths, no
    invalidation flow and a newline-separated `redirect_uris` (FINDINGS apps "Differences")."""
    manifest: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    if version == "2023.10.7":
        manifest["property_mappings"][0]["kind"] = "scope"
        provider = manifest["providers"][0]
        del provider["invalidation_flow"]
        provider["redirect_uris"] = "\n".join(uri["url"] for uri in provider["redirect_uris"])
    return manifest


def write(folder: Path, manifest: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "apps.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def apply(url: str, folder: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = run(url, "apply", str(folder), "--auto-approve", *args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def plan(url: str, folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = run(url, "plan", str(folder), "--detailed-exitcode", *args, env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize("version", known_versions())
def test_the_example_application_applies_from_nothing_then_plans_empty(version: str, tmp_path: Path) -> None:
    folder = write(tmp_path / "config", grafana(version))
    env = {"GRAFANA_CLIENT_SECRET": CLIENT_SECRET}
    with served(version) as (sandbox, url):
        output = apply(url, folder, "--parallelism", "1", env=env)
        assert CLIENT_SECRET not in output and "client_secret      = (sensitive)" in output
        # the mapping before the provider that lists it, the provider before the application,
        # the application before its policy binding
        assert [(method, path.split("/")[3]) for method, path, _ in writes(sandbox)] == [
            ("POST", "propertymappings"), ("POST", "providers"), ("POST", "core"), ("POST", "policies")]
        _, _, provider_body = writes(sandbox)[1]
        _, _, app_body = writes(sandbox)[2]
        [provider] = [p for p in sandbox.objects("oauth2_provider") if p["name"] == "grafana-oauth"]
        assert app_body["provider"] == provider["pk"] and isinstance(provider["pk"], int)  # apps 190, 387
        [mapping] = [m for m in sandbox.objects(mapping_kind(version)) if m["name"] == "grafana-roles"]
        assert mapping["pk"] in provider_body["property_mappings"]
        [certificate] = sandbox.objects("certificate")
        assert provider_body["signing_key"] == certificate["pk"]
        _, _, binding_body = writes(sandbox)[3]
        [app] = [a for a in sandbox.objects("application") if a["slug"] == "grafana"]
        assert binding_body["target"] == app["pk"] and binding_body["order"] == 0
        code, text = plan(url, folder, env=env)
        assert code == 0 and "\nNo changes. Live state matches the manifests" in text, text


def mapping_kind(version: str) -> str:
    return "scope_mapping" if version == "2023.10.7" else "provider_scope_mapping"


@pytest.mark.parametrize("version", known_versions())
def test_rotating_the_client_secret_is_one_patch_of_that_field_showing_no_value(version: str, tmp_path: Path) -> None:
    folder = write(tmp_path / "config", grafana(version))
    with served(version) as (sandbox, url):
        apply(url, folder, env={"GRAFANA_CLIENT_SECRET": CLIENT_SECRET})
        rotated = {"GRAFANA_CLIENT_SECRET": "grafana-client-secret-value-2"}
        code, text = plan(url, folder, env=rotated)
        assert code == 2 and "~ client_secret = (sensitive) -> (sensitive)" in text, text
        assert "Plan: 0 to create, 1 to update" in text
        assert "value-1" not in text and "value-2" not in text
        sandbox.clear_log()
        output = apply(url, folder, env=rotated)
        assert "value-2" not in output
        [(method, path, body)] = writes(sandbox)
        assert method == "PATCH" and path.startswith("/api/v3/providers/oauth2/")
        assert body == {"client_secret": "grafana-client-secret-value-2"}
        assert plan(url, folder, env=rotated)[0] == 0


@pytest.mark.parametrize("version", known_versions())
def test_rotating_the_certificate_key_is_one_patch_of_that_field_showing_no_value(version: str,
                                                                                   tmp_path: Path) -> None:
    certificate, key = key_pair("grafana-signing")
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "grafana.pem").write_text(certificate)
    (folder / "grafana.key").write_text(key)
    (tmp_path / ".git").mkdir()  # the config repository: {file:} reads inside it
    write(folder, {"certificates": [{"name": "grafana-signing", "certificate_data": {"file": "grafana.pem"},
                                     "key_data": {"file": "grafana.key"}}]})
    state = ("--state", str(tmp_path / "state.json"))
    with served(version) as (sandbox, url):
        output = apply(url, folder, *state)
        assert "BEGIN" not in output and "+ key_data         = (sensitive)" in output
        # write-only (apps 33, 35): the state file keeps a keyed fingerprint, never the PEM
        assert "BEGIN" not in (tmp_path / "state.json").read_text()
        assert plan(url, folder, *state)[0] == 0
        _, new_key = key_pair("grafana-signing")
        (folder / "grafana.key").write_text(new_key)
        code, text = plan(url, folder, *state)
        assert code == 2 and "~ key_data = (unknown) -> (sensitive)  # changed since the last apply" in text, text
        assert "BEGIN" not in text
        sandbox.clear_log()
        assert "BEGIN" not in apply(url, folder, *state)
        [(method, path, body)] = writes(sandbox)
        assert method == "PATCH" and path.startswith("/api/v3/crypto/certificatekeypairs/")
        assert body == {"key_data": new_key.rstrip("\n")}
        assert plan(url, folder, *state)[0] == 0


@pytest.mark.parametrize("version", known_versions())
def test_prune_deletes_an_owned_provider_only_after_the_application_that_used_it(version: str,
                                                                                 tmp_path: Path) -> None:
    manifest = grafana(version)
    folder = write(tmp_path / "config", manifest)
    env = {"GRAFANA_CLIENT_SECRET": CLIENT_SECRET}
    state = ("--state", str(tmp_path / "state.json"))
    with served(version) as (sandbox, url):
        apply(url, folder, *state, env=env)
        write(folder, {"property_mappings": manifest["property_mappings"]})
        code, text = plan(url, folder, *state, "--prune", env=env)
        assert code == 2 and "Plan: 0 to create, 0 to update, 0 to replace, 3 to delete" in text, text
        sandbox.clear_log()
        apply(url, folder, *state, "--prune", "--parallelism", "1", "--force", env=env)
        deleted = [path.split("/")[3:5] for method, path, _ in writes(sandbox) if method == "DELETE"]
        assert deleted == [["policies", "bindings"], ["core", "applications"], ["providers", "oauth2"]]
        assert [p for p in sandbox.objects("oauth2_provider") if p["name"] == "grafana-oauth"] == []


def test_deleting_a_provider_an_unmanaged_application_uses_is_refused_naming_it(tmp_path: Path) -> None:
    manifest = grafana("2026.2.2")
    folder = write(tmp_path / "config", {"property_mappings": manifest["property_mappings"],
                                         "providers": manifest["providers"]})
    env = {"GRAFANA_CLIENT_SECRET": CLIENT_SECRET}
    with served() as (sandbox, url):
        apply(url, folder, env=env)
        [provider] = [p for p in sandbox.objects("oauth2_provider") if p["name"] == "grafana-oauth"]
        made_by_hand = httpx.post(f"{url}/api/v3/core/applications/", headers={"Authorization": f"Bearer {TOKEN}"},
                                  json={"name": "Hand made", "slug": "hand-made", "provider": provider["pk"]})
        assert made_by_hand.status_code == 201, made_by_hand.text
        write(folder, {"property_mappings": manifest["property_mappings"],
                       "providers": [{"kind": "oauth2", "name": "grafana-oauth", "state": "absent"}]})
        code, text = plan(url, folder, env=env)
        assert code == 1
        assert "it deletes oauth2_provider/grafana-oauth, the provider of the application hand-made" in text, text


@pytest.mark.parametrize("version", known_versions())
def test_a_plan_lists_each_kind_once_and_reads_no_object(version: str, tmp_path: Path) -> None:
    folder = write(tmp_path / "config", grafana(version))
    env = {"GRAFANA_CLIENT_SECRET": CLIENT_SECRET}
    with served(version) as (sandbox, url):
        apply(url, folder, env=env)
        sandbox.clear_log()
        assert plan(url, folder, env=env)[0] == 0
        reads = [(r.path, r.query) for r in sandbox.requests if r.method == "GET"]
        paths = [path for path, _ in reads]
        assert len(paths) == len(set(paths))  # one list call per path (every list fits one page)
        last = [path.rstrip("/").rsplit("/", 1)[1] for path in paths]
        assert not [segment for segment in last if segment.isdigit() or is_uuid(segment)], paths  # no /<id>/
        assert {"/api/v3/providers/all/", "/api/v3/providers/oauth2/", "/api/v3/core/applications/",
                "/api/v3/crypto/certificatekeypairs/", "/api/v3/policies/bindings/"} <= set(paths)
        # the application list bypasses authentik's per-user list cache (apps 434, 435)
        [(_, query)] = [(path, query) for path, query in reads if path == "/api/v3/core/applications/"]
        assert query.get("superuser_full_list") == "true"


def test_a_reference_to_a_missing_provider_fails_at_its_place(tmp_path: Path) -> None:
    manifest = grafana("2026.2.2")
    manifest["applications"][0]["provider"] = "grafana-oauht"
    folder = write(tmp_path / "config", manifest)
    with served() as (_, url):
        code, text = plan(url, folder, env={"GRAFANA_CLIENT_SECRET": CLIENT_SECRET})
    lines = (folder / "apps.yaml").read_text().splitlines()
    [(line, column)] = [(n, text.index("provider:") + 1) for n, text in enumerate(lines, 1)
                        if text.strip() == "provider: grafana-oauht"]
    assert code == 1
    assert f"{folder / 'apps.yaml'}:{line}:{column}: application/grafana: provider: {{provider: grafana-oauht}} " \
           "does not " \
           "resolve: no provider has the name 'grafana-oauht' (looked in the manifests and in 0 live providers); " \
           "did you mean 'grafana-oauth'?" in text, text


IMPLICIT = "default-provider-authorization-implicit-consent"
INVALIDATION = "default-provider-invalidation-flow"
EVERY_KIND_2026: dict[str, Any] = {
    "certificates": [
        {"name": "every-certificate", "certificate_data": {"file": "every.pem"}, "key_data": {"file": "every.key"}},
    ],
    "property_mappings": [
        {"kind": "provider_saml", "name": "every-saml-mapping", "saml_name": "email",
         "expression": "return request.user.email"},
        {"kind": "provider_scope", "name": "every-scope-mapping", "scope_name": "every", "expression": "return {}"},
        {"kind": "provider_radius", "name": "every-radius-mapping", "expression": "return {}"},
        {"kind": "source_ldap", "name": "every-ldap-source-mapping", "expression": "return {}"},
        {"kind": "notification", "name": "every-webhook-mapping", "expression": "return {}"},
    ],
    "providers": [
        {"kind": "saml", "name": "every-saml", "authorization_flow": IMPLICIT, "invalidation_flow": INVALIDATION,
         "acs_url": "https://sp.example.com/acs",
         "property_mappings": ["every-saml-mapping"]},
        {"kind": "proxy", "name": "every-proxy", "authorization_flow": IMPLICIT, "invalidation_flow": INVALIDATION,
         "external_host": "https://app.example.com", "mode": "forward_single"},
        {"kind": "ldap", "name": "every-ldap", "authorization_flow": IMPLICIT, "invalidation_flow": INVALIDATION,
         "base_dn": "DC=example,DC=com"},
        {"kind": "scim", "name": "every-scim", "url": "https://scim.example.com/v2", "token": {"env": "SCIM_TOKEN"}},
        {"kind": "oauth2", "name": "every-oauth2", "authorization_flow": IMPLICIT, "invalidation_flow": INVALIDATION,
         "redirect_uris": [{"matching_mode": "regex", "url": "https://.*\\.example\\.com/cb"}],
         "property_mappings": ["every-scope-mapping"], "signing_key": "every-certificate"},
        {"kind": "radius", "name": "every-radius", "authorization_flow": IMPLICIT, "invalidation_flow": INVALIDATION,
         "client_networks": "10.0.0.0/8", "property_mappings": ["every-radius-mapping"]},
        {"kind": "rac", "name": "every-rac", "authorization_flow": IMPLICIT,
         "endpoints": [{"name": "every-endpoint", "protocol": "ssh", "host": "ssh.example.com",
                        "auth_mode": "static"}]},
    ],
    "applications": [
        {"slug": "every-app", "name": "Every", "provider": "every-saml", "backchannel_providers": ["every-scim"],
         "entitlements": [{"name": "every-entitlement", "attributes": {"level": 1}}],
         "policies": [{"group": "authentik Admins", "order": 0}]},
    ],
    "outpost_connections": [
        {"kind": "docker", "name": "every-docker", "url": "unix:///var/run/docker.sock", "local": True},
        {"kind": "kubernetes", "name": "every-kubernetes", "kubeconfig": {}, "local": True},
    ],
    "outposts": [
        {"name": "every-outpost", "type": "ldap", "providers": ["every-ldap"], "service_connection": "every-docker",
         "config": {"log_level": "info"}},
    ],
}


def test_exporting_one_object_of_every_new_kind_plans_no_changes_byte_stable(tmp_path: Path) -> None:
    # every family and a kind of each shape (the enterprise providers need a licence the
    # recorded server lacked; test_kinds makes one of each against a licensed sandbox)
    folder = write(tmp_path / "seed", EVERY_KIND_2026)
    certificate, key = key_pair("every")
    (folder / "every.pem").write_text(certificate)
    (folder / "every.key").write_text(key)
    (tmp_path / ".git").mkdir()
    env = {"SCIM_TOKEN": "scim-token-value-1"}
    sandbox = Sandbox(api_version="2026.2.2", token=TOKEN)
    with sandbox.serve_in_thread() as url:
        apply(url, folder, env=env)
        first, second = tmp_path / "first", tmp_path / "second"
        exported = run(url, "export", "--out", str(first))
        assert exported.exit_code == 0, exported.output
        written = "".join(p.read_text() for p in first.rglob("*.yaml"))
        assert "scim-token-value-1" not in written and "BEGIN" not in written
        # the secrets the server returns in clear become variables to set (apps 190, 316, 324)
        listed = [line.strip().split(": ", 1) for line in exported.stderr.splitlines()[1:] if ": " in line]
        assert sorted(where for _, where in listed) == ["oauth2_provider/every-oauth2 client_secret",
                                                        "radius_provider/every-radius shared_secret",
                                                        "scim_provider/every-scim token"]
        code, text = plan(url, first, env=live_values(sandbox, listed))
        assert code == 0 and "\nNo changes. Live state matches the manifests" in text, text
        assert run(url, "export", "--out", str(second)).exit_code == 0
        assert files(first) == files(second)
        # unchanged defaults stay out: the built-in mappings, the certificate, the embedded outpost
        certificates = (first / "certificates" / "certificate.yaml").read_text()
        assert "every-certificate" in certificates and "Self-signed" not in certificates
        outposts = (first / "outposts" / "outpost.yaml").read_text()
        assert "every-outpost" in outposts and "authentik Embedded Outpost" not in outposts
        assert "    provider: every-saml\n" in (first / "applications" / "every-app.yaml").read_text()
        assert "every-endpoint" in "".join(p.read_text() for p in sorted((first / "providers").rglob("*.yaml")))
    shutil.rmtree(tmp_path / "seed")


def live_values(sandbox: Sandbox, listed: list[list[str]]) -> dict[str, str]:
    """Each exported variable set to the value the server holds, as a user would."""
    live = {o["name"]: o for kind in ("oauth2_provider", "radius_provider", "scim_provider")
            for o in sandbox.objects(kind)}
    values = {}
    for variable, where in listed:
        address, field = where.split()
        values[variable] = live[address.split("/")[1]][field]
    return values


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_enterprise_provider_without_a_licence_is_refused_naming_the_licence(tmp_path: Path) -> None:
    # apps 361: field validation first, then the licence
    folder = write(tmp_path / "config", {"providers": [
        {"kind": "microsoft_entra", "name": "entra", "client_id": "id", "client_secret": {"env": "ENTRA_SECRET"},
         "tenant_id": "tenant"}]})
    with served() as (_, url):
        result = run(url, "apply", str(folder), "--auto-approve", env={"ENTRA_SECRET": "entra-secret-value-1"})
    assert result.exit_code == 1
    assert "POST /providers/microsoft_entra/: authentik rejected the request: Enterprise is required to " \
           "create/update this object. (this needs an authentik Enterprise licence)" in result.output
    assert "entra-secret-value-1" not in result.output


def test_the_readme_manifest_of_applications_and_providers_validates(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Applications and providers", 1)[1]
    manifest = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "apps.yaml").write_text(manifest)
    result = run("http://127.0.0.1:9", "validate", str(tmp_path / "apps.yaml"), "--api-version", "2026.2.2")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("version", known_versions())
def test_a_generated_key_pair_is_one_post_to_generate_and_its_key_never_leaves_authentik(version: str,
                                                                                        tmp_path: Path) -> None:
    # apps 24, 26: POST .../generate/ {common_name, validity_days, subject_alt_name} answers 200
    folder = write(tmp_path / "config", {"certificates": [
        {"name": "grafana-generated", "generate": {"validity_days": 365, "subject_alt_name": "grafana.example.com"}}]})
    saved = tmp_path / "plan.json"
    with served(version) as (sandbox, url):
        assert run(url, "plan", str(folder), "--out", str(saved)).exit_code == 0
        output = apply_saved(url, saved)
        assert "BEGIN" not in output and "BEGIN" not in saved.read_text()
        [(method, path, body)] = writes(sandbox)
        assert (method, path) == ("POST", "/api/v3/crypto/certificatekeypairs/generate/")
        assert body == {"common_name": "grafana-generated", "validity_days": 365,
                        "subject_alt_name": "grafana.example.com"}
        [pair] = [c for c in sandbox.objects("certificate") if c["name"] == "grafana-generated"]
        assert pair["cert_subject"] == "OU=Self-signed,O=authentik,CN=grafana-generated"
        code, text = plan(url, folder)
        assert code == 0 and "\nNo changes." in text, text


def apply_saved(url: str, saved: Path) -> str:
    result = run(url, "apply", "--plan", str(saved), "--auto-approve")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("version", "written", "own"), [("2023.10.7", "provider_scope", "scope"),
                                                          ("2026.2.2", "scope", "provider_scope")])
def test_the_other_versions_name_of_a_mapping_kind_is_refused_naming_both(version: str, written: str, own: str,
                                                                           tmp_path: Path) -> None:
    # FINDINGS apps "Differences": 2023.10.7's mapping paths are flat (/propertymappings/scope/)
    folder = write(tmp_path / "config", {"property_mappings": [
        {"kind": written, "name": "roles", "scope_name": "roles", "expression": "return {}"}]})
    result = run("http://127.0.0.1:9", "validate", str(folder), "--api-version", version)
    assert result.exit_code == 1
    other = next(v for v in known_versions() if v != version)
    assert f'{folder / "apps.yaml"}:2:3: {written}/roles: kind: unknown kind "{written}" (that is authentik ' \
           f"{other}'s name; authentik {version} calls it '{own}') in 'property_mappings' for authentik {version}" \
           in result.output, result.output


def test_deleting_an_application_says_authentik_deletes_its_backchannel_provider_too(tmp_path: Path) -> None:
    # apps 529, 549: the SCIM provider that was the application's backchannel provider is gone
    scim = {"kind": "scim", "name": "grafana-scim", "url": "https://scim.example.com/v2", "token": {"env": "SCIM"}}
    app = {"slug": "grafana", "name": "Grafana", "backchannel_providers": ["grafana-scim"]}
    folder = write(tmp_path / "config", {"providers": [scim], "applications": [app]})
    env = {"SCIM": "scim-token-value-1"}
    with served() as (sandbox, url):
        apply(url, folder, env=env)
        write(folder, {"providers": [scim], "applications": [{"slug": "grafana", "state": "absent"}]})
        code, text = plan(url, folder, env=env)
        # the manifests keep the provider: the delete is refused rather than losing it
        assert code == 1 and "cannot delete application/grafana: authentik would delete " \
                             "scim_provider/grafana-scim with it, which the manifests keep" in text, text
        write(folder, {"applications": [{"slug": "grafana", "state": "absent"}]})
        code, text = plan(url, folder, env=env)
        assert code == 2 and "authentik also deletes scim_provider/grafana-scim" in text, text
        apply(url, folder, env=env)
        assert [p for p in sandbox.objects("scim_provider") if p["name"] == "grafana-scim"] == []
