"""The objects authentik's own default blueprints create: what a fresh install of each version holds
(recorded in `fresh-install.json`, packaged as the sandbox's seed). Export marks them, and pruning
never deletes them: the API does not say which objects a blueprint manages (FINDINGS flows 294,
295), so the fresh install is the record."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from reconciler.model.kinds import ApiModel, Kind, known_versions, load_model
from reconciler.model.live import LiveState
from reconciler.values import JsonObject, Key

__all__ = ["fresh_install", "fresh_object", "is_default"]

SEEDS = Path(__file__).parent / "seeds"


def _state(model: ApiModel) -> LiveState:
    """The fresh install as live state: every kind's list, and each family list (`/stages/all/`,
    `/policies/all/`) both as one list and split by kind, as the server has them."""
    lists: dict[str, list[JsonObject]] = json.loads((SEEDS / f"{model.version}.json").read_text())["lists"]
    state = LiveState(model=model, lists=dict(lists))
    for target in model.targets.values():
        members = model.kinds_of(target.name)
        if len(members) < 2:
            continue
        if target.path not in lists:  # the family list from its kinds' lists
            state.lists[target.path] = [{**obj, "meta_model_name": kind.constants.get("meta_model_name")}
                                        for kind in members for obj in lists.get(kind.path, [])]
        for kind in members:  # the kinds' lists from the family list
            if kind.path not in lists:
                meta = kind.constants.get("meta_model_name")
                # the family list as built above when the seed has none (a family new to the model)
                state.lists[kind.path] = [obj for obj in state.lists[target.path] if obj.get("meta_model_name") == meta]
    return state


@cache
def fresh_install(model: ApiModel) -> dict[str, frozenset[Key]]:
    """The natural keys of the objects a fresh install of the model's version has, by kind."""
    if not (SEEDS / f"{model.version}.json").exists():
        return {}
    state = _state(model)
    return {kind.name: frozenset(state.key_of(kind, obj) for obj in state.objects(kind))
            for kind in model.kinds.values()}


def fresh_object(model: ApiModel, kind: Kind, key: Key) -> tuple[JsonObject, LiveState] | None:
    """The object with this key as a fresh install of the model's version has it, with that
    install as live state (to name what it references), or None."""
    if not (SEEDS / f"{model.version}.json").exists():
        return None
    state = _fresh_state(model)
    found = next((obj for obj in state.objects(kind) if state.key_of(kind, obj) == key), None)
    return (found, state) if found is not None else None


@cache
def _fresh_state(model: ApiModel) -> LiveState:
    return _state(model)


def is_default(model: ApiModel, kind: Kind, key: Key) -> bool:
    """Whether a fresh install of any version the tool knows has this object: a server between two
    known versions (read with the older model) may hold the defaults of the newer one."""
    return any(key in fresh_install(load_model(version)).get(kind.name, frozenset()) for version in known_versions())
