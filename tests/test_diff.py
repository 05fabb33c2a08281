"""The pure diff, with plain data: no server, no files."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import CycleError
from reconciler.manifests.desired import DesiredObject
from reconciler.model.identity import address, desired_key
from reconciler.model.kinds import load_model
from reconciler.model.live import LiveState
from reconciler.planning.changes import UNKNOWN, Create, Delete, Replace, Update, order_changes
from reconciler.planning.diff import DiffResult, diff
from reconciler.planning.matching import match
from reconciler.state import StateFile
from reconciler.values import Ref, Secret

MODEL = load_model("2026.2.2")
IDENT = "11111111-1111-4111-8111-111111111111"
PASSWORD = "22222222-2222-4222-8222-222222222222"
DUO = "33333333-3333-4333-8333-333333333333"


def desired(kind: str, name: str, **fields: Any) -> DesiredObject:
    control = {k: fields.pop(k) for k in ("state", "update", "ignore_changes") if k in fields}
    spec = MODEL.kinds[kind]
    fields = {**fields, "name": name}
    key = desired_key(spec, fields)
    return DesiredObject(kind=kind, key=key, address=address(spec, key), fields=fields, file="m.yaml",
                         positions={(): (1, 1)}, state=control.get("state", "present"),
                         update=control.get("update", "patch"),
                         ignore_changes=frozenset(control.get("ignore_changes", ())))


def stage(name: str) -> Ref:
    """A reference to a stage of the manifests that does not exist yet (apply fills its id)."""
    return Ref("stage", (name,), address=f"password/{name}")


def live_state() -> LiveState:
    ident = {"pk": IDENT, "name": "ident", "user_fields": ["username"], "password_stage": PASSWORD,
             "sources": [], "show_matched_user": True, "case_insensitive_matching": True}
    password = {"pk": PASSWORD, "name": "pw", "backends": ["authentik.core.auth.InbuiltBackend"]}
    duo = {"pk": DUO, "name": "duo", "client_id": "DI1", "api_hostname": "api.example", "friendly_name": ""}
    return LiveState(model=MODEL, lists={
        "/stages/identification/": [ident], "/stages/password/": [password], "/stages/authenticator/duo/": [duo],
        "/stages/all/": [{"pk": IDENT, "name": "ident"}, {"pk": PASSWORD, "name": "pw"}, {"pk": DUO, "name": "duo"}]})


def secrets() -> StateFile:
    return StateFile(key=b"k", server="s")


def run(wanted: list[DesiredObject], live: LiveState, state: StateFile | None = None, **options: Any) -> DiffResult:
    return diff(match(wanted, live, MODEL), live, MODEL, state or secrets(), **options)


def test_unchanged_objects_plan_nothing() -> None:
    result = run([desired("identification", "ident", user_fields=["username"],
                           password_stage=Ref("stage", ("pw",), PASSWORD))], live_state())
    assert (result.changes, result.unchanged) == ([], 1)


def test_one_field_changes_patch_only_that_field_plus_the_required_companion() -> None:
    result = run([desired("identification", "ident", show_matched_user=False)], live_state())
    [change] = result.changes
    assert isinstance(change, Update)
    # identification PATCH needs user_fields (recordings 2023.10.7/17, 18)
    assert change.body() == {"user_fields": ["username"], "show_matched_user": False}
    assert change.data["fields"] == {"show_matched_user": {"before": True, "after": False}}


def test_reference_lists_compare_as_sets_and_plain_lists_keep_order() -> None:
    live = live_state()
    live.lists["/stages/identification/"][0]["user_fields"] = ["email", "username"]
    same_set = run([desired("identification", "ident", user_fields=["username", "email"])], live)
    assert [c.data["fields"] for c in same_set.changes] == [
        {"user_fields": {"before": ["email", "username"], "after": ["username", "email"]}}]


def test_null_and_empty_string_are_the_same_for_strings() -> None:
    result = run([desired("authenticator_duo", "duo", friendly_name=None)], live_state())
    assert result.changes == []


def test_write_only_secret_without_record_is_sent_once_then_not_again() -> None:
    state = secrets()
    want = [desired("authenticator_duo", "duo", client_secret=Secret("s3cret"))]
    [change] = run(want, live_state(), state).changes
    assert change.fields[0].before is UNKNOWN and "sent once" in change.fields[0].note
    assert change.data["fields"]["client_secret"]["after"] == "(sensitive)"
    state.record("authenticator_duo/duo", DUO, "client_secret", "s3cret")
    assert run(want, live_state(), state).changes == []
    # The same name with another id: recreated outside the tool, so the live secret is unknown.
    recreated = live_state()
    recreated.lists["/stages/authenticator/duo/"][0]["pk"] = IDENT
    [change] = run(want, recreated, state).changes
    assert change.fields[0].note == "the object was recreated since the last apply (another id): sent once"
    changed = [desired("authenticator_duo", "duo", client_secret=Secret("rotated"))]
    [change] = run(changed, live_state(), state).changes
    assert change.body() == {"client_secret": Secret("rotated")} and change.fields[0].note == \
        "changed since the last apply"
    assert run(want, live_state(), state, resend_secrets=True).changes[0].fields[0].note == \
        "resent (--resend-secrets)"


def test_put_needs_required_write_only_fields() -> None:
    result = run([desired("authenticator_duo", "duo", friendly_name="Duo", update="put")], live_state())
    assert result.changes == []
    assert "client_secret is required by PUT and write-only" in result.problems[0].message


def test_put_sends_the_full_object() -> None:
    result = run([desired("authenticator_duo", "duo", friendly_name="Duo", update="put",
                           client_secret=Secret("x"))], live_state())
    [change] = result.changes
    assert isinstance(change, Replace)
    assert change.wire_body() == {"name": "duo", "friendly_name": "Duo", "client_id": "DI1",
                                  "client_secret": "x", "api_hostname": "api.example"}


def test_create_requires_fields_and_orders_after_what_it_references() -> None:
    missing = run([desired("authenticator_duo", "new-duo")], live_state())
    assert missing.problems[0].message == ("cannot create: missing required fields api_hostname, client_id, "
                                           "client_secret (the object does not exist yet)")
    wanted = [desired("identification", "ident", password_stage=stage("new-pw")),
              desired("password", "new-pw", backends=["authentik.core.auth.InbuiltBackend"])]
    ordered = order_changes(run(wanted, live_state()).changes)
    assert [(c.action, c.name) for c in ordered] == [("create", "new-pw"), ("update", "ident")]
    assert isinstance(ordered[0], Create)


def test_absent_objects_are_deleted_only_when_they_exist() -> None:
    result = run([desired("password", "pw", state="absent"), desired("password", "gone", state="absent")],
                  live_state())
    assert [(type(c), c.path) for c in result.changes] == [(Delete, f"/stages/password/{PASSWORD}/")]


def test_ignored_fields_are_never_planned() -> None:
    result = run([desired("identification", "ident", show_matched_user=False,
                           ignore_changes=["show_matched_user"])], live_state())
    assert result.changes == []


@given(st.lists(st.sampled_from(["email", "username", "upn"]), unique=True, min_size=1),
       st.booleans(), st.booleans())
def test_diff_of_live_against_itself_is_empty(user_fields: list[str], show: bool, case: bool) -> None:
    live = live_state()
    live.lists["/stages/identification/"][0].update(user_fields=user_fields, show_matched_user=show,
                                                   case_insensitive_matching=case)
    want = desired("identification", "ident", user_fields=list(user_fields), show_matched_user=show,
                   case_insensitive_matching=case)
    assert run([want], live).changes == []


def test_a_new_fingerprint_key_makes_every_secret_unknown(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    old = StateFile(key=b"old", server="s", path=path)
    old.record("authenticator_duo/duo", DUO, "client_secret", "s3cret")
    old.save()
    assert "s3cret" not in path.read_text()
    want = [desired("authenticator_duo", "duo", client_secret=Secret("s3cret"))]
    assert run(want, live_state(), StateFile(key=b"old", server="s", path=path)).changes == []
    [change] = run(want, live_state(), StateFile(key=b"new", server="s", path=path)).changes
    assert change.fields[0].note.startswith("the fingerprint key changed")


def test_strings_compare_as_the_server_stores_them() -> None:
    live = live_state()
    live.lists["/stages/authenticator/duo/"][0]["friendly_name"] = "Duo"
    # DRF trims surrounding whitespace (a YAML block scalar ends in a newline).
    assert run([desired("authenticator_duo", "duo", friendly_name="Duo\n")], live).changes == []


def test_date_times_compare_as_moments() -> None:
    invite = {"pk": IDENT, "name": "inv", "expires": "2029-12-31T22:00:00Z", "single_use": False}
    live = LiveState(model=MODEL, lists={"/stages/invitation/invitations/": [invite]})
    same = desired("invitation_invite", "inv", expires="2030-01-01T00:00:00+02:00")
    later = desired("invitation_invite", "inv", expires="2030-01-01T00:00:00Z")
    assert run([same], live).changes == []
    assert [c.data["fields"] for c in run([later], live).changes] == [
        {"expires": {"before": "2029-12-31T22:00:00Z", "after": "2030-01-01T00:00:00Z"}}]


def test_reference_cycles_are_refused_with_their_members() -> None:
    wanted = [desired("authenticator_validate", "a", configuration_stages=[
                  Ref("stage", ("b",), address="authenticator_validate/b")]),
              desired("authenticator_validate", "b", configuration_stages=[
                  Ref("stage", ("a",), address="authenticator_validate/a")])]
    changes = run(wanted, live_state()).changes
    with pytest.raises(CycleError) as caught:
        order_changes(changes)
    assert caught.value.members == ("authenticator_validate/a", "authenticator_validate/b",
                                    "authenticator_validate/a")


def test_json_fields_show_what_changed_inside_by_path() -> None:
    invite = {"pk": IDENT, "name": "inv", "fixed_data": {"env": "prod", "team": "ops", "tags": ["a"]}}
    live = LiveState(model=MODEL, lists={"/stages/invitation/invitations/": [invite]})
    wanted = desired("invitation_invite", "inv", fixed_data={"env": "staging", "tags": ["a", "b"], "new": 1})
    [change] = run([wanted], live).changes
    assert change.fields[0].details == ("fixed_data['env']: \"prod\" -> \"staging\"", "fixed_data['new']: + 1",
                                        "fixed_data['tags'][1]: + \"b\"", "fixed_data['team']: - \"ops\"")
    assert change.data["fields"]["fixed_data"]["details"] == list(change.fields[0].details)


class _CountedDependencies(frozenset[str]):
    """Dependencies that count how often they are walked."""

    walks = 0

    def __iter__(self) -> Iterator[str]:
        _CountedDependencies.walks += 1
        return super().__iter__()


def test_ordering_walks_each_change_s_dependencies_once() -> None:
    # 5,000 creates, each referencing the one after it, listed so that every one waits for all
    # the rest: ordering reads each change's dependencies once, not once per change before it
    # (issue 12: planning 5,000 creates took 12 s when ordering was quadratic).
    count = 5000
    addresses = [f"deny/s{i}" for i in range(count)]
    changes = [Create(kind="deny", address=address, key=(address,), path="/stages/deny/",
                      depends_on=_CountedDependencies(addresses[i + 1:i + 2] + addresses[i + 2:i + 3]))
               for i, address in enumerate(addresses)]
    _CountedDependencies.walks = 0
    ordered = order_changes(changes)
    assert [c.address for c in ordered] == addresses[::-1]
    assert _CountedDependencies.walks == count
