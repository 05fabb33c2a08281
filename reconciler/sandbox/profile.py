"""What one authentik version answers beyond the API model: fixed bodies, message wordings and the
few behaviours that differ between versions. Loaded from `recorded/<version>.json`, where every
value names the recording it was copied from, so a new version is a new file, not new code."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

RECORDED_DIR = Path(__file__).parent / "recorded"
SEEDS_DIR = Path(__file__).parent / "seeds"


@dataclass(frozen=True)
class NestedWrite:
    """A read-only nested list the spec still lists as writable (2023.10.7 `flow_set`)."""

    target: str
    required: tuple[str, ...]
    unique: dict[str, str]


@dataclass(frozen=True)
class Profile:
    version: str
    admin_version: dict[str, Any]
    root_config: dict[str, Any]
    list_extra: dict[str, Any]
    stage_types: list[dict[str, Any]]
    invitation_created_by: dict[str, Any]
    not_found: str
    json_parser: str
    used_by_many: str
    used_by_set_null: str
    nested_writes: dict[str, NestedWrite]
    default_ordering: tuple[str, ...]
    kind_ordering: dict[str, tuple[str, ...]]

    def not_found_detail(self, model: str) -> str:
        return self.not_found.format(model=model)

    def stage_type(self, model: str) -> dict[str, Any] | None:
        """The `/stages/all/types/` entry of a model class (`AuthenticatorSMSStage`)."""
        return next((t for t in self.stage_types if t["model_name"] == model.lower()), None)

    def ordering(self, kind: str) -> tuple[str, ...]:
        return self.kind_ordering.get(kind, self.default_ordering)


@cache
def load_profile(version: str) -> Profile:
    raw = json.loads((RECORDED_DIR / f"{version}.json").read_text())
    nested = {
        name: NestedWrite(spec["target"], tuple(spec["required"]), dict(spec["unique"]))
        for name, spec in raw["nested_writes"]["fields"].items()
    }
    return Profile(
        version=version,
        admin_version=raw["admin_version"]["body"],
        root_config=raw["root_config"]["body"],
        list_extra=raw["list_extra"]["body"],
        stage_types=raw["stage_types"]["body"],
        invitation_created_by=raw["invitation_created_by"]["body"],
        not_found=raw["not_found"]["detail"],
        json_parser=raw["json_parser"]["style"],
        used_by_many=raw["used_by_actions"]["many"],
        used_by_set_null=raw["used_by_actions"]["set_null"],
        nested_writes=nested,
        default_ordering=tuple(raw["ordering"]["default"]),
        kind_ordering={kind: tuple(keys) for kind, keys in raw["ordering"]["kinds"].items()},
    )


@cache
def default_seed(version: str) -> dict[str, Any]:
    """The objects of a fresh install of `version` (generated from the recordings); shared, so
    callers copy before they change anything."""
    seed: dict[str, Any] = json.loads((SEEDS_DIR / f"{version}.json").read_text())
    return seed
