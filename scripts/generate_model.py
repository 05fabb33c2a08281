#!/usr/bin/env python3
"""Derive the project's compact API model and manifest JSON Schemas from authentik's OpenAPI specs.

Run from the project root with the shared material beside it:

    python scripts/generate_model.py [--shared ../shared]

Writes, per API version:
  schemas/api-<version>.json              the model the package reads at run time
  schemas/manifest-<version>.schema.json  the JSON Schema for manifests (validator and editors)
  reconciler/model/seeds/<version>.json   the fresh-install objects the sandbox starts with

The OpenAPI spec gives paths, types and required fields; the recordings of a real server give
what the spec leaves out or gets wrong (server-filled defaults, write-only fields that the spec
does not mark, display names, fields a write must repeat). The recording wins where the two
disagree. Each kind also says how its objects are known (its natural key, the field in its URL,
the scope in which the key is unique), so the engine derives identity from data, not code.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

VERSIONS = ("2023.10.7", "2026.2.2")


@dataclass(frozen=True)
class Family:
    """A group of collections whose kinds are written under one manifest section.

    `prefix`: the collections under it are kinds (each with list/create and a detail path).
    `scope`: the uniqueness scope of their keys when one unique column spans all of them (stage
    names are unique across stage kinds, policy names across policy kinds), else None (each
    kind its own scope). `member`: a response field only the members of the scope have (prompts
    and invitations live under /stages/ but are no stages). `suffix`: added to the manifest kind
    to make the model's kind id unique (`password` is a stage kind and a policy kind)."""

    prefix: str
    section: str
    scope: str | None
    member: str = ""
    suffix: str = ""
    skip: tuple[str, ...] = ()
    recorded_create: str = ""


FAMILIES = (
    Family("/stages/", "stages", "stage", member="flow_set", recorded_create="kinds/*-{dir}-2*create*.json"),
    Family("/policies/", "policies", "policy", member="bound_to", suffix="_policy", skip=("/policies/bindings/",),
           recorded_create="flows/*-policy-{dir}-2-create.json"),
)


@dataclass(frozen=True)
class Single:
    """A collection that is one kind of its own: flows and the two kinds of bindings."""

    name: str
    section: str | None  # None: written only nested inside another kind's entries
    key: tuple[str, ...]
    recorded_create: str
    disambiguator: str | None = None
    references: dict[str, str] = field(default_factory=dict)


SINGLES = {
    "/flows/instances/": Single("flow", "flows", ("slug",), "flows/03-flows-create.json"),
    # A binding is known by its flow and stage; `order` tells apart the same stage bound twice
    # (FINDINGS flows: the triple (target, stage, order) is unique, 77, 78).
    "/flows/bindings/": Single("flow_stage_binding", None, ("target", "stage"), "flows/76-fsb-create.json",
                               disambiguator="order", references={"target": "flow"}),
    # A policy binding is known by its target and what it binds (policy, group or user); groups
    # may be bound twice to one target at one order (269), so `order` tells them apart.
    "/policies/bindings/": Single("policy_binding", None, ("target", "policy", "group", "user"),
                                  "flows/232-pb-create-policy-to-flow.json", disambiguator="order",
                                  references={"target": "binding_target", "user": "user"}),
}

# Kinds whose manifest entries hold lists of other kinds, written without `kind` and without the
# parent reference: a flow's `bindings` and `policies`, a binding's `policies`. `keys` are the
# entry fields written as plain natural keys (`stage: NAME`) that are references on the wire.
# When an entry lists them, the parent's set of those children is managed exactly.
NESTED: dict[str, dict[str, dict[str, Any]]] = {
    "flow": {
        "bindings": {"kind": "flow_stage_binding", "parent": "target", "keys": {"stage": "stage"}},
        "policies": {"kind": "policy_binding", "parent": "target",
                     "keys": {"policy": "policy", "group": "group", "user": "user"}},
    },
    "flow_stage_binding": {
        "policies": {"kind": "policy_binding", "parent": "target",
                     "keys": {"policy": "policy", "group": "group", "user": "user"}},
    },
}

