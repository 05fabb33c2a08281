"""Ids are typed by kind (an int for integer pks, a UUID string elsewhere) and never meet as bare
values: a provider and a user may both be 3 (authentik numbers each table on its own)."""
from __future__ import annotations

from pathlib import Path

from reconciler.model.kinds import load_model, typed_id
from reconciler.state import StateFile
from reconciler.values import IdKey, Ref


def test_owning_two_kinds_with_the_same_integer_id_keeps_both(tmp_path: Path) -> None:
    state = StateFile(key=b"k", server="http://server", path=tmp_path / "reconciler.state.json")
    state.own("gadget/widget", "gadget", 3)
    state.own("gizmo/cog", "gizmo", 3)
    assert sorted(state.owned()) == ["gadget/widget", "gizmo/cog"]
    state.own("gadget/renamed", "gadget", "3")  # the same object under a new address: the id as text too
    assert sorted(state.owned()) == ["gadget/renamed", "gizmo/cog"]
    state.disown_objects([("gizmo", 3)])
    assert sorted(state.owned()) == ["gadget/renamed"]


def test_ids_are_typed_as_the_model_says() -> None:
    assert typed_id("int", "3") == typed_id("int", 3) == 3
    assert typed_id("int", "x3") == "x3"
    assert typed_id("uuid", 3) == "3" and typed_id("str", True) == "True"
    model = load_model("2026.2.2")
    assert model.targets["user"].id_type == "int" and model.targets["group"].id_type == "uuid"
    assert model.ref_keys(Ref("user", pk="7")) == (IdKey("user", 7),)
    # a policy binding's target is a flow or a binding: a reference may name either
    # (or, apps recordings 380 ff., an application)
    assert model.ref_keys(Ref("binding_target", pk="a")) == (IdKey("flow", "a"), IdKey("flow_stage_binding", "a"),
                                                             IdKey("application", "a"))
    assert model.ref_keys(Ref("provider", pk="12")) == (IdKey("provider", 12),)  # integer pks (apps 190)
    assert model.ref_keys(Ref("flow", key=("login",))) == ()  # no id yet: nothing to collide with
    stage = model.kinds["deny"]
    assert stage.id_key("b") == IdKey("stage", "b") == model.ref_keys(Ref("stage", pk="b"))[0]
