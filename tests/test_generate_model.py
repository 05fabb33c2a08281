"""The committed model, schemas and seeds are exactly what the committed script derives from the
shared specs and recordings (when they are beside the checkout, as in CI)."""
from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.model.kinds import known_versions, load_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
GENERATED = ["schemas/api-{v}.json", "schemas/manifest-{v}.schema.json", "reconciler/model/seeds/{v}.json"]


@pytest.mark.skipif(not (SHARED / "authentik-openapi").is_dir(), reason="../shared is not beside this checkout")
def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_model.py"), "--shared", str(SHARED),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for version in known_versions():
        for pattern in GENERATED:
            name = pattern.format(v=version)
            assert filecmp.cmp(tmp_path / name, ROOT / name, shallow=False), f"{name} is stale: rerun the script"


def test_model_covers_every_stage_kind_and_the_flow_families() -> None:
    # 27 stage kinds in 2026.2.2 and 21 in 2023.10.7 (KINDS.md tables), prompt fields included;
    # flows, flow-stage bindings, policy bindings and every policy kind (flows/FINDINGS.md).
    for version, stages, policies in (("2026.2.2", 27, 8), ("2023.10.7", 21, 6)):
        model = load_model(version)
        assert len(model.sections["stages"]) == stages
        assert len(model.sections["policies"]) == policies
        assert model.sections["flows"] == {"flow": "flow"}
        assert {"flow_stage_binding", "policy_binding"} <= set(model.kinds)
        assert len(model.kinds) == stages + policies + 3
    assert set(load_model("2026.2.2").kinds) - set(load_model("2023.10.7").kinds) == {
        "authenticator_email", "authenticator_endpoint_gdtc", "endpoints", "mtls", "redirect", "source",
        "geoip_policy", "unique_password_policy"}


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
