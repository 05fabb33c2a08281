"""Saved plans as data: a plan leaves the process as JSON and comes back equal, carrying secrets
as their sources and fingerprints only; a file that is not a plan is one clear error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.planning.changes import (
    UNKNOWN,
    Create,
    Delete,
    FieldChange,
    LiveFingerprint,
    Plan,
    Replace,
    SentAlong,
    Update,
)
from reconciler.planning.planfile import load_plan, save_plan
from reconciler.values import Ref, Secret

SECRET = "duo-secret-never-written"


def sample_plan() -> Plan:
    stage_ref = Ref("stage", ("pw",), "22222222-2222-4222-8222-222222222222")
    binding_ref = Ref("flow_stage_binding", (Ref("flow", ("login",)), Ref("stage", ("duo",))),
                      address="flow_stage_binding/login/duo")
    return Plan(
        api_version="2026.2.2", server="https://auth.example.com", unchanged=3, key_id="abc",
        manifests_digest="sha256:00", manifest_files=2, created_at="2026-11-25T10:00:00Z",
        state_file="reconciler.state.json",
        changes=(
            Create(kind="authenticator_duo", address="authenticator_duo/duo", key=("duo",),
                   path="/stages/authenticator/duo/",
                   fields=(FieldChange("name", None, "duo"),
                           FieldChange("client_secret", None, Secret(SECRET, source={"env": "DUO"}), True)),
                   secrets={"client_secret": "hmac-sha256:ff"}),
            Update(kind="identification", address="identification/id", key=("id",), id="1",
                   path="/stages/identification/1/",
                   fields=(FieldChange("password_stage", None, stage_ref),
                           FieldChange("client_secret", UNKNOWN, Secret(SECRET, source={"file": "s.txt"}), True,
                                       "changed since the last apply")),
                   companions=(SentAlong("user_fields", ["email"], "authentik refuses it"),),
                   live=LiveFingerprint("hmac-sha256:aa", {"name": "hmac-sha256:bb"})),
            Create(kind="policy_binding", address="policy_binding/login/duo/policy:p", key=(binding_ref, None),
                   path="/policies/bindings/", depends_on=frozenset({"flow_stage_binding/login/duo"}),
                   fields=(FieldChange("target", None, binding_ref),
                           FieldChange("order", None, 0))),
            Replace(kind="invitation_invite", address="invitation_invite/inv", key=("inv",), id="2",
                    path="/stages/invitation/invitations/2/",
                    fields=(FieldChange("fixed_data", {"$ref": 1}, {"$ref": 2},
                                        details=("fixed_data['$ref']: 1 -> 2",)),),
                    full={"name": "inv", "fixed_data": {"$ref": 2},
                          "auth": Secret("live-value", source={"live": "auth"})}),
            Delete(kind="password", address="password/old", key=("old",), id="3", path="/stages/password/3/",
                   notes=("not listed in flow/login",)),
        ))


def test_a_plan_round_trips_through_json() -> None:
    plan = sample_plan()
    again = Plan.from_data(json.loads(json.dumps(plan.data)))
    assert again.data == plan.data
    update = again.changes[1]
    assert update.fields[0].after == Ref("stage", ("pw",))
    assert update.fields[0].after.pk == plan.changes[1].fields[0].after.pk
    assert isinstance(update.fields[1].after, Secret) and update.fields[1].after.source == {"file": "s.txt"}
    assert update.fields[1].before is UNKNOWN
    # JSON data that looks like a tag stays data.
    assert again.changes[3].body() == {"name": "inv", "fixed_data": {"$ref": 2}, "auth": Secret(None)}


def test_a_saved_plan_holds_no_secret_value(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(sample_plan(), path)
    text = path.read_text()
    assert SECRET not in text and "live-value" not in text
    assert '"$secret": {\n            "env": "DUO"' in text
    assert load_plan(path).data == sample_plan().data


def test_a_secret_written_in_a_manifest_cannot_be_saved(tmp_path: Path) -> None:
    plan = sample_plan()
    inline = Create(kind="authenticator_duo", address="authenticator_duo/x", key=("x",),
                    path="/stages/authenticator/duo/",
                    fields=(FieldChange("client_secret", None, Secret(SECRET), True),))
    with pytest.raises(ReconcilerError) as caught:
        save_plan(Plan(api_version=plan.api_version, changes=(inline,), unchanged=0), tmp_path / "p.json")
    assert str(caught.value).endswith("write them as {env: VAR} or {file: PATH}: authenticator_duo/x: client_secret")
    assert SECRET not in str(caught.value)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not a saved plan (invalid JSON: "),
    ("[]", "a plan is a JSON object"),
    ('{"format_version": 9}', "unsupported plan format_version 9 (this tool reads 1)"),
    ('{"format_version": 1, "changes": {}}', "'changes' must be a list"),
    ('{"format_version": 1, "api_version": "x", "server": "s", "changes": [{"action": "drop"}]}',
     "change 1: unknown action 'drop'"),
    ('{"format_version": 1, "api_version": "x", "server": "s", "changes": [{"action": "delete", "kind": "k", '
     '"address": "k/a", "path": "/etc/passwd"}]}', "change 1: path '/etc/passwd' is not below /api/v3/"),
    ('{"format_version": 1, "api_version": "x", "server": "s", "changes": [{"action": "create", "kind": "k", '
     '"address": "k/a", "path": "/api/v3/k/", "body": {"a": {"$evil": 1}}}]}', "unknown tag in ['$evil']"),
])
def test_a_file_that_is_not_a_plan_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanFileError) as caught:
        load_plan(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_missing_directory_and_huge_files_are_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="no such file"):
        load_plan(tmp_path / "absent.json")
    with pytest.raises(PlanFileError, match="not a regular file"):
        load_plan(tmp_path)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as sparse:
        sparse.truncate(65 * 1024 * 1024)
    with pytest.raises(PlanFileError, match="larger than 64 MB"):
        load_plan(huge)


def test_a_sealed_plan_changed_in_memory_no_longer_verifies() -> None:
    # The seal kept the content it was made over: `replace` on a sealed plan still verified.
    import dataclasses

    from reconciler.planning.changes import Delete, Plan
    from reconciler.planning.planfile import PlanKey, check_digest, seal

    key = PlanKey("state", b"k")
    sealed = seal(Plan(api_version="2026.2.2", changes=(), unchanged=0), key)
    assert check_digest(sealed, key).verified is True
    delete = Delete(kind="deny", address="deny/x", key=("x",), path="/stages/deny/1/", id="1")
    assert check_digest(dataclasses.replace(sealed, changes=(delete,)), key).verified is False
