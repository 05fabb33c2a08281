"""The committed model, schemas and seeds are exactly what the committed script derives from the
shared specs and recordings (when they are beside the checkout, as in CI)."""
from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apimodel import known_versions, load_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
GENERATED = ["schemas/api-{v}.json", "schemas/manifest-{v}.schema.json", "reconciler/sandbox/seeds/{v}.json"]


@pytest.mark.skipif(not (SHARED / "authentik-openapi").is_dir(), reason="../shared is not beside this checkout")
def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_model.py"), "--shared", str(SHARED),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for version in known_versions():
        for pattern in GENERATED:
            name = pattern.format(v=version)
            assert filecmp.cmp(tmp_path / name, ROOT / name, shallow=False), f"{name} is stale: rerun the script"


def test_model_covers_every_stage_kind() -> None:
    # 27 kinds in 2026.2.2 and 21 in 2023.10.7 (KINDS.md tables), prompt fields included.
    assert len(load_model("2026.2.2").kinds) == 27
    assert len(load_model("2023.10.7").kinds) == 21
    assert set(load_model("2026.2.2").kinds) - set(load_model("2023.10.7").kinds) == {
        "authenticator_email", "authenticator_endpoint_gdtc", "endpoints", "mtls", "redirect", "source"}


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
