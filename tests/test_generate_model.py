"""The committed model, schemas and seeds are exactly what the committed script derives from the
committed inputs (scripts/inputs), and those inputs exactly what scripts/derive_inputs.py takes
from the shared specs and recordings (when they are beside the checkout, as in CI)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import generator

from reconciler.model.kinds import known_versions, load_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
INPUTS = ROOT / "scripts" / "inputs"
PER_VERSION = ["schemas/api-{v}.json", "schemas/manifest-{v}.schema.json", "reconciler/model/seeds/{v}.json",
               "reconciler/model/blueprints/{v}.json"]
ONCE = ["schemas/families.json"]


def files_under(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def run_script(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], check=True, capture_output=True)


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    run_script("generate_model.py", "--out", str(tmp_path))
    expected = sorted([p.format(v=v) for v in known_versions() for p in PER_VERSION] + ONCE)
    generated = files_under(tmp_path)
    assert sorted(generated) == expected
    stale = [name for name in expected if (ROOT / name).read_bytes() != generated[name]]
    assert stale == [], f"stale generated files (rerun scripts/generate_model.py): {stale}"


@pytest.mark.skipif(not (SHARED / "authentik-openapi").is_dir(), reason="../shared is not beside this checkout")
def test_committed_inputs_are_derived_from_the_shared_material(tmp_path: Path) -> None:
    run_script("derive_inputs.py", "--shared", str(SHARED), "--out", str(tmp_path))
    derived, committed = files_under(tmp_path), files_under(INPUTS)
    assert sorted(derived) == sorted(committed)
    stale = [name for name in derived if derived[name] != committed[name]]
    assert stale == [], f"stale inputs (rerun scripts/derive_inputs.py): {stale}"


def committed_spec(version: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((INPUTS / version / "openapi.json").read_text())
    return spec


def test_a_reference_whose_type_is_not_its_targets_id_type_fails_the_run() -> None:
    spec = copy.deepcopy(committed_spec("2026.2.2"))
    spec["components"]["schemas"]["PolicyBindingRequest"]["properties"]["user"] = {"type": "string", "format": "uuid"}
    with pytest.raises(SystemExit, match=r"^/policies/bindings/: field 'user' is a uuid but 'user' ids are ints$"):
        generator().build_model(spec, INPUTS / "2026.2.2", "2026.2.2")


def test_an_unknown_uuid_field_fails_the_run() -> None:
    spec = copy.deepcopy(committed_spec("2026.2.2"))
    spec["components"]["schemas"]["DenyStageRequest"]["properties"]["mystery"] = {"type": "string", "format": "uuid"}
    with pytest.raises(SystemExit, match=r"^/stages/deny/: unmodelled reference field 'mystery'$"):
        generator().build_model(spec, INPUTS / "2026.2.2", "2026.2.2")


def test_ids_are_typed_and_integer_foreign_keys_found() -> None:
    raw = load_model("2026.2.2").raw
    assert {name: t.get("id_type") for name, t in raw["targets"].items()} == {
        "stage": "uuid", "policy": "uuid", "flow": "uuid", "flow_stage_binding": "uuid", "binding_target": None,
        "certificate": "uuid", "property_mapping": "uuid", "provider": "int", "application": "uuid",
        "outpost_connection": "uuid", "outpost": "uuid", "prompt_field": "uuid", "webauthn_device_type": "uuid",
        "source": "uuid", "group": "uuid", "user": "int", "endpoint_connector": "uuid", "brand": "uuid",
        "role": "uuid", "notification_transport": "uuid", "notification_rule": "uuid",
        "lifecycle_rule": "uuid", "reviewer": "uuid", "blueprint_instance": "uuid"}
    # providers (apps 190, 245, 277, 302) and users (directory 67) have integer pks, entitlements
    # `pbm_uuid` and no `pk` (apps 446),
    # brands and lifecycle rules their own id field (directory 204, 465), and the settings singleton
    # none (directory 237)
    assert {(k["id_field"], k["id_type"]) for k in raw["kinds"].values()} == {
        ("pk", "uuid"), ("pk", "int"), ("pbm_uuid", "uuid"), ("brand_uuid", "uuid"), ("id", "uuid"), ("", "str")}
    assert [name for name, k in raw["kinds"].items() if k.get("singleton")] == ["settings"]
    providers = set(raw["sections"]["providers"].values())
    assert {name for name, k in raw["kinds"].items() if k["id_type"] == "int"} == providers | {"user"}
    user = raw["kinds"]["policy_binding"]["fields"]["user"]
    assert (user["type"], user["reference"]) == ("integer", "user")


def test_brands_guard_their_flows_and_sections_come_in_family_order() -> None:
    for version, path in (("2023.10.7", "/core/tenants/"), ("2026.2.2", "/core/brands/")):
        raw = load_model(version).raw
        brand = raw["targets"]["brand"]
        assert (brand["path"], "flows" in brand) == (path, False)
        assert brand["guards"] == dict.fromkeys(["flow_authentication", "flow_invalidation", "flow_recovery",
                                                 "flow_unenrollment", "flow_user_settings", "flow_device_code"],
                                                "flow")
        brand_section = "brands" if version == "2026.2.2" else "tenants"
        settings = ["settings"] if version == "2026.2.2" else []  # 2023 has no /admin/settings/ (directory 237)
        lifecycle = ["lifecycle_rules"] if version == "2026.2.2" else []  # nor /lifecycle/rules/ (FINDINGS)
        assert list(raw["sections"]) == [*SECTIONS, "groups", "users", "roles", brand_section, "sources",
                                         "notification_transports", "notification_rules", *lifecycle, "blueprints",
                                         *settings]
        assert raw["section_nouns"]["outpost_connections"] == ["outpost connection", "outpost connections"]
        assert raw["section_nouns"]["blueprints"] == ["blueprint instance", "blueprint instances"]
    families = json.loads((ROOT / "schemas" / "families.json").read_text())
    assert list(families["sections"]) == [*SECTIONS, "groups", "users", "roles", "brands", "tenants", "sources",
                                          "notification_transports", "notification_rules", "lifecycle_rules",
                                          "blueprints", "settings"]
    assert families["sections"]["flows"] == ["flow", "flows"]


# Certificates and mappings before providers, providers before applications and outposts (issue 17).
SECTIONS = ["stages", "policies", "flows", "certificates", "property_mappings", "providers", "applications",
            "outpost_connections", "outposts"]


def test_model_covers_every_stage_kind_and_the_flow_families() -> None:
    # 27 stage kinds in 2026.2.2 and 21 in 2023.10.7 (KINDS.md tables), prompt fields included;
    # flows, flow-stage bindings, policy bindings and every policy kind (flows/FINDINGS.md).
    for version, stages, policies in (("2026.2.2", 27, 8), ("2023.10.7", 21, 6)):
        model = load_model(version)
        assert len(model.sections["stages"]) == stages
        assert len(model.sections["policies"]) == policies
        assert model.sections["flows"] == {"flow": "flow"}
        assert {"flow_stage_binding", "policy_binding"} <= set(model.kinds)
        assert len([k for k in model.kinds.values() if k.section in ("stages", "policies", "flows")
                    or k.name in ("flow_stage_binding", "policy_binding")]) == stages + policies + 3
    assert set(load_model("2026.2.2").kinds) - set(load_model("2023.10.7").kinds) == {
        "authenticator_email", "authenticator_endpoint_gdtc", "endpoints", "mtls", "redirect", "source",
        "geoip_policy", "unique_password_policy", "brand", "kerberos_source", "scim_source", "telegram_source",
        "settings", "lifecycle_rule", *APPS_2026_ONLY}


def test_model_covers_every_application_provider_mapping_certificate_and_outpost_kind() -> None:
    # FINDINGS apps (2026.2.2 "Property mappings", "Providers", "Differences"): every kind under
    # /providers/ and /propertymappings/, named for their path, and 2023's flat mapping paths.
    new = load_model("2026.2.2")
    assert set(new.sections["providers"]) == {"oauth2", "saml", "proxy", "ldap", "radius", "scim", "rac",
                                              "google_workspace", "microsoft_entra", "ssf", "wsfed"}
    assert set(new.sections["property_mappings"]) == {
        "provider_scope", "provider_saml", "provider_scim", "provider_radius", "provider_rac",
        "provider_google_workspace", "provider_microsoft_entra", "source_ldap", "source_oauth", "source_saml",
        "source_scim", "source_kerberos", "source_plex", "source_telegram", "notification"}
    old = load_model("2023.10.7")
    assert set(old.sections["providers"]) == {"oauth2", "saml", "proxy", "ldap", "radius", "scim"}
    assert set(old.sections["property_mappings"]) == {"scope", "saml", "scim", "ldap", "notification"}
    for model in (new, old):
        assert model.sections["certificates"] == {"certificate": "certificate"}
        assert model.sections["outposts"] == {"outpost": "outpost"}
        assert set(model.sections["outpost_connections"]) == {"docker", "kubernetes"}
        assert model.kinds["application"].list_params == {"superuser_full_list": "true"}  # apps 434, 435
        assert model.kinds["certificate"].write_only_fields == {"certificate_data", "key_data"}  # apps 33, 35
    assert [n.kind for n in new.kinds["application"].nested.values()] == ["policy_binding", "application_entitlement"]
    assert [n.kind for n in old.kinds["application"].nested.values()] == ["policy_binding"]
    assert new.kinds["rac_provider"].nested["endpoints"].parent == "provider"


APPS_2026_ONLY = {"application_entitlement", "rac_endpoint", "rac_provider", "google_workspace_provider",
                  "microsoft_entra_provider", "ssf_provider", "wsfed_provider", "provider_scope_mapping",
                  "provider_saml_mapping", "provider_scim_mapping", "provider_radius_mapping", "provider_rac_mapping",
                  "provider_google_workspace_mapping", "provider_microsoft_entra_mapping", "source_ldap_mapping",
                  "source_oauth_mapping", "source_saml_mapping", "source_scim_mapping", "source_kerberos_mapping",
                  "source_plex_mapping", "source_telegram_mapping"}


def test_identity_is_model_data() -> None:
    model = load_model("2026.2.2")
    flow, binding, policy_binding = (model.kinds[k] for k in ("flow", "flow_stage_binding", "policy_binding"))
    assert (flow.key, flow.url_field, flow.family) == (("slug",), "slug", "flow")  # FINDINGS flows 49-53
    assert (binding.key, binding.disambiguator) == (("target", "stage"), "order")  # flows 77, 78
    assert policy_binding.alternatives == ("policy", "group", "user")  # flows 237, 239
    assert model.kinds["password_policy"].family == model.kinds["expression_policy"].family == "policy"  # 203, 204
    assert model.kinds["password"].family == "stage" and model.kinds["prompt_field"].family == "prompt_field"
    assert binding.cascade == ("target", "stage")  # flows 119-124
    assert [c.fields for c in model.kinds["event_matcher_policy"].companions] == [("action",)]  # flows 142


def test_model_knows_what_the_recordings_show() -> None:
    duo = load_model("2023.10.7").kinds["authenticator_duo"]
    assert duo.write_only_fields == {"client_secret", "admin_secret_key"}  # recordings 11, 14
    sms = load_model("2026.2.2").kinds["authenticator_sms"]
    assert sms.write_only_fields == set() and {"auth", "auth_password"} <= sms.sensitive_fields  # recording 15
    assert "flow_set" in sms.read_only and "flow_set" not in sms.fields  # FINDINGS: never send flow_set
    totp_digits = [load_model(v).kinds["authenticator_totp"].fields["digits"].spec["enum"] for v in known_versions()]
    assert totp_digits == [[6, 8], ["6", "8"]]  # KINDS.md: integer in 2023, string in 2026
    ident = load_model("2026.2.2").kinds["identification"]
    assert ident.fields["password_stage"].reference == "stage" and ident.fields["sources"].reference == "source"
    assert ident.no_default == ("user_fields",)  # recording 09
