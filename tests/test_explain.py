"""`reconciler explain`: the kinds of an API version by section, and a kind's fields, read from the
model of the version asked for, offline (no server: the URL given to `run` is never reached)."""
from __future__ import annotations

import json

from support import run

from reconciler.model.explain import explain_kind, list_kinds
from reconciler.model.kinds import load_model

NOWHERE = "http://127.0.0.1:9"


def explain(*args: str) -> str:
    result = run(NOWHERE, "explain", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_listing_groups_kinds_by_section_with_their_manifest_and_model_kinds() -> None:
    listing = explain("--api-version", "2026.2.2")
    assert listing.startswith("Kinds of authentik 2026.2.2 (manifest kind, model kind, API path); "
                              "`reconciler explain KIND` shows one kind's fields.\n\nstages:\n")
    lines = [" ".join(line.split()) for line in listing.splitlines()]  # columns as wide as the longest kind
    assert lines[3] == "authenticator_duo authenticator_duo /api/v3/stages/authenticator/duo/"
    policies = lines.index("policies:")
    assert lines[policies:lines.index("flows:")] == [
        "policies:",
        "dummy dummy_policy /api/v3/policies/dummy/",
        "event_matcher event_matcher_policy /api/v3/policies/event_matcher/",
        "expression expression_policy /api/v3/policies/expression/",
        "geoip geoip_policy /api/v3/policies/geoip/",
        "password password_policy /api/v3/policies/password/",
        "password_expiry password_expiry_policy /api/v3/policies/password_expiry/",
        "reputation reputation_policy /api/v3/policies/reputation/",
        "unique_password unique_password_policy /api/v3/policies/unique_password/",
        ""]
    assert lines[lines.index("flows:"):lines.index("certificates:")] == [
        "flows:",
        "flow flow /api/v3/flows/instances/",
        "flow_stage_binding flow_stage_binding /api/v3/flows/bindings/ (written in a flow's bindings:)",
        "policy_binding policy_binding /api/v3/policies/bindings/ (written in a flow's policies: and a "
        "flow_stage_binding's policies: and an application's policies:)",
        ""]
    # issue 17: the kinds nested in a provider's or an application's entry go with its section
    assert "rac_endpoint rac_endpoint /api/v3/rac/endpoints/ (written in a rac_provider's endpoints:)" in lines
    assert lines[lines.index("applications:"):lines.index("applications:") + 3] == [
        "applications:", "application application /api/v3/core/applications/",
        "application_entitlement application_entitlement /api/v3/core/application_entitlements/ "
        "(written in an application's entitlements:)"]
    assert lines[-11:] == ["notification_rules:", "notification_rule notification_rule /api/v3/events/rules/", "",
                           "lifecycle_rules:", "lifecycle_rule lifecycle_rule /api/v3/lifecycle/rules/", "",
                           "blueprints:", "blueprint_instance blueprint_instance /api/v3/managed/blueprints/", "",
                           "settings:", "settings settings /api/v3/admin/settings/"]
    # The default is the newest model.
    assert explain() == listing


def test_the_listing_follows_the_api_version() -> None:
    listing = explain("--api-version", "2023.10.7")
    policies = listing.split("policies:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in policies] == ["dummy", "event_matcher", "expression", "password",
                                                      "password_expiry", "reputation"]
    assert "geoip" not in listing and "endpoints" not in listing


def test_a_kind_shows_its_fields_like_kubectl_explain() -> None:
    text = explain("identification", "--api-version", "2026.2.2")
    assert text.startswith(
        "KIND:       identification (stages; model kind identification)\n"
        "VERSION:    authentik 2026.2.2\n"
        "PATH:       /api/v3/stages/identification/\n"
        "KNOWN BY:   name\n"
        "\n"
        "FIELDS:\n"
        "  name <string>  required\n"
        '  user_fields <list of string>  one of: "email", "username", "upn"\n'
        "      Fields of the user object to match against. (Hold shift to select multiple options)\n"
        "  password_stage <{stage: NAME}>  default: null, nullable, only a stage of kind password\n"
        "      When set, shows a password field, instead of showing the password field as separate step.\n")
    assert ("  sources <list of {source: SLUG}>  default: []\n"
            "      Specify which sources should be shown.\n") in text
    assert text.endswith("\nREAD-ONLY (set by the server, never written): pk, component, verbose_name, "
                         "verbose_name_plural, meta_model_name, flow_set\n")


def test_secrets_and_write_only_fields_are_marked() -> None:
    text = explain("authenticator_duo")
    assert "  client_secret <string>  required, write-only (never read back; kept as a fingerprint)\n" in text
    assert "  admin_secret_key <string>  write-only (never read back; kept as a fingerprint)\n" in text
    assert "  auth <string>  required, secret (shown as (sensitive))\n" in explain("authenticator_sms")


def test_field_types_follow_the_api_version() -> None:
    # TOTP digits are a number in 2023.10.7 and a string in 2026.2.2 (a wrong model never plans clean).
    old = explain("authenticator_totp", "--api-version", "2023.10.7")
    new = explain("authenticator_totp", "--api-version", "2026.2.2")
    assert "  digits <integer>  required, one of: 6, 8\n" in old
    assert '  digits <string>  required, one of: "6", "8"\n' in new


def test_manifest_and_model_kind_names_both_work() -> None:
    # `password` is the stage kind (a model kind wins); the policy is `password_policy`.
    assert explain("password").startswith("KIND:       password (stages; model kind password)\n")
    assert explain("password_policy").startswith("KIND:       password (policies; model kind password_policy)\n")
    assert explain("expression") == explain("expression_policy")


def test_a_binding_kind_says_where_it_is_written_and_how_its_keys_are_written() -> None:
    text = explain("flow_stage_binding")
    assert ("KNOWN BY:   target, stage\n"
            "WRITTEN IN: a flow's bindings:\n"
            "\n"
            "FIELDS:\n"
            "  target <the entry it is written in>\n"
            "  stage <NAME of a stage>  required\n") in text
    assert "  user <USERNAME of a user>  default: null, nullable\n" in explain("policy_binding")


def test_an_unknown_kind_exits_1_with_close_matches() -> None:
    result = run(NOWHERE, "explain", "expresion")
    assert (result.exit_code, result.output) == (
        1, "error: unknown kind 'expresion' in authentik 2026.2.2 (did you mean 'expression' or "
           "'expression_policy'?)\n")
    geoip = run(NOWHERE, "explain", "geoip", "--api-version", "2023.10.7")
    assert (geoip.exit_code, geoip.output) == (1, "error: kind 'geoip' is authentik 2026.2.2's, not 2023.10.7's\n")
    tenant = run(NOWHERE, "explain", "tenant", "--api-version", "2026.2.2")
    assert (tenant.exit_code, tenant.output) == (
        1, "error: kind 'tenant' is authentik 2023.10.7's, not 2026.2.2's; authentik 2026.2.2 has 'brand' instead\n")
    as_json = run(NOWHERE, "explain", "nope", "--format", "json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {"error": {"type": "error",
                                                    "message": "unknown kind 'nope' in authentik 2026.2.2"}}


