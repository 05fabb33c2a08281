"""Offline validation: every problem at once, as `file:line:column: kind/name: field: message`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import ManifestError, validate_paths
from reconciler.cli.main import cli

INVALID = Path(__file__).parent / "fixtures" / "invalid"
EXAMPLES = Path(__file__).parent.parent / "examples" / "config"


def problems_of(name: str, api_version: str = "2026.2.2") -> list[str]:
    with pytest.raises(ManifestError) as caught:
        validate_paths([INVALID / name], api_version)
    return [str(p).replace(str(INVALID) + "/", "") for p in caught.value.problems]


def test_unknown_field_is_an_error_with_a_suggestion() -> None:
    assert problems_of("unknown-field.yaml") == [
        "unknown-field.yaml:5:5: identification/login-id: show_matched_usr: unknown field "
        "(did you mean 'show_matched_user'?)"]


def test_malformed_yaml_names_the_place() -> None:
    [problem] = problems_of("malformed.yaml")
    assert problem.startswith("malformed.yaml:4:1: invalid YAML: ")


def test_duplicate_name_across_kinds_names_both_places() -> None:
    assert problems_of("duplicate-name.yaml") == [
        "duplicate-name.yaml:6:5: password/shared-name: name: duplicate name: identification/shared-name at "
        "duplicate-name.yaml:3:5 has it too (stage names are unique across all stage kinds)"]


def test_duplicate_yaml_key_is_refused() -> None:
    assert problems_of("duplicate-key.yaml") == ["duplicate-key.yaml:4:5: duplicate key 'name'"]


def test_every_problem_is_reported_at_once() -> None:
    assert problems_of("many-problems.yaml") == [
        'many-problems.yaml:4:29: identification/many: user_fields[1]: "bogus" is not one of '
        '"email", "username", "upn"',
        "many-problems.yaml:5:5: identification/many: pk: read-only field: the server sets it, "
        "remove it from the manifest",
        "many-problems.yaml:6:5: identification/many: show_matched_user: expected a boolean, got a string",
        "many-problems.yaml:7:5: authenticatr_duo/typo-kind: kind: unknown kind \"authenticatr_duo\" "
        "(did you mean 'authenticator_duo'?) in 'stages' for authentik 2026.2.2",
        'many-problems.yaml:11:5: authenticator_totp/totp: digits: expected one of "6", "8" or '
        "{env: VARIABLE} or {file: PATH}, got an integer",
    ]


def test_types_follow_the_api_version() -> None:
    # TOTP digits is an integer in 2023.10.7 and a string in 2026.2.2 (KINDS.md, "Defaults/types").
    assert [p for p in problems_of("many-problems.yaml", "2023.10.7") if "digits" in p] == []


def test_examples_validate_for_both_versions() -> None:
    # 6 stages, a policy, a flow, its 5 bindings and a policy binding; a group and a service account
    for version in ("2023.10.7", "2026.2.2"):
        assert len(validate_paths([EXAMPLES / "authentication"], version)) == 14
    # the Grafana application is written in 2026.2.2's form (its mapping kind, invalidation flow
    # and redirect URI objects): a scope mapping, a provider, the application, its policy binding; and a group
    # with its service account
    assert len(validate_paths([EXAMPLES], "2026.2.2")) == 20


def test_cli_validate_exit_codes_and_json() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(EXAMPLES)])
    assert (ok.exit_code, ok.output) == (0, "20 objects valid for authentik 2026.2.2.\n")
    bad = runner.invoke(cli, ["validate", str(INVALID / "many-problems.yaml"), "--format", "json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["valid"] is False and len(report["problems"]) == 5
    assert report["problems"][0]["line"] == 4 and report["problems"][0]["field"] == "user_fields[1]"


def test_cli_validate_text_errors_have_no_traceback() -> None:
    result = CliRunner().invoke(cli, ["validate", str(INVALID)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.rstrip().endswith("problems found.")


def test_missing_path_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["validate", "no/such/dir"])
    assert (result.exit_code, result.output) == (1, "no/such/dir:0:0: no such file or directory\n1 problem found.\n")


def test_published_schema_accepts_the_examples() -> None:
    # The schema editors use (yaml-language-server) is the same one the validator reads.
    import yaml
    from jsonschema import Draft202012Validator

    from reconciler.manifests.schema import manifest_schema

    validator = Draft202012Validator(manifest_schema("2026.2.2"))
    for path in EXAMPLES.rglob("*.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []


def test_cli_validate_markdown_lists_every_problem() -> None:
    result = CliRunner().invoke(cli, ["validate", str(INVALID / "unknown-field.yaml"), "--format", "markdown"])
    assert result.exit_code == 1
    assert result.output == (
        "### 1 problem in the manifests (authentik 2026.2.2)\n\n"
        f"- `{INVALID}/unknown-field.yaml:5:5` identification/login-id: `show_matched_usr`: unknown field "
        "(did you mean 'show_matched_user'?)\n")


def test_yaml_that_python_cannot_build_is_located() -> None:
    # The scalar is never echoed: it may be a secret's value.
    assert problems_of("bad-tag.yaml") == ["bad-tag.yaml:3:11: invalid value for its tag !!int"]


def test_a_kind_json_cannot_carry_is_located_not_a_crash() -> None:
    # found by tests/test_fuzz.py: the unknown-kind message quoted the value as JSON
    assert problems_of("binary-kind.yaml") == [
        "binary-kind.yaml:2:5: ?/a: kind: binary data (!!binary) is not a JSON value: quote it"]
    # nor one that holds such a value
    assert problems_of("dated-kind-list.yaml") == [
        "dated-kind-list.yaml:2:28: ?/a: kind: a date is not a JSON value: quote it"]


def test_merge_keys_are_refused_plainly() -> None:
    assert problems_of("merge-key.yaml")[0] == (
        "merge-key.yaml:1:1: unknown top-level key 'base' (did you mean 'brands'?) (expected applications, blueprints, "
        "brands, certificates, flows, groups, lifecycle_rules, notification_rules, notification_transports, "
        "outpost_connections, "
        "outposts, policies, property_mappings, providers, roles, settings, sources, stages or users)")
    assert "merge-key.yaml:4:5: YAML merge keys (<<) are not supported: write the fields out" in \
        problems_of("merge-key.yaml")


def test_control_characters_are_a_yaml_problem() -> None:
    assert problems_of("control-character.yaml") == [
        "control-character.yaml:4:21: the control character U+0001 is not allowed in YAML"]


def test_reference_lists_are_sets_and_dates_must_be_quoted() -> None:
    assert problems_of("duplicate-reference.yaml") == [
        "duplicate-reference.yaml:4:5: authenticator_validate/twice: configuration_stages: lists the same item "
        "twice (the server keeps this list as a set)",
        "duplicate-reference.yaml:9:5: invitation_invite/dated: expires: a date is not a JSON value: quote it",
    ]


def test_valid_manifests_are_checked_without_loading_jsonschema(tmp_path: Path) -> None:
    # The compiled check accepts valid entries; jsonschema (a fifth of a second to import) only
    # words the problems of entries it rejects.
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - kind: deny\n    name: x\n    deny_message: 3\n")
    code = ("import sys; from reconciler import ManifestError, engine\n"
            "engine.validate_paths([sys.argv[1]]); print('jsonschema' in sys.modules)\n"
            "try:\n    engine.validate_paths([sys.argv[2]])\n"
            "except ManifestError as exc:\n    print('jsonschema' in sys.modules, exc.problems[0].message)\n")
    shown = subprocess.run([sys.executable, "-c", code, str(EXAMPLES), str(bad)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert shown == ["False", "True expected a string or {env: VARIABLE} or {file: PATH}, got an integer"]


@pytest.mark.parametrize(("name", "expected"), [
    # Found by the fuzz test (and by reading _check_object): a key that is no text was reported,
    # then keyed by, and `ignore_changes: 1` iterated: each an internal error (exit 3).
    ("key-is-a-mapping.yaml", ["key-is-a-mapping.yaml:2:5: flow/?: slug: must be a non-empty string"]),
    ("key-is-a-list.yaml", ["key-is-a-list.yaml:3:5: deny/?: name: must be a non-empty string"]),
    ("ignore-changes-not-a-list.yaml",
     ["ignore-changes-not-a-list.yaml:4:5: deny/x: ignore_changes: expected a list, got an integer"]),
    ("nested-keys-of-the-wrong-type.yaml", [
        "nested-keys-of-the-wrong-type.yaml:7:10: flow/f: bindings[0].stage: expected a string, got a mapping",
        "nested-keys-of-the-wrong-type.yaml:8:10: flow/f: bindings[1].stage: expected a string, got a list",
        "nested-keys-of-the-wrong-type.yaml:8:22: flow/f: bindings[1].order: expected an integer, got a list",
        "nested-keys-of-the-wrong-type.yaml:9:42: flow/f: bindings[2].policies[0].policy: expected a string, "
        "got a mapping",
        "nested-keys-of-the-wrong-type.yaml:9:66: flow/f: bindings[2].policies[1].group: expected a string, "
        "got a list"]),
])
def test_values_of_the_wrong_type_where_keys_belong_are_problems_not_crashes(name: str, expected: list[str]) -> None:
    assert problems_of(name) == expected
