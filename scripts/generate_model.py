#!/usr/bin/env python3
"""Derive the project's compact API model and manifest JSON Schemas from authentik's OpenAPI specs.

Run from the project root with the shared material beside it:

    python scripts/generate_model.py [--shared ../shared]

Writes, per API version:
  schemas/api-<version>.json              the model the package reads at run time
  schemas/manifest-<version>.schema.json  the JSON Schema for manifests (validator and editors)
  reconciler/sandbox/seeds/<version>.json the fresh-install objects the sandbox starts with

The OpenAPI spec gives paths, types and required fields; the recordings of a real server give
what the spec leaves out or gets wrong (server-filled defaults, write-only fields that the spec
does not mark, display names). The recording wins where the two disagree.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

VERSIONS = ("2023.10.7", "2026.2.2")

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
    "sources": "source",
    "source": "source",
    "mapping": "property_mapping",
    "fields": "prompt_field",
    "validation_policies": "policy",
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
TARGETS: dict[str, dict[str, str]] = {
    "flow": {"path": "/flows/instances/", "key": "slug", "id": "pk"},
    "stage": {"path": "/stages/all/", "key": "name", "id": "pk"},
    "source": {"path": "/sources/all/", "key": "slug", "id": "pk"},
    "property_mapping": {"path": "/propertymappings/all/", "key": "name", "id": "pk"},
    "policy": {"path": "/policies/all/", "key": "name", "id": "pk"},
    "group": {"path": "/core/groups/", "key": "name", "id": "pk"},
    "certificate": {"path": "/crypto/certificatekeypairs/", "key": "name", "id": "pk"},
    "prompt_field": {"path": "/stages/prompt/prompts/", "key": "name", "id": "pk"},
    "webauthn_device_type": {
        "path": "/stages/authenticator/webauthn_device_types/", "key": "description", "id": "aaguid"},
    "endpoint_connector": {"path": "/endpoints/connectors/", "key": "name", "id": "connector_uuid"},
}

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

# A PATCH of these kinds is refused unless it carries one of these fields (identification:
# "When no user fields are selected, at least one source must be selected", recordings
# 2023.10.7/17, 18 and KINDS.md 15). The planner adds the live value of the first one.
PATCH_COMPANIONS = {"identification": ["user_fields", "sources"]}

# Fields the server has no default for although the spec does not require them: a create without
# them passes validation and then fails in the database (identification: recording 09, a 405).
NO_DEFAULT = {"identification": ["user_fields"]}

KIND_RENAMES = {
    "prompt/stages": "prompt",
    "prompt/prompts": "prompt_field",
    "invitation/stages": "invitation",
    "invitation/invitations": "invitation_invite",
}

FIELD_KEYS = ("type", "format", "nullable", "enum", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "description")


def kind_name(collection: str) -> str:
    """`/stages/authenticator/duo/` -> `authenticator_duo` (the contract's naming)."""
    rel = collection[len("/stages/"):].strip("/")
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
    return ref.split("/")[-1]


def load_recorded_create(recordings: Path, kind_dir: str) -> dict[str, Any] | None:
    """The `2-create` (or `2b`) recording of a kind, if the server accepted it."""
    for path in sorted((recordings / "kinds").glob(f"*-{kind_dir}-2*create*.json")):
        rec = json.loads(path.read_text())
        if rec["response"]["status"] == 201:
            return rec
    return None


def fallback_default(field: dict[str, Any]) -> Any:
    """A server default for kinds no recording shows: what Django stores for an unset column."""
    if field.get("nullable"):
        return None
    return {"array": [], "object": {}, "boolean": False, "string": ""}.get(field.get("type", ""))


def build_kind(spec: dict[str, Any], recordings: Path, collection: str, detail: str,
               lookup: str) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    ops = spec["paths"][collection]
    detail_ops = spec["paths"][detail]
    request_name = schema_of(spec, ops["post"], "request")
    response_name = schema_of(spec, ops["post"], "201")
    request = schemas[request_name]
    response = schemas[response_name]
    patch_required = schemas[schema_of(spec, detail_ops["patch"], "request")].get("required", [])
    name = kind_name(collection)

    fields: dict[str, Any] = {}
    for field_name, raw in request["properties"].items():
        if field_name in NEVER_SEND:
            continue
        field = compact_field(spec, raw)
        in_response = field_name in response["properties"]
        if raw.get("writeOnly") or not in_response:
            field["write_only"] = True
        target = None
        if field.get("format") == "uuid" or field.get("items", {}).get("format") == "uuid":
            if field_name not in REFERENCE_TARGETS:
                sys.exit(f"{collection}: unmodelled reference field {field_name!r}")
            target = REFERENCE_TARGETS[field_name]
            field["reference"] = target
            if field_name in REFERENCE_KINDS:
                field["reference_kind"] = REFERENCE_KINDS[field_name]
        if field_name in KNOWN_SECRETS.get(name, []):
            field["sensitive"] = True
        fields[field_name] = field
    for secret in KNOWN_SECRETS.get(name, []):
        if secret in fields:
            fields[secret]["sensitive"] = True

    read_only = [f for f in response["properties"] if f not in fields]
    kind_dir = collection[len("/stages/"):].strip("/").replace("/", "_")
    recorded = load_recorded_create(recordings, kind_dir)
    defaults: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    if recorded:
        sent = recorded["request"]["json"]
        body = recorded["response"]["json"]
        for key, value in body.items():
            if key in fields and key not in sent:
                defaults[key] = value
            elif key in ("component", "verbose_name", "verbose_name_plural", "meta_model_name"):
                constants[key] = value
    for field_name, field in fields.items():
        if field_name in NO_DEFAULT.get(name, []):
            continue
        if field_name not in defaults and not field.get("write_only") \
                and field_name not in request.get("required", []):
            defaults[field_name] = fallback_default(field)
    is_stage = "flow_set" in response["properties"]
    return {
        "path": collection,
        "lookup": lookup,
        "model": response_name,
        "family": "stage" if is_stage else name,
        "key": "name",
        "required": [f for f in request.get("required", []) if f in fields],
        "patch_required": patch_required,
        "patch_companions": PATCH_COMPANIONS.get(name, []),
        "fields": fields,
        "read_only": read_only,
        "response_order": list(response["properties"]),
        "defaults": defaults,
        "no_default": NO_DEFAULT.get(name, []),
        "constants": constants,
        "recorded": bool(recorded),
    }


def build_model(spec: dict[str, Any], recordings: Path, version: str) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for collection, ops in spec["paths"].items():
        if not collection.startswith("/stages/") or "post" not in ops or "requestBody" not in ops["post"]:
            continue
        details = [p for p in spec["paths"] if p.startswith(collection) and re.fullmatch(
            re.escape(collection) + r"\{(\w+)\}/", p)]
        if not details or "patch" not in spec["paths"][details[0]]:
            continue  # an action endpoint such as /prompt/prompts/preview/, not an object kind
        lookup = re.search(r"\{(\w+)\}/$", details[0]).group(1)  # type: ignore[union-attr]
        kinds[kind_name(collection)] = build_kind(spec, recordings, collection, details[0], lookup)
    targets = {name: dict(target) for name, target in TARGETS.items() if target["path"] in spec["paths"]}
    return {"api_version": version, "kinds": dict(sorted(kinds.items())), "targets": targets}


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


def reference_schema(target: str, key: str) -> dict[str, Any]:
    return {"type": "object", "description": f"A reference to a {target} by its {key}.",
            "properties": {target: {"type": "string", "minLength": 1}},
            "required": [target], "additionalProperties": False}


def value_schema(field: dict[str, Any], target_keys: dict[str, str]) -> dict[str, Any]:
    """The JSON Schema of one manifest field: the API type, plus references and secret sources."""
    schema = {k: field[k] for k in ("type", "enum", "minLength", "maxLength", "pattern", "minimum",
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


def build_manifest_schema(model: dict[str, Any]) -> dict[str, Any]:
    target_keys = {name: t["key"] for name, t in model["targets"].items()}
    defs: dict[str, Any] = {}
    for kind, spec in model["kinds"].items():
        props: dict[str, Any] = {
            "kind": {"const": kind},
            "name": {"type": "string", "minLength": 1},
            "state": {"enum": ["present", "absent"],
                      "description": "absent deletes the object (only with this explicit mark)."},
            "update": {"enum": ["patch", "put"],
                       "description": "put replaces the object with a full PUT; patch (default) sends changed fields."},
            "ignore_changes": {"type": "array", "items": {"enum": sorted(spec["fields"])},
                               "description": "Fields other processes own: never planned."},
        }
        for field_name, field in spec["fields"].items():
            if field_name != "name":
                props[field_name] = value_schema(field, target_keys)
        defs[kind] = {"type": "object", "properties": props, "required": ["kind", "name"],
                      "additionalProperties": False}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://authentik-reconciler.invalid/schemas/manifest-{model['api_version']}.schema.json",
        "title": f"authentik-reconciler manifest (authentik {model['api_version']})",
        "type": "object",
        "properties": {"stages": {"type": "array", "items": {
            "type": "object",
            "required": ["kind", "name"],
            "properties": {"kind": {"enum": sorted(model["kinds"])}},
            "allOf": [{"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                       "then": {"$ref": f"#/$defs/{kind}"}} for kind in model["kinds"]],
        }}},
        "additionalProperties": False,
        "$defs": defs,
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
            write_json(root / "reconciler" / "sandbox" / "seeds" / f"{version}.json", json.loads(fresh.read_text()))
        print(f"{version}: {len(model['kinds'])} kinds, {len(model['targets'])} reference targets")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