# Which kind of object a reference field points at. A field the table does not know fails the
# run, so a new authentik version cannot slip an unmodelled reference past the generator.
REFERENCE_TARGETS: dict[str, str] = {
    "configure_flow": "flow",
    "enrollment_flow": "flow",
    "recovery_flow": "flow",
    "passwordless_flow": "flow",
    "target_flow": "flow",
    "flow": "flow",
    "password_stage": "stage",
    "captcha_stage": "stage",
    "webauthn_stage": "stage",
    "configuration_stages": "stage",
    "stage": "stage",
    "sources": "source",
    "source": "source",
    "mapping": "property_mapping",
    "fields": "prompt_field",
    "validation_policies": "policy",
    "policy": "policy",
    "group": "group",
    "create_users_group": "group",
    "certificate_authorities": "certificate",
    "webauthn_allowed_device_types": "webauthn_device_type",
    "device_type_restrictions": "webauthn_device_type",
    "connector": "endpoint_connector",
}

# Stage references that take one stage kind only (the model's foreign key is to that subclass):
# a reference to another kind is refused by the server as an object that does not exist.
REFERENCE_KINDS: dict[str, str] = {
    "password_stage": "password",
    "captcha_stage": "captcha",
    "webauthn_stage": "authenticator_webauthn",
}

# Objects a reference can point at: where to list them, their natural key and their id field.
# A target that is also a kind (flow, prompt_field) or a family of kinds (stage, policy) is
# listed at the same path; `union` targets are any of several (a policy binding's target).
TARGETS: dict[str, dict[str, Any]] = {
    "flow": {"path": "/flows/instances/", "key": ["slug"], "id": "pk"},
    "stage": {"path": "/stages/all/", "key": ["name"], "id": "pk"},
    "source": {"path": "/sources/all/", "key": ["slug"], "id": "pk"},
    "property_mapping": {"path": "/propertymappings/all/", "key": ["name"], "id": "pk"},
    "policy": {"path": "/policies/all/", "key": ["name"], "id": "pk"},
    "group": {"path": "/core/groups/", "key": ["name"], "id": "pk"},
    "user": {"path": "/core/users/", "key": ["username"], "id": "pk"},
    "certificate": {"path": "/crypto/certificatekeypairs/", "key": ["name"], "id": "pk"},
    "prompt_field": {"path": "/stages/prompt/prompts/", "key": ["name"], "id": "pk"},
    "flow_stage_binding": {"path": "/flows/bindings/", "key": ["target", "stage"], "id": "pk"},
    "binding_target": {"union": ["flow", "flow_stage_binding"]},
    "webauthn_device_type": {
        "path": "/stages/authenticator/webauthn_device_types/", "key": ["description"], "id": "aaguid"},
    "endpoint_connector": {"path": "/endpoints/connectors/", "key": ["name"], "id": "connector_uuid"},
}

# The brand (2026; a tenant in 2023) names the flows a domain uses for authentication, recovery,
# ...: a flow it uses must not be pruned by accident. The first of these paths the spec has.
BRAND_TARGETS = (("/core/brands/", "brand_uuid"), ("/core/tenants/", "tenant_uuid"))


