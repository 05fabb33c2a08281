"""The objects a benchmark works on: N objects over every family (stages of several kinds,
policies, flows with their stage bindings and policy bindings), written both as manifests and as
a sandbox seed, so the live state can be set up directly instead of through the API."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.model.kinds import ApiModel, load_model
from reconciler.sandbox.profile import default_seed

UNIT = 20
"""Objects per unit: 9 stages, 2 policies, 1 flow, 4 stage bindings, 1 policy binding, and an
application with its OAuth2 provider and a scope mapping."""
STAGES_PER_UNIT = 9

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
# The application families (issue 17): a scope mapping, the OAuth2 provider that sends it, and the
# application that uses the provider, each known by name (slug) and referenced by it.
MAPPING = ({"scope_name": "bench", "expression": "return {}"}, {"scope_name": "bench", "expression": "return {1: 1}"})
PROVIDER = ({"client_type": "confidential", "client_id": "bench"}, {"client_type": "public", "client_id": "bench"})
APPLICATION = ({"meta_publisher": "bench"}, {"meta_publisher": "bench (changed)"})
PROVIDER_FLOWS = {"authorization_flow": "default-provider-authorization-implicit-consent",
                  "invalidation_flow": "default-provider-invalidation-flow"}
BINDING = ({"invalid_response_action": "retry"}, {"invalid_response_action": "restart"})
POLICY_BINDING = ({"timeout": 30}, {"timeout": 31})


def scope_mapping_kind(model: ApiModel) -> str:
    """The model kind of scope mappings (2026: `provider_scope_mapping`; 2023: `scope_mapping`)."""
    return next(kind for kind in model.sections["property_mappings"].values()
                if kind in ("provider_scope_mapping", "scope_mapping"))


def redirect_uris(model: ApiModel) -> dict[str, Any]:
    """An OAuth2 provider's redirect URIs: required objects in 2026 (apps 191), a string in 2023."""
    url = "https://bench.example.com/callback"
    if model.kinds["oauth2_provider"].fields["redirect_uris"].is_list:
        return {"redirect_uris": [{"matching_mode": "strict", "url": url}]}
    return {"redirect_uris": url}


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
        apps: dict[str, list[dict[str, Any]]] = {"property_mappings": [], "providers": [], "applications": []}
        for unit in range(self.units):
            self.add_application(unit, apps)
            names = [self.stage_name(unit, i) for i in range(STAGES_PER_UNIT)]
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
        return {"stages": stages, "policies": policies, "flows": flows, **apps}

    def add_application(self, unit: int, apps: dict[str, list[dict[str, Any]]]) -> None:
        """A unit's scope mapping, provider and application, as the manifests write them."""
        model = load_model(self.api_version)
        mapping = model.kinds[scope_mapping_kind(model)]
        apps["property_mappings"].append({"kind": mapping.manifest_kind, "name": f"bench-scope-{unit}", **MAPPING[0]})
        flows = {k: v for k, v in PROVIDER_FLOWS.items() if k in model.kinds["oauth2_provider"].fields}
        apps["providers"].append({"kind": "oauth2", "name": f"bench-oauth-{unit}", **flows, **redirect_uris(model),
                                  **PROVIDER[0],
                                  "property_mappings": [f"bench-scope-{unit}"]})
        apps["applications"].append({"slug": f"bench-app-{unit}", "name": f"Bench app {unit}",
                                     "provider": f"bench-oauth-{unit}", **APPLICATION[0]})

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

        flow_pks = {f["slug"]: f["pk"] for f in lists[model.kinds["flow"].path]}
        for unit in range(self.units):
            mapping = model.kinds[scope_mapping_kind(model)]
            add(mapping.name, {"pk": pk("mapping", unit), "name": f"bench-scope-{unit}"}, MAPPING)
            provider_pk = 1000 + unit  # providers have integer pks (apps 190)
            flows = {k: flow_pks[v] for k, v in PROVIDER_FLOWS.items() if k in model.kinds["oauth2_provider"].fields}
            add("oauth2_provider", {"pk": provider_pk, "name": f"bench-oauth-{unit}", **flows, **redirect_uris(model),
                                    "property_mappings": [pk("mapping", unit)]}, PROVIDER)
            add("application", {"pk": pk("application", unit), "slug": f"bench-app-{unit}",
                                "name": f"Bench app {unit}", "provider": provider_pk}, APPLICATION)
            stage_pks = []
            for i in range(STAGES_PER_UNIT):
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
            mapping = model.kinds[scope_mapping_kind(model)]
            paths += [f"{mapping.path}{pk('mapping', unit)}/", f"{model.kinds['oauth2_provider'].path}{1000 + unit}/",
                      f"{model.kinds['application'].path}bench-app-{unit}/"]
            paths += [f"{model.kinds[STAGES[i % len(STAGES)][0]].path}{pk('stage', unit, i)}/"
                      for i in range(STAGES_PER_UNIT)]
            paths += [f"{model.kinds[model_kind].path}{pk(kind, unit)}/" for kind, model_kind, _, _ in POLICIES]
            paths.append(f"{model.kinds['flow'].path}bench-flow-{unit}/")
            paths += [f"{model.kinds['flow_stage_binding'].path}{pk('binding', unit, i)}/" for i in range(4)]
            paths.append(f"{model.kinds['policy_binding'].path}{pk('policy_binding', unit)}/")
        return paths
