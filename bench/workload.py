"""The objects a benchmark works on: N objects over every family (stages of several kinds,
policies, flows with their stage bindings and policy bindings), written both as manifests and as
a sandbox seed, so the live state can be set up directly instead of through the API."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.model.kinds import load_model
from reconciler.sandbox.profile import default_seed

UNIT = 20
"""Objects per unit: 12 stages, 2 policies, 1 flow, 4 stage bindings, 1 policy binding."""

STAGES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (kind, fields as the manifests write them, the same fields changed)
    ("deny", {"deny_message": "no"}, {"deny_message": "not you"}),
    ("dummy", {"throw_error": False}, {"throw_error": True}),
    ("user_login", {"session_duration": "hours=1"}, {"session_duration": "hours=2"}),
    ("user_write", {"create_users_as_inactive": True}, {"create_users_as_inactive": False}),
    ("consent", {"mode": "always_require"}, {"mode": "permanent"}),
    ("password", {"backends": ["authentik.core.auth.InbuiltBackend"], "failed_attempts_before_cancel": 5},
     {"backends": ["authentik.core.auth.InbuiltBackend"], "failed_attempts_before_cancel": 6}),
    ("identification", {"user_fields": ["username"], "show_matched_user": True},
     {"user_fields": ["username"], "show_matched_user": False}),
]
POLICIES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    # (manifest kind, model kind, fields, the same fields changed)
    ("expression", "expression_policy", {"expression": "return True"}, {"expression": "return False"}),
    ("dummy", "dummy_policy", {"result": True}, {"result": False}),
]
FLOW = ({"title": "Bench"}, {"title": "Bench (changed)"})
BINDING = ({"invalid_response_action": "retry"}, {"invalid_response_action": "restart"})
POLICY_BINDING = ({"timeout": 30}, {"timeout": 31})


def pk(*parts: object) -> str:
    """A stable UUID per object, so every seed of the same workload has the same ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "bench/" + "/".join(map(str, parts))))


@dataclass(frozen=True)
class Workload:
    """`units` units of `UNIT` objects; object `i` is changed when `changed(i)` (the seed then
    holds the changed values, so planning the manifests updates it)."""

    units: int
    api_version: str = "2026.2.2"

    @property
    def size(self) -> int:
        return self.units * UNIT

    def manifests(self) -> dict[str, Any]:
        """`{section: [entries]}` describing every object as the unchanged seed holds it."""
        stages: list[dict[str, Any]] = []
        policies: list[dict[str, Any]] = []
        flows: list[dict[str, Any]] = []
        for unit in range(self.units):
            names = [self.stage_name(unit, i) for i in range(12)]
            for i, name in enumerate(names):
                kind, fields, _ = STAGES[i % len(STAGES)]
                stages.append({"kind": kind, "name": name, **fields})
            for kind, _, fields, _ in POLICIES:
                policies.append({"kind": kind, "name": f"bench-{kind}-policy-{unit}", **fields})
            bindings: list[dict[str, Any]] = [
                {"stage": names[i], "order": 10 * (i + 1), **BINDING[0]} for i in range(4)]
            bindings[0]["policies"] = [{"policy": f"bench-expression-policy-{unit}", "order": 0, **POLICY_BINDING[0]}]
            flows.append({"slug": f"bench-flow-{unit}", "name": f"Bench flow {unit}", "designation": "authentication",
                          **FLOW[0], "bindings": bindings})
        return {"stages": stages, "policies": policies, "flows": flows}

    def write_manifests(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for section, entries in self.manifests().items():
            (directory / f"{section}.yaml").write_text(yaml.safe_dump({section: entries}, sort_keys=False))
        return directory

    @staticmethod
    def stage_name(unit: int, index: int) -> str:
        return f"bench-{STAGES[index % len(STAGES)][0]}-{unit}-{index}"

    def seed(self, changed_every: int = 0) -> dict[str, Any]:
        """A sandbox seed: the fresh install plus every object; with `changed_every` k, one object
        in k (counted over all of them) holds its changed values."""
        model = load_model(self.api_version)
        fresh = default_seed(self.api_version)
        lists: dict[str, list[dict[str, Any]]] = {path: list(objects) for path, objects in fresh["lists"].items()}
        counter = 0

        def add(kind: str, obj: dict[str, Any], fields: tuple[dict[str, Any], dict[str, Any]]) -> None:
            nonlocal counter
            changed = changed_every and counter % changed_every == 0
            counter += 1
            lists.setdefault(model.kinds[kind].path, []).append({**obj, **fields[1 if changed else 0]})

        for unit in range(self.units):
            stage_pks = []
            for i in range(12):
                kind, fields, changed = STAGES[i % len(STAGES)]
                stage_pks.append(pk("stage", unit, i))
                add(kind, {"pk": stage_pks[-1], "name": self.stage_name(unit, i)}, (fields, changed))
            for kind, model_kind, fields, changed in POLICIES:
                add(model_kind, {"pk": pk(kind, unit), "name": f"bench-{kind}-policy-{unit}"}, (fields, changed))
            flow_pk = pk("flow", unit)
            add("flow", {"pk": flow_pk, "slug": f"bench-flow-{unit}", "name": f"Bench flow {unit}",
                         "designation": "authentication"}, FLOW)
            for i in range(4):
                add("flow_stage_binding", {"pk": pk("binding", unit, i), "target": flow_pk, "stage": stage_pks[i],
                                           "order": 10 * (i + 1)}, BINDING)
            add("policy_binding", {"pk": pk("policy_binding", unit), "policy": pk("expression", unit),
                                   "target": pk("binding", unit, 0), "order": 0}, POLICY_BINDING)
        return {"version": self.api_version, "lists": lists}

    def object_paths(self) -> list[str]:
        """The detail path of every object of the workload: what a per-object refresh reads."""
        model = load_model(self.api_version)
        paths = []
        for unit in range(self.units):
            paths += [f"{model.kinds[STAGES[i % len(STAGES)][0]].path}{pk('stage', unit, i)}/" for i in range(12)]
            paths += [f"{model.kinds[model_kind].path}{pk(kind, unit)}/" for kind, model_kind, _, _ in POLICIES]
            paths.append(f"{model.kinds['flow'].path}bench-flow-{unit}/")
            paths += [f"{model.kinds['flow_stage_binding'].path}{pk('binding', unit, i)}/" for i in range(4)]
            paths.append(f"{model.kinds['policy_binding'].path}{pk('policy_binding', unit)}/")
        return paths