def brand_target(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The `brand` target: where brands are listed, their key and id, and which of their fields
    name a flow (`flow_authentication`, ...)."""
    for path, ident in BRAND_TARGETS:
        if path in spec["paths"]:
            page = schema_of(spec, spec["paths"][path]["get"], "200")
            item = spec["components"]["schemas"][page]["properties"]["results"]["items"]["$ref"].split("/")[-1]
            fields = spec["components"]["schemas"][item]["properties"]
            flows = [name for name, prop in fields.items() if name.startswith("flow_") and prop.get("format") == "uuid"]
            return {"path": path, "key": ["domain"], "id": ident, "flows": flows}
    return None


# Nested write fields that the spec lists in request bodies but the server cannot take: 2023.10.7
# answers any valid flow_set with a 405 (FINDINGS 2023.10.7 [43, 44, 46, 50]); 2026.2.2 drops it.
NEVER_SEND = {"flow_set", "promptstage_set"}

# Secrets the server returns in clear (KINDS.md "Most surprising" 2): sensitive although readable.
KNOWN_SECRETS = {
    "authenticator_duo": ["client_secret", "admin_secret_key"],
    "authenticator_sms": ["auth", "auth_password"],
    "authenticator_email": ["password"],
    "captcha": ["private_key"],
    "email": ["password"],
    "authenticator_endpoint_gdtc": ["credentials"],
}

# Fields the server needs in a write although they did not change, as rules the planner applies
# to every PATCH (and, for `one_truthy`, to creates from the defaults). `why` is what the plan
# says; each cites the recordings that show it.
#   always:     send these fields, from the live object, when the body lacks them;
#   one_truthy: unless the body holds a true or non-empty value for one of them, send the first
#               one that has such a value live (or by default);
#   together:   when the body holds one of them, send the others too.
WRITE_COMPANIONS: dict[str, list[dict[str, Any]]] = {
    "identification": [{
        "rule": "one_truthy", "fields": ["user_fields", "sources"],
        "why": "authentik refuses an identification write without user_fields or sources "
               "(recordings 17, 18)"}],
    "policy_binding": [
        {"rule": "always", "fields": ["target"],
         "why": "authentik fails a policy-binding write without target (flows recording 251)"},
        {"rule": "one_truthy", "fields": ["policy", "group", "user"],
         "why": "authentik refuses a policy-binding write without its policy, group or user "
                "(flows recordings 251, 262)"}],
    "event_matcher_policy": [{
        "rule": "always", "fields": ["action"],
        "why": "authentik fails an event-matcher write without action (flows recordings 138, 142)"}],
    "reputation_policy": [{
        "rule": "one_truthy", "fields": ["check_ip", "check_username"],
        "why": "authentik refuses a reputation write unless it sets check_ip or check_username "
               "(flows recordings 184, 189)"}],
    "flow_stage_binding": [{
        "rule": "together", "fields": ["evaluate_on_plan", "re_evaluate_policies"],
        "why": "authentik reads a missing evaluation flag as its default, not the stored value "
               "(flows recordings 100, 101, 103)"}],
}

# Fields the server has no default for although the spec does not require them: a create without
# them passes validation and then fails in the database (identification: recording 09, a 405;
# event matcher: flows recording 138, a 405).
NO_DEFAULT = {"identification": ["user_fields"], "event_matcher_policy": ["action"]}

# Server defaults no recording shows because the create that would show them is refused. A
# reputation policy checks the IP and the username unless told otherwise (FINDINGS flows
# "although both default to true"; authentik's ReputationPolicy model, read through the search
# tool: both BooleanFields default to True).
# The same for the password uniqueness policy, which needs an enterprise licence the recorded server
# lacked (flows 193, 195): its model's defaults are `password_field = "password"` and
# `num_historical_passwords = 1` (authentik/enterprise/policies/unique_password/models.py).
DEFAULT_OVERRIDES: dict[str, dict[str, Any]] = {"reputation_policy": {"check_ip": True, "check_username": True},
                     "unique_password_policy": {"password_field": "password", "num_historical_passwords": 1}}

# Deleting an object deletes the objects whose non-nullable reference points at it (flow-stage
# bindings go with their stage or flow, FINDINGS flows 119-124); these nullable references
# cascade too: a policy binding goes with its policy (276, 278), and, by authentik's PolicyBinding
# model (read through the search tool: on_delete=CASCADE), with its group or user.
CASCADE_NULLABLE = {"policy_binding": ["policy", "group", "user"]}

KIND_RENAMES = {
    "prompt/stages": "prompt",
    "prompt/prompts": "prompt_field",
    "invitation/stages": "invitation",
    "invitation/invitations": "invitation_invite",
}

FIELD_KEYS = ("type", "format", "nullable", "enum", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "description")
CONSTANT_KEYS = ("component", "verbose_name", "verbose_name_plural", "meta_model_name")


def manifest_kind(family: Family, collection: str) -> str:
    """`/stages/authenticator/duo/` -> `authenticator_duo` (the contract's naming)."""
    rel = collection[len(family.prefix):].strip("/")
    return KIND_RENAMES.get(rel, rel.replace("/", "_"))


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref` and single-entry `allOf` so a field reads as one flat schema."""
    node = dict(node)
    if "$ref" in node:
        target = spec["components"]["schemas"][node.pop("$ref").split("/")[-1]]
        node = {**resolve(spec, target), **node}
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = resolve(spec, node.pop("allOf")[0])
        node = {**inner, **node}
    if "items" in node:
        node["items"] = resolve(spec, node["items"])
    return node


def compact_field(spec: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    node = resolve(spec, raw)
    field: dict[str, Any] = {k: node[k] for k in FIELD_KEYS if k in node}
    if "description" in field:
        field["description"] = field["description"].strip()
    if node.get("type") == "array":
        field["items"] = {k: node["items"][k] for k in FIELD_KEYS if k in node["items"]}
        field["items"].pop("description", None)
    if "enum" in field and "type" not in field:
        field["type"] = "integer" if all(isinstance(v, int) for v in field["enum"]) else "string"
    if field.get("enum") and None in field["enum"]:
        field["enum"] = [v for v in field["enum"] if v is not None]
        field["nullable"] = True
    if node.get("type") == "object" or "additionalProperties" in node:
        field["type"] = "object"
    return field


def schema_of(spec: dict[str, Any], op: dict[str, Any], key: str) -> str:
    if key == "request":
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    else:
        ref = op["responses"][key]["content"]["application/json"]["schema"]["$ref"]
    return str(ref).split("/")[-1]


def load_recorded_create(recordings: Path, pattern: str) -> dict[str, Any] | None:
    """The first recorded create matching `pattern` that the server accepted."""
    for path in sorted(recordings.glob(pattern)):
        rec: dict[str, Any] = json.loads(path.read_text())
        if rec["response"]["status"] == 201:
            return rec
    return None


def fallback_default(field: dict[str, Any]) -> Any:
    """A server default for kinds no recording shows: what Django stores for an unset column."""
    if field.get("nullable"):
        return None
    return {"array": [], "object": {}, "boolean": False, "string": ""}.get(field.get("type", ""))


@dataclass(frozen=True)
class KindSpec:
    """How one collection becomes a kind of the model."""

    name: str
    manifest_kind: str
    section: str | None
    scope: str | None
    key: tuple[str, ...]
    recorded_create: str
    disambiguator: str | None = None
    references: dict[str, str] = field(default_factory=dict)


def reference_of(kind: KindSpec, field_name: str, field: dict[str, Any], collection: str) -> str | None:
    """The target a field points at: by the kind's own table, or by name for any UUID field."""
    if field_name in kind.references:
        return kind.references[field_name]
    if field.get("format") == "uuid" or field.get("items", {}).get("format") == "uuid":
        if field_name not in REFERENCE_TARGETS:
            sys.exit(f"{collection}: unmodelled reference field {field_name!r}")
        return REFERENCE_TARGETS[field_name]
    return None


def build_kind(spec: dict[str, Any], recordings: Path, collection: str, detail: str, lookup: str,
               kind: KindSpec) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    ops = spec["paths"][collection]
    detail_ops = spec["paths"][detail]
    request_name = schema_of(spec, ops["post"], "request")
    response_name = schema_of(spec, ops["post"], "201")
    request = schemas[request_name]
    response = schemas[response_name]
    patch_required = schemas[schema_of(spec, detail_ops["patch"], "request")].get("required", [])
    name = kind.name

    fields: dict[str, Any] = {}
    for field_name, raw in request["properties"].items():
        if field_name in NEVER_SEND:
            continue
        field = compact_field(spec, raw)
        in_response = field_name in response["properties"]
        if raw.get("writeOnly") or not in_response:
            field["write_only"] = True
        target = reference_of(kind, field_name, field, collection)
        if target is not None:
            field["reference"] = target
            if field_name in REFERENCE_KINDS:
                field["reference_kind"] = REFERENCE_KINDS[field_name]
        if field_name in KNOWN_SECRETS.get(name, []):
            field["sensitive"] = True
        fields[field_name] = field
    for secret in KNOWN_SECRETS.get(name, []):
        if secret in fields:
            fields[secret]["sensitive"] = True
    missing_key = [f for f in kind.key if f not in fields]
    if missing_key:
        sys.exit(f"{collection}: key fields {missing_key} are not writable fields")

    read_only = [f for f in response["properties"] if f not in fields]
    dir_name = collection.strip("/").split("/", 1)[1].replace("/", "_")
    recorded = load_recorded_create(recordings, kind.recorded_create.format(dir=dir_name))
    defaults: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    if recorded:
        sent = recorded["request"]["json"]
        body = recorded["response"]["json"]
        for key, value in body.items():
            if key in fields and key not in sent:
                defaults[key] = value
            elif key in CONSTANT_KEYS:
                constants[key] = value
    for field_name, field in fields.items():
        if field_name in NO_DEFAULT.get(name, []) or field_name in kind.key:
            continue
        if field_name not in defaults and not field.get("write_only") \
                and field_name not in request.get("required", []):
            defaults[field_name] = fallback_default(field)
    defaults.update(DEFAULT_OVERRIDES.get(name, {}))
    return {
        "path": collection,
        "lookup": lookup,
        "url_field": "slug" if lookup == "slug" else "pk",
        "model": response_name,
        "section": kind.section,
        "manifest_kind": kind.manifest_kind,
        "family": kind.scope or name,
        "key": list(kind.key),
        "disambiguator": kind.disambiguator,
        "nested": NESTED.get(name, {}),
        "required": [f for f in request.get("required", []) if f in fields],
        "cascade": [f for f, spec in fields.items() if spec.get("reference") and spec.get("type") != "array"
                    and (not spec.get("nullable") or f in CASCADE_NULLABLE.get(name, []))],
        "patch_required": patch_required,
        "write_companions": WRITE_COMPANIONS.get(name, []),
        "fields": fields,
        "read_only": read_only,
        "response_order": list(response["properties"]),
        "defaults": defaults,
        "no_default": NO_DEFAULT.get(name, []),
        "constants": constants,
        "recorded": bool(recorded),
    }


def collections(spec: dict[str, Any]) -> list[tuple[str, str, str, KindSpec]]:
    """Every (collection, detail path, lookup, kind) the model covers, in path order."""
    found = []
    for collection, ops in spec["paths"].items():
        if "post" not in ops or "requestBody" not in ops["post"]:
            continue
        details = [p for p in spec["paths"] if re.fullmatch(re.escape(collection) + r"\{(\w+)\}/", p)]
        if not details or "patch" not in spec["paths"][details[0]]:
            continue  # an action endpoint such as /prompt/prompts/preview/, not an object kind
        lookup = re.search(r"\{(\w+)\}/$", details[0]).group(1)  # type: ignore[union-attr]
        if collection in SINGLES:
            single = SINGLES[collection]
            kind = KindSpec(single.name, single.name, single.section, None, single.key, single.recorded_create,
                            single.disambiguator, single.references)
        else:
            family = next((f for f in FAMILIES if collection.startswith(f.prefix) and collection not in f.skip), None)
            if family is None:
                continue
            short = manifest_kind(family, collection)
            response = spec["components"]["schemas"][schema_of(spec, ops["post"], "201")]
            scope = family.scope if family.member in response["properties"] else None
            kind = KindSpec(short + family.suffix, short, family.section, scope, ("name",), family.recorded_create)
        found.append((collection, details[0], lookup, kind))
    return found


def build_model(spec: dict[str, Any], recordings: Path, version: str) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for collection, detail, lookup, kind in collections(spec):
        if kind.name in kinds:
            sys.exit(f"{collection}: kind {kind.name!r} defined twice")
        kinds[kind.name] = build_kind(spec, recordings, collection, detail, lookup, kind)
    targets = {name: dict(target) for name, target in TARGETS.items()
               if "union" in target or target["path"] in spec["paths"]}
    brand = brand_target(spec)
    if brand is not None:
        targets["brand"] = brand
    sections: dict[str, dict[str, str]] = {}
    for name, kind in sorted(kinds.items()):
        if kind["section"]:
            sections.setdefault(kind["section"], {})[kind["manifest_kind"]] = name
    return {"api_version": version, "kinds": dict(sorted(kinds.items())), "targets": targets,
            "sections": dict(sorted(sections.items()))}


SECRET_SOURCE = {
    "type": "object",
    "description": "A secret read at plan time: {env: VAR} or {file: PATH} (relative to the manifest).",
    "oneOf": [
        {"properties": {"env": {"type": "string", "minLength": 1}}, "required": ["env"],
         "additionalProperties": False},
        {"properties": {"file": {"type": "string", "minLength": 1}}, "required": ["file"],
         "additionalProperties": False},
    ],
}


def reference_schema(target: str, key: list[str]) -> dict[str, Any]:
    return {"type": "object", "description": f"A reference to a {target} by its {'+'.join(key)}.",
            "properties": {target: {"type": "string", "minLength": 1}},
            "required": [target], "additionalProperties": False}


def value_schema(field: dict[str, Any], target_keys: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON Schema of one manifest field: the API type, plus references and secret sources."""
    schema: dict[str, Any] = {k: field[k] for k in ("type", "enum", "minLength", "maxLength", "pattern", "minimum",
                                    "maximum", "description") if k in field}
    if field.get("type") == "object":
        schema = {"type": "object"}
    if field.get("type") == "array":
        item = {k: field["items"][k] for k in ("type", "enum", "minLength", "maxLength", "pattern")
                if k in field["items"]}
        if field.get("reference"):
            item = {"anyOf": [{"type": "string", "format": "uuid"},
                              reference_schema(field["reference"], target_keys[field["reference"]])]}
        schema["items"] = item
        if field.get("reference"):
            schema["uniqueItems"] = True  # the server keeps reference lists as sets
    elif field.get("reference"):
        target = field["reference"]
        schema = {"anyOf": [{"type": "string", "format": "uuid"},
                            reference_schema(target, target_keys[target])]}
    elif field.get("type") == "string":
        schema = {"anyOf": [schema, SECRET_SOURCE]}
    if field.get("nullable"):
        schema = {"anyOf": [schema, {"type": "null"}]}
    if "description" in field:
        schema["description"] = field["description"]
    return schema


CONTROL_PROPERTIES: dict[str, Any] = {
    "state": {"enum": ["present", "absent"],
              "description": "absent deletes the object (only with this explicit mark)."},
    "update": {"enum": ["patch", "put"],
               "description": "put replaces the object with a full PUT; patch (default) sends changed fields."},
}


def entry_schema(model: dict[str, Any], name: str, nested_in: dict[str, Any] | None,
                 target_keys: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON Schema of one manifest entry of kind `name`: its fields, its control keys and the
    lists it nests; `nested_in` is the parent's NESTED entry when it is written inside one."""
    spec = model["kinds"][name]
    section = spec["section"]
    multi_kind = section is not None and len(model["sections"][section]) > 1
    props: dict[str, Any] = {}
    if multi_kind:
        props["kind"] = {"const": spec["manifest_kind"]}
    if nested_in is None:
        props["state"] = CONTROL_PROPERTIES["state"]
    props["update"] = CONTROL_PROPERTIES["update"]
    props["ignore_changes"] = {"type": "array", "items": {"enum": sorted(set(spec["fields"]) - set(spec["key"]))},
                               "description": "Fields other processes own: never planned."}
    entry_keys = nested_in["keys"] if nested_in else {}
    for field_name, field_spec in spec["fields"].items():
        if nested_in and field_name == nested_in["parent"]:
            continue  # implied by where the entry is written
        if field_name in spec["key"] and not field_spec.get("reference"):
            # A natural key is plain text: never a secret source, never null.
            props[field_name] = {k: field_spec[k] for k in ("type", "minLength", "maxLength", "pattern", "description")
                                 if k in field_spec}
        elif field_name in entry_keys:
            target = entry_keys[field_name]
            props[field_name] = {"type": "string", "minLength": 1,
                                 "description": f"The {target} by its {'+'.join(target_keys[target])}."}
        else:
            props[field_name] = value_schema(field_spec, target_keys)
    for list_name, nested in spec["nested"].items():
        props[list_name] = {"type": "array", "items": {"$ref": f"#/$defs/{nested['kind']}@{name}"},
                            "description": f"When present, exactly these {list_name}: others are removed."}
    required = [k for k in spec["key"] if k in props]
    if spec["disambiguator"]:
        required.append(spec["disambiguator"])
    schema: dict[str, Any] = {"type": "object", "properties": props,
                              "required": (["kind"] if multi_kind else []) + required,
                              "additionalProperties": False}
    alternatives = [k for k in spec["key"] if k in entry_keys and k not in spec["required"]]
    if len(alternatives) > 1:  # a policy binding binds exactly one of policy, group or user
        schema["required"] = [k for k in schema["required"] if k not in alternatives]
        schema["oneOf"] = [{"required": [k]} for k in alternatives]
    return schema


def build_manifest_schema(model: dict[str, Any]) -> dict[str, Any]:
    target_keys = {name: t["key"] for name, t in model["targets"].items() if "key" in t}
    defs: dict[str, Any] = {}
    for name, spec in model["kinds"].items():
        if spec["section"]:
            defs[name] = entry_schema(model, name, None, target_keys)
        for nested in spec["nested"].values():
            defs[f"{nested['kind']}@{name}"] = entry_schema(model, nested["kind"], nested, target_keys)
    properties: dict[str, Any] = {}
    for section, kinds in model["sections"].items():
        if len(kinds) == 1:
            items: dict[str, Any] = {"$ref": f"#/$defs/{next(iter(kinds.values()))}"}
        else:
            items = {
                "type": "object",
                "required": ["kind"],
                "properties": {"kind": {"enum": sorted(kinds)}},
                "allOf": [{"if": {"properties": {"kind": {"const": short}}, "required": ["kind"]},
                           "then": {"$ref": f"#/$defs/{name}"}} for short, name in sorted(kinds.items())],
            }
        properties[section] = {"type": "array", "items": items}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://authentik-reconciler.invalid/schemas/manifest-{model['api_version']}.schema.json",
        "title": f"authentik-reconciler manifest (authentik {model['api_version']})",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1],
                        help="project root to write into (default: this checkout)")
    args = parser.parse_args()
    root = args.out
    for version in VERSIONS:
        spec = yaml.load((args.shared / "authentik-openapi" / f"authentik-{version}.yml").read_text(),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        recordings = args.shared / "authentik-recordings" / version
        model = build_model(spec, recordings, version)
        write_json(root / "schemas" / f"api-{version}.json", model)
        write_json(root / "schemas" / f"manifest-{version}.schema.json", build_manifest_schema(model))
        fresh = recordings / "fresh-install.json"
        if fresh.exists():
            write_json(root / "reconciler" / "model" / "seeds" / f"{version}.json", build_seed(recordings, spec))
        print(f"{version}: {len(model['kinds'])} kinds, {len(model['targets'])} reference targets")


# -- the sandbox seed ------------------------------------------------------------------------------
# fresh-install.json lists what a fresh install holds at the endpoints it read. The flows recordings
# (flows/) add the default policy bindings (224, 293) and the admin user (226), but they were made
# on another install, so their objects are carried over by natural key: policies by name, flows by
# slug, flow-stage bindings by flow, stage and order, groups by name and users by username. Targets
# the seed does not hold (notification rules) keep their pk.
POLICY_BINDINGS = "/policies/bindings/"
USERS = "/core/users/"
FLOW_BINDING_READS = ("74-fsb-list-page", "289-defaults-flow-bindings-default-authentication-flow",
                      "290-defaults-flow-bindings-default-source-enrollment",
                      "292-defaults-flow-bindings-default-invalidation-flow", "300-verify-flow-bindings-count")


def build_seed(recordings: Path, spec: dict[str, Any]) -> dict[str, Any]:
    seed: dict[str, Any] = json.loads((recordings / "fresh-install.json").read_text())
    lists = seed["lists"]
    brand = default_brand(spec, lists)
    if brand is not None:
        lists[brand[0]] = [brand[1]]
    flows = recordings / "flows"
    if not flows.is_dir():
        return seed
    recorded = {path.stem: json.loads(path.read_text())["response"].get("json")
                for path in flows.glob("[0-9]*.json")}
    bindings = recorded["224-pb-list-fresh"]["results"]
    if {b["pk"] for b in bindings} != {b["pk"] for b in recorded["293-defaults-policy-bindings"]["results"]}:
        sys.exit("flows recordings 224 and 293 list different default policy bindings")
    ids = carried_ids(lists, recorded)
    policies = {p["pk"]: p for p in lists["/policies/all/"]}
    carried = []
    for binding in bindings:
        binding = {key: ids.get(value, value) if key in ("policy", "group", "target") else value
                   for key, value in binding.items()}
        binding["policy_obj"] = policies.get(binding["policy"]) if binding["policy"] else None
        carried.append(binding)
    lists[POLICY_BINDINGS] = carried
    lists[USERS] = [carried_user(user, lists.get("/core/groups/", []))
                    for user in recorded["226-pb-lookup-user"]["results"]]
    return seed


# No recording lists brands (tenants in 2023). The default one comes from authentik's default
# blueprint (read through the search tool: blueprints/default/default-brand.yaml, 2023's
# default-tenant.yaml): domain `authentik-default`, the default brand, and the default
# authentication, invalidation and user-settings flows; every other field as the model defaults it
# (authentik/brands/models.py: title "authentik", the packaged logo and favicon).
BRAND_VALUES = {"domain": "authentik-default", "default": True, "branding_title": "authentik",
                "branding_logo": "/static/dist/assets/icons/icon_left_brand.svg",
                "branding_favicon": "/static/dist/assets/icons/icon.png", "event_retention": "days=365"}
BRAND_FLOWS = {"flow_authentication": "default-authentication-flow", "flow_invalidation": "default-invalidation-flow",
               "flow_user_settings": "default-user-settings-flow"}


def default_brand(spec: dict[str, Any], lists: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The list path and the object of the default brand (tenant) of a fresh install."""
    target = brand_target(spec)
    if target is None:
        return None
    page = schema_of(spec, spec["paths"][target["path"]]["get"], "200")
    item = spec["components"]["schemas"][page]["properties"]["results"]["items"]["$ref"].split("/")[-1]
    flows = {f["slug"]: f["pk"] for f in lists["/flows/instances/"]}
    brand: dict[str, Any] = {}
    for name, prop in spec["components"]["schemas"][item]["properties"].items():
        if name == target["id"]:
            brand[name] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"authentik-reconciler/{target['path']}default"))
        elif name in BRAND_FLOWS:
            brand[name] = flows.get(BRAND_FLOWS[name])
        elif name in BRAND_VALUES:
            brand[name] = BRAND_VALUES[name]
        else:
            brand[name] = fallback_default(compact_field(spec, prop))
    return target["path"], brand


def carried_ids(lists: dict[str, Any], recorded: dict[str, Any]) -> dict[str, str]:
    """Recorded pk -> the seed's pk of the same object, by natural key."""
    flow_slugs = {f["pk"]: f["slug"] for f in recorded["01-flows-list-fresh"]["results"]}
    seed_flows = {f["slug"]: f["pk"] for f in lists["/flows/instances/"]}
    seed_flow_slugs = {pk: slug for slug, pk in seed_flows.items()}
    seed_policies = {p["name"]: p["pk"] for p in lists["/policies/all/"]}
    seed_groups = {g["name"]: g["pk"] for g in lists.get("/core/groups/", [])}
    seed_bindings = {(seed_flow_slugs[b["target"]], b["stage_obj"]["name"], b["order"]): b["pk"]
                     for b in lists["/flows/bindings/"]}
    ids = {pk: seed_flows[slug] for pk, slug in flow_slugs.items() if slug in seed_flows}
    ids.update({p["pk"]: seed_policies[p["name"]] for p in recorded["128-policies-all-list-fresh"]["results"]
                if p["name"] in seed_policies})
    ids.update({g["pk"]: seed_groups[g["name"]] for g in recorded["225-pb-lookup-group"]["results"]
                if g["name"] in seed_groups})
    for read in FLOW_BINDING_READS:
        for b in recorded[read]["results"]:
            key = (flow_slugs[b["target"]], b["stage_obj"]["name"], b["order"])
            if key in seed_bindings:
                ids[b["pk"]] = seed_bindings[key]
    return ids


def carried_user(user: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A recorded user as the seed's install shows it: the fields its groups' `users_obj` show
    (pk, email, uid, ...) and its group memberships come from the seed; the rest, which no fresh
    read of that install shows, stays as recorded."""
    carried = dict(user)
    seen = next((u for g in groups for u in g.get("users_obj") or [] if u.get("username") == user["username"]), None)
    if seen is None:
        return carried
    carried.update(seen)
    member_of = [g for g in groups if seen["pk"] in (g.get("users") or [])]
    item_keys = list(user["groups_obj"][0]) if user.get("groups_obj") else ["pk", "name"]
    carried["groups"] = [g["pk"] for g in member_of]
    carried["groups_obj"] = [{key: g.get(key) for key in item_keys} for g in member_of]
    return {key: carried[key] for key in user}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
