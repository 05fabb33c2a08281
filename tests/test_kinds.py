"""Every object kind of both API versions: create (POST), update (PATCH), replace (PUT) and
delete through the CLI against the sandbox over real HTTP, checking each request body and the
number of calls."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support import TOKEN, key_pair, run, writes

from reconciler.model.kinds import Field, Kind, known_versions, load_model
from reconciler.sandbox import Sandbox

# Natural keys of objects every fresh install has (reconciler/model/seeds), one per target.
TARGET_SAMPLES = {
    "flow": "default-authentication-flow",
    "stage": "default-authentication-password",
    "source": "authentik-built-in",
    "group": "authentik Admins",
    "certificate": "authentik Self-signed Certificate",
    "prompt_field": "default-user-settings-field-email",
}


# Values the generic samples below cannot make: 2026's OAuth2 redirect URIs are objects (apps 200).
FIELD_SAMPLES = {("redirect_uris", "array"): [{"matching_mode": "strict", "url": "https://kinds.example.com/cb"}]}


def sample(field: Field, seed: dict[str, list[str]]) -> Any:
    """A valid value for `field`, references by natural key."""
    if (field.name, field.type) in FIELD_SAMPLES:
        return FIELD_SAMPLES[field.name, field.type]
    if field.reference:
        key = TARGET_SAMPLES.get(field.reference) or seed[field.reference][0]
        ref = {field.reference: key}
        return [ref] if field.is_list else ref
    if field.is_list:
        return [field.items["enum"][0]] if "enum" in field.items else ["value"]
    if "enum" in field.spec:
        return field.spec["enum"][0]
    return typed_sample(field) if field.type != "string" else text_sample(field)


def typed_sample(field: Field) -> Any:
    """A valid value of a field that is no string."""
    if field.type == "integer":
        minimum = field.spec.get("minimum", 1)
        return int(minimum) if minimum > 0 else 1
    return {"boolean": True, "number": 0.5, "object": {}}.get(str(field.type), "value-1")


def text_sample(field: Field) -> str:
    """A valid string: an e-mail address (apps 356), a URL where the server checks one (apps 293;
    an LDAP URI, directory 309), a PEM the server can load (apps 52, 66), else any text."""
    if field.name == "delegated_subject":
        return "kinds@example.com"
    if field.name in ("external_host", "url", "acs_url", "reply_url") or field.spec.get("format") == "uri":
        return "https://kinds.example.com"
    return CERTIFICATE if field.name == "certificate_data" else "value-1"


def other(field: Field, value: Any) -> Any:
    """A different valid value of the same field."""
    if "enum" in field.spec:
        options = [v for v in field.spec["enum"] if v != value]
        return options[0]
    if field.type == "boolean":
        return not value
    if field.type in ("integer", "number"):
        return (value or 0) + 1 if field.spec.get("maximum") is None or (value or 0) + 1 <= field.spec["maximum"] \
            else value - 1
    duration = re.fullmatch(r"(\w+)=(-?\d+)", str(value))
    if duration:  # a duration stays one (apps 223)
        return f"{duration[1]}={int(duration[2]) + 1}"
    return f"{value}-changed" if value else "changed"


def editable(kind: Kind) -> list[Field]:
    """Plain fields a manifest can change in place (not the name or another key field, references
    or write-only)."""
    return [f for name, f in kind.fields.items()
            if name != "name" and name not in kind.key and not f.reference and not f.write_only and not f.is_list
            and f.type in ("string", "boolean", "integer", "number") and "pattern" not in f.spec
            and "format" not in f.spec]


def creatable(kind: Kind) -> dict[str, Field]:
    """What a create needs besides the key: required fields and those without a server default."""
    return {name: kind.fields[name] for name in (*kind.required, *kind.no_default) if name not in kind.key}


CASES = [(version, name) for version in known_versions() for name, kind in load_model(version).kinds.items()
         if not kind.singleton]  # the settings are never created or deleted: tests/test_settings.py


# A fresh install has neither a web-based source (the `source` stage refuses the built-in one,
# recordings 2026.2.2/kinds/23) nor an endpoint connector (`endpoints` needs one): add them (the
# source through the API: sources are a kind of the model; a SAML source needs `issuer`,
# directory recordings 290, 291).
WEB_SOURCE = {"name": "kinds SAML", "slug": "kinds-saml", "sso_url": "https://idp.example.com/sso",
              "issuer": "kinds"}
CONNECTOR = {"connector_uuid": "c0000000-0000-4000-8000-000000000002", "name": "kinds-connector"}


def add_web_source(sandbox: Sandbox, url: str) -> None:
    """Make `WEB_SOURCE` on a served sandbox, as a user would (POST /sources/saml/)."""
    flow = next(f["pk"] for f in sandbox.objects("flow") if f["slug"] == TARGET_SAMPLES["flow"])
    answer = httpx.post(f"{url}/api/v3/sources/saml/", headers={"Authorization": f"Bearer {TOKEN}"},
                        json={**WEB_SOURCE, "pre_authentication_flow": flow})
    assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[Sandbox, str]]]:
    started: dict[str, tuple[Sandbox, str]] = {}
    contexts = []
    for version in known_versions():
        sandbox = Sandbox(api_version=version, token=TOKEN, enterprise=True)
        if "endpoint_connector" in sandbox.model.targets:
            sandbox.add_seed_object("/endpoints/connectors/", CONNECTOR)
        context = sandbox.serve_in_thread()
        started[version] = (sandbox, context.__enter__())
        contexts.append(context)
        add_web_source(sandbox, started[version][1])
        add_provider(started[version][1], sandbox)
    yield started
    for context in contexts:
        context.__exit__(None, None, None)


def add_provider(url: str, sandbox: Sandbox) -> None:
    """A proxy provider for the kinds that need one (an outpost's `providers`, apps 456, 465)."""
    flows = {f["slug"]: f["pk"] for f in sandbox.objects("flow")}
    body = {"name": PROVIDER, "authorization_flow": flows["default-provider-authorization-implicit-consent"],
            "external_host": "https://kinds.example.com", "mode": "forward_single"}
    if "invalidation_flow" in sandbox.model.kinds["proxy_provider"].fields:
        body["invalidation_flow"] = flows["default-provider-invalidation-flow"]
    answer = httpx.post(f"{url}/api/v3/providers/proxy/", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 201, answer.text


PROVIDER = "kinds-existing-provider"
CERTIFICATE = key_pair("kinds")[0]


def seed_keys(sandbox: Sandbox, model_version: str) -> dict[str, list[str]]:
    model = load_model(model_version)
    keys: dict[str, list[str]] = {}
    for name, target in model.targets.items():
        if len(target.key) == 1:
            keys[name] = [str(o[target.key[0]]) for o in sandbox.seed_objects(target.path)]
    keys["provider"] = [PROVIDER]
    return keys


# Fields the server demands in a write although they did not change (the model's companions,
# each from a recording): which ones a PATCH of a kind's first editable field carries, and which
# ones a create carries beyond the manifest's fields.
PATCH_COMPANIONS = {
    "identification": ["user_fields"],  # recordings 2023.10.7/17, 18
    "policy_binding": ["target", "policy"],  # flows 251, 262
    "event_matcher_policy": ["action"],  # flows 138, 142
    "reputation_policy": ["check_ip"],  # flows 184, 189
    "flow_stage_binding": ["re_evaluate_policies"],  # flows 100-103
    "proxy_provider": ["mode", "internal_host"],  # apps 280, 282, 283
    "oauth_source": ["provider_type", "authorization_url", "access_token_url", "profile_url"],  # directory 271-276
    "ldap_source": ["sync_users_password"],  # directory 2023.10.7 320, 323
    "notification_transport": ["webhook_url"],  # directory 390
    "blueprint_instance": ["path"],  # directory 446, 447
}
CREATE_COMPANIONS = {"reputation_policy": {"check_ip"}}  # flows 184
# Fields the sample object cannot change alone: its empty kubeconfig needs `local` (apps 498, 500).
FIXED = {"kubernetes_connection": ("local",)}
PARENT = {"slug": "kinds-parent", "name": "kinds parent", "title": "Kinds", "designation": "authentication"}
# The entry a nested kind is written in, by the parent's kind: a flow's bindings, an application's
# entitlements (apps 446), a RAC provider's endpoints (apps 344).
PARENTS = {
    "flow": PARENT,
    "application": {"slug": "kinds-parent", "name": "kinds parent"},
    "rac_provider": {"kind": "rac", "name": "kinds-parent",
                     "authorization_flow": "default-provider-authorization-implicit-consent"},
}


def parent_of(version: str, kind: Kind) -> tuple[Kind, str]:
    """The kind a nested kind is written in (the first, for a policy binding: a flow), and the list."""
    model = load_model(version)
    for parent_name in PARENTS:
        for list_name, nested in model.kinds[parent_name].nested.items() if parent_name in model.kinds else ():
            if nested.kind == kind.name:
                return model.kinds[parent_name], list_name
    raise AssertionError(f"{kind.name} is written in no parent the test knows")


def manifest_of(version: str, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """The manifest holding `obj`: in its section, or nested in the parent's list."""
    if kind.section is not None:
        return {kind.section: [obj]}
    parent, list_name = parent_of(version, kind)
    return {parent.section: [{**PARENTS[parent.name], list_name: [obj] if obj else []}]}


@dataclass
class Trial:
    """One kind's object on one sandbox, made and changed through the CLI: its manifest entry `obj`
    (set anew before each step), written to `manifest` and applied with `args`."""

    sandbox: Sandbox
    url: str
    version: str
    kind: Kind
    name: str
    obj: dict[str, Any]
    manifest: Path
    args: tuple[str, ...]

    @property
    def nested(self) -> bool:
        return self.kind.section is None

    def apply_once(self) -> None:
        self.manifest.write_text(yaml.safe_dump(manifest_of(self.version, self.kind, self.obj), sort_keys=False))
        result = run(self.url, "apply", str(self.manifest), "--auto-approve", *self.args)
        assert result.exit_code == 0, result.output

    def step(self, expected_method: str) -> tuple[str, str, Any]:
        self.sandbox.clear_log()
        self.apply_once()
        [call] = writes(self.sandbox)
        assert call[0] == expected_method
        return call


def first_entry(version: str, kind: Kind, keys: dict[str, list[str]], name: str) -> dict[str, Any]:
    """The manifest entry that creates the object: what a create needs, references by natural key."""
    obj: dict[str, Any] = {**{n: sample(f, keys) for n, f in creatable(kind).items()}}
    if kind.section is None:
        parent_field = load_model(version).parent_field(kind)
        obj.pop(parent_field, None)  # written by where the entry stands
        if "name" in kind.key:
            obj["name"] = name
        else:
            key_field = "stage" if "stage" in kind.key else "policy"
            obj[key_field] = TARGET_SAMPLES["stage"] if key_field == "stage" else keys["policy"][0]
            obj["order"] = 7
    else:
        obj = {**({"kind": kind.manifest_kind} if len(load_model(version).sections[kind.section]) > 1 else {}),
               kind.key[0]: name, **obj}
    if kind.name == "source":
        obj["source"] = {"source": WEB_SOURCE["slug"]}
    if kind.name == "kubernetes_connection":
        obj["local"] = True  # an empty kubeconfig only for the local cluster (apps 498, 500)
    if kind.name == "provider_rac_mapping":
        obj["expression"] = "return {}"  # optional (apps 95), but a PUT would send it
    if kind.name == "proxy_provider":
        obj["internal_host"] = "http://kinds.internal:8080"  # in mode proxy (the default), apps 273
    if kind.name == "notification_transport":
        obj["webhook_url"] = "https://kinds.example.com/hook"  # the update's mode webhook needs one (directory 387)
    return obj


def parent_object(trial: Trial) -> dict[str, Any]:
    """A nested kind's parent, made first in a setup apply of its own; {} for other kinds."""
    if not trial.nested:
        return {}
    saved, trial.obj = trial.obj, {}
    trial.apply_once()
    trial.obj = saved
    parent, _ = parent_of(trial.version, trial.kind)
    key = parent.key[0]
    [found] = [o for o in trial.sandbox.objects(parent.name) if o[key] == PARENTS[parent.name][key]]
    return found


def creates(trial: Trial, parent: dict[str, Any]) -> dict[str, Any]:
    """Applies the first entry; the object the sandbox then holds."""
    kind, nested = trial.kind, trial.nested
    # create: the POST body is the manifest with references as ids
    _, path, body = trial.step("POST")
    assert path == f"/api/v3{kind.path}"
    parent_field = load_model(trial.version).parent_field(kind) or ""
    written = set(trial.obj) - {"kind"} | ({parent_field} if nested else set())
    assert set(body) == written | CREATE_COMPANIONS.get(kind.name, set())
    if nested:
        assert body[parent_field] == parent["pk"]
    [created] = [o for o in trial.sandbox.objects(kind.name)
                 if (o.get(parent_field) == parent["pk"] if nested else o.get(kind.key[0]) == trial.name)]
    return created


def updates(trial: Trial, field: Field, created: dict[str, Any], keys: dict[str, list[str]], detail: str) -> None:
    # update: one changed field, alone in the PATCH body (plus what the server demands with it)
    trial.obj[field.name] = other(field, created.get(field.name, sample(field, keys)))
    _, path, body = trial.step("PATCH")
    companions = {c: created[c] for c in PATCH_COMPANIONS.get(trial.kind.name, [])}
    assert (path, body) == (detail, {**companions, field.name: trial.obj[field.name]})


def replaces(trial: Trial, field: Field, detail: str) -> None:
    # replace: `update: put` sends the full object
    trial.obj["update"] = "put"
    trial.obj[field.name] = other(field, trial.obj[field.name])
    _, path, body = trial.step("PUT")
    assert path == detail and body[field.name] == trial.obj[field.name]
    assert set(body) >= set(trial.kind.required) and "pk" not in body and "flow_set" not in body


def deletes(trial: Trial, created: dict[str, Any], detail: str) -> None:
    # delete, only because the manifest says state: absent, or leaves the entry out of its list
    obj, kind = trial.obj, trial.kind
    trial.obj = {} if trial.nested else {**({"kind": obj["kind"]} if "kind" in obj else {}), kind.key[0]: trial.name,
                                         "state": "absent"}
    _, path, body = trial.step("DELETE")
    assert (path, body) == (detail, None)
    assert [o for o in trial.sandbox.objects(kind.name) if o[kind.id_field] == created[kind.id_field]] == []


@pytest.mark.parametrize(("version", "kind_name"), CASES, ids=[f"{v}-{k}" for v, k in CASES])
def test_every_kind_create_update_replace_delete(version: str, kind_name: str, tmp_path: Path,
                                                  servers: dict[str, tuple[Sandbox, str]]) -> None:
    sandbox, url = servers[version]
    kind = load_model(version).kinds[kind_name]
    keys = seed_keys(sandbox, version)
    missing_targets = [f.reference for f in creatable(kind).values()
                       if f.reference and not (TARGET_SAMPLES.get(f.reference) or keys.get(f.reference))]
    if missing_targets:
        pytest.fail(f"no {missing_targets} in the sandbox seed to reference")
    name = f"kinds-{kind_name.replace('_', '-')}"
    if kind_name == "blueprint_instance":  # a path must name a shipped blueprint (directory 441): one made anew
        name = "default/flow-oobe.yaml"
        [oobe] = [i for i in sandbox.objects(kind_name) if i["path"] == name]
        sandbox.store.delete(oobe["pk"])
    trial = Trial(sandbox, url, version, kind, name, first_entry(version, kind, keys, name), tmp_path / "m.yaml",
                  ("--state", str(tmp_path / "state.json"), "--api-version", version))
    created = creates(trial, parent_object(trial))
    detail = f"/api/v3{kind.path}{created[kind.url_field]}/"
    # a second default brand (tenant) is refused: only one may be the default (directory 207)
    fields = [f for f in editable(kind) if f.name not in (kind.disambiguator, "default", *FIXED.get(kind_name, ()))]
    if fields:
        updates(trial, fields[0], created, keys, detail)
        replaces(trial, fields[0], detail)
    else:
        assert set(kind.fields) - {"name"} <= {f for f, s in kind.fields.items()
                                               if s.reference or s.is_list or s.write_only or s.type == "object"}

    # no changes left
    assert run(url, "plan", str(trial.manifest), "--detailed-exitcode", *trial.args).exit_code == 0
    deletes(trial, created, detail)