def test_json_carries_the_same_data() -> None:
    data = json.loads(explain("identification", "--format", "json"))
    assert {key: data[key] for key in ("api_version", "manifest_kind", "kind", "path", "section", "key")} == {
        "api_version": "2026.2.2", "manifest_kind": "identification", "kind": "identification",
        "path": "/api/v3/stages/identification/", "section": "stages", "key": ["name"]}
    password_stage = next(f for f in data["fields"] if f["name"] == "password_stage")
    assert password_stage == {
        "name": "password_stage", "type": "{stage: NAME}", "required": False, "default": None, "nullable": True,
        "values": [], "reference": "stage", "reference_kind": "password", "secret": False, "write_only": False,
        "description": "When set, shows a password field, instead of showing the password field as separate step."}
    user_fields = next(f for f in data["fields"] if f["name"] == "user_fields")
    assert "default" not in user_fields  # the server has no default for it
    listing = json.loads(explain("--format", "json", "--api-version", "2023.10.7"))
    assert listing["api_version"] == "2023.10.7" and list(listing["sections"]) == [
        "stages", "policies", "flows", "certificates", "property_mappings", "providers", "applications",
        "outpost_connections", "outposts", "groups", "users", "roles", "tenants", "sources", "notification_transports",
        "notification_rules", "blueprints"]
    assert listing["sections"]["policies"][0] == {"manifest_kind": "dummy", "kind": "dummy_policy",
                                                  "path": "/api/v3/policies/dummy/", "written_in": None}


def test_every_kind_of_every_version_is_listed_once_and_explains() -> None:
    for version in ("2023.10.7", "2026.2.2"):
        model = load_model(version)
        listed = [k.kind for kinds in list_kinds(model).values() for k in kinds]
        assert sorted(listed) == sorted(model.kinds)
        for name in listed:
            assert [f.name for f in explain_kind(model, name).fields] == list(model.kinds[name].fields)
