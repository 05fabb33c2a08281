#!/usr/bin/env python3
"""Derive the project's compact API model and manifest JSON Schemas from authentik's OpenAPI specs.

Run from the project root:

    python scripts/generate_model.py [--inputs scripts/inputs] [--out .]

It reads only `scripts/inputs/<version>/` (a trimmed OpenAPI spec and the recordings it uses,
which `scripts/derive_inputs.py` copies from the shared material) and writes, per API version:
  schemas/api-<version>.json              the model the package reads at run time
  schemas/manifest-<version>.schema.json  the JSON Schema for manifests (validator and editors)
  reconciler/model/seeds/<version>.json   the fresh-install objects the sandbox starts with
and, once, `schemas/families.json` (the manifest sections and their nouns, for the CLI).

The OpenAPI spec gives paths, types and required fields; the recordings of a real server give
what the spec leaves out or gets wrong (server-filled defaults, write-only fields that the spec
does not mark, display names, fields a write must repeat). The recording wins where the two
disagree. Each family of kinds is one block of data below (`Family`): its paths, kinds, keys,
references, write rules and safety flags, so a new family is one new block, not new code.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = Any
"""A JSON value of a spec, a recording or a generated file (see reconciler.values.Json)."""
JsonObject = dict[str, Json]


VERSIONS = ("2023.10.7", "2026.2.2")
PROJECT = Path(__file__).resolve().parents[1]
INPUTS = PROJECT / "scripts" / "inputs"
SPEC_FILE = "openapi.json"


# -- the families ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Target:
    """Objects a reference can point at: where they are listed, their natural key and id field.

    `at`: (list path, id field) pairs; the first path the spec has is the target's (a brand is a
    tenant in 2023). `key`: the natural key, when not the family's. `union`: instead of a list,
    any of several targets (a policy binding's target). `guards`: targets whose objects the
    references of this target's objects protect from deletion (a brand's flows), read from the
    family's reference table."""

    name: str
    at: tuple[tuple[str, str], ...] = ()
    key: tuple[str, ...] = ()
    union: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Single:
    """A collection that is one kind of its own: a flow, a flow-stage binding, a policy binding.

    `references`: fields that point at a target whatever their type (a binding's `target`).
    `nested`: lists of other kinds its manifest entries hold (see the flows family).
    `list_params`: query parameters every read of its list sends. `generate`: an action that makes
    an object from parameters instead of its fields (path, and the parameter that takes the key)."""

    path: str
    name: str
    section: str | None  # None: written only nested inside another kind's entries
    key: tuple[str, ...]
    recorded_create: str
    disambiguator: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    nested: Mapping[str, Json] = field(default_factory=dict)
    list_params: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None  # the target its ids are scoped to, when not its own name (a tenant is a brand)
    generate: tuple[str, str] | None = None
    key_fallback: Mapping[str, str] = field(default_factory=dict)
    """Key field -> the field that stands in for it when it is empty (a blueprint instance is
    known by its file `path`, or by `name` when it has inline content and no path)."""
    singleton: bool = False
    """One object at `path` itself, read with GET and written with PATCH (the system settings):
    never created, deleted or listed; its defaults are the fresh install's object."""


@dataclass(frozen=True, kw_only=True)
class Family:
    """Every fact about one family of objects: its kinds, how they are known, what they point at
    and what a write to them needs. Tables keyed by kind name apply to this family's kinds.

    `key`: the natural key of its objects (stage names, flow and source slugs). `prefix`: the
    collections under it are kinds (each with list/create and a detail path); a kind's manifest
    name is its path below the prefix (or a `renames` entry), its model name that plus `suffix`
    (`password` is a stage kind and a policy kind). `scope`: the uniqueness scope of their keys
    when one unique column spans them (stage names across stage kinds), for those whose answers
    carry the `member` field (prompts and invitations live under /stages/ but are no stages).
    `excludes`: collections under the prefix that are no kinds of it (a source's user connections).
    `members`: kinds under the prefix that are members although their answers lack `member`.
    `lists_also`: per kind, the kinds whose objects its list shows too, as its own (a subclass's).
    `singles`: collections that are one kind each. `section`: the manifest section its kinds are
    written in; None for a family that is only a reference target so far. `recording_dirs`: a
    kind's name in the recordings where it differs from its path's. `nested`: lists of other kinds
    a prefix kind's entries hold (a RAC provider's endpoints), as a single's `nested`.
    `plain_references`: its references are written as the target's key alone (`provider: NAME`)
    as well as `{provider: NAME}`. `generated`: fields the server fills per object on create (a
    random client secret, the default scopes of this install), so no default is recorded.
    `opt_in`: its objects are data, not configuration (users): read into a plan only when a
    manifest names them, exported only when asked for, pruned only when named. `mirrored`: fields
    that hold the same relation as another kind's field (a group's `users`, a user's `groups`):
    exports write the other side only, so the two never fight. `actions`: write-only fields set through a call of
    their own below the object's URL, not in its body (a user's password).
    `export_unchanged_defaults`: False where export leaves out a fresh install's object that is
    as installed (the built-in mappings, the self-signed certificate, the embedded outpost).
    `takes`: reference fields whose targets authentik deletes with the object."""

    name: str
    nouns: tuple[str, str]
    section: str | None = None
    prefix: str = ""
    scope: str | None = None
    member: str = ""
    suffix: str = ""
    key: tuple[str, ...] = ("name",)
    id_field: str = "pk"
    recorded_create: str = ""
    excludes: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    lists_also: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)
    singles: tuple[Single, ...] = ()
    targets: tuple[Target, ...] = ()
    references: Mapping[str, str] = field(default_factory=dict)
    reference_kinds: Mapping[str, str] = field(default_factory=dict)
    never_send: frozenset[str] = frozenset()
    secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    write_companions: Mapping[str, list[JsonObject]] = field(default_factory=dict)
    no_default: Mapping[str, list[str]] = field(default_factory=dict)
    default_overrides: Mapping[str, JsonObject] = field(default_factory=dict)
    cascade_nullable: Mapping[str, list[str]] = field(default_factory=dict)
    recording_dirs: Mapping[str, str] = field(default_factory=dict)
    generated: Mapping[str, list[str]] = field(default_factory=dict)
    export_unchanged_defaults: bool = True
    takes: Mapping[str, list[str]] = field(default_factory=dict)
    nested: Mapping[str, Mapping[str, Json]] = field(default_factory=dict)
    plain_references: bool = False
    opt_in: bool = False
    mirrored: Mapping[str, str] = field(default_factory=dict)
    actions: Mapping[str, Mapping[str, JsonObject]] = field(default_factory=dict)
    python: Mapping[str, str | None] = field(default_factory=dict)
    """Fields of its kinds that hold Python, which authentik's expression evaluator wraps in a
    function and compiles: field -> the boolean field that makes it Python (None: always). Applies
    to every kind of the family that has the field, so `validate` compiles them offline."""
    descriptions: Mapping[str, str] = field(default_factory=dict)
    """What the spec leaves unsaid of a field, for `explain` and the manifest schema: field ->
    description (the spec's own, if any, comes first)."""


STAGES = Family(
    name="stages", nouns=("stage", "stages"), section="stages", prefix="/stages/", scope="stage", member="flow_set",
    recorded_create="kinds/*-{dir}-2*create*.json",
    renames={
        "prompt/stages": "prompt",
        "prompt/prompts": "prompt_field",
        "invitation/stages": "invitation",
        "invitation/invitations": "invitation_invite",
    },
    targets=(Target(name="stage", at=(("/stages/all/", "pk"),)),),
    # Which kind of object a reference field points at. A UUID field the table does not know
    # fails the run, so a new authentik version cannot slip an unmodelled reference past it.
    references={
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
    },
    # Stage references that take one stage kind only (the model's foreign key is to that
    # subclass): a reference to another kind is refused by the server as an object that does not
    # exist.
    reference_kinds={
        "password_stage": "password",
        "captcha_stage": "captcha",
        "webauthn_stage": "authenticator_webauthn",
    },
    # Nested write fields that the spec lists in request bodies but the server cannot take:
    # 2023.10.7 answers any valid flow_set with a 405 (FINDINGS 2023.10.7 [43, 44, 46, 50]);
    # 2026.2.2 drops it.
    never_send=frozenset({"flow_set", "promptstage_set"}),
    # Secrets the server returns in clear (KINDS.md "Most surprising" 2): sensitive although
    # readable.
    secrets={
        "authenticator_duo": ("client_secret", "admin_secret_key"),
        "authenticator_sms": ("auth", "auth_password"),
        "authenticator_email": ("password",),
        "captcha": ("private_key",),
        "email": ("password",),
        "authenticator_endpoint_gdtc": ("credentials",),
    },
    # Fields the server needs in a write although they did not change, as rules the planner
    # applies to every PATCH (and, for `one_truthy`, to creates from the defaults). `why` is what
    # the plan says; each cites the recordings that show it.
    #   always:     send these fields, from the live object, when the body lacks them;
    #   one_truthy: unless the body holds a true or non-empty value for one of them, send the
    #               first one that has such a value live (or by default);
    #   together:   when the body holds one of them, send the others too;
    #   put_leaves_out: a PUT (`update: put`) leaves these fields out while they hold their live
    #               value (the server keeps a field a PUT leaves out).
    write_companions={
        "identification": [{
            "rule": "one_truthy", "fields": ["user_fields", "sources"],
            "why": "authentik refuses an identification write without user_fields or sources "
                   "(recordings 17, 18)"}],
    },
    # Fields the server has no default for although the spec does not require them: a create
    # without them passes validation and then fails in the database (recording 09, a 405).
    no_default={"identification": ["user_fields"]},
    # A prompt field's initial value and placeholder are Python when their `*_expression` flag is
    # set: authentik's Prompt model evaluates them with its PropertyMappingEvaluator (read through
    # the search tool: authentik/stages/prompt/models.py, get_initial_value and get_placeholder).
    python={"initial_value": "initial_value_expression", "placeholder": "placeholder_expression"},
)

POLICIES = Family(
    name="policies", nouns=("policy", "policies"), section="policies", prefix="/policies/", scope="policy",
    member="bound_to", suffix="_policy", recorded_create="flows/*-policy-{dir}-2-create.json",
    targets=(Target(name="policy", at=(("/policies/all/", "pk"),)),),
    write_companions={
        "event_matcher_policy": [{
            "rule": "always", "fields": ["action"],
            "why": "authentik fails an event-matcher write without action (flows recordings 138, 142)"}],
        "reputation_policy": [{
            "rule": "one_truthy", "fields": ["check_ip", "check_username"],
            "why": "authentik refuses a reputation write unless it sets check_ip or check_username "
                   "(flows recordings 184, 189)"}],
    },
    # No default although not required: a create without it fails in the database (flows
    # recording 138, a 405).
    no_default={"event_matcher_policy": ["action"]},
    # An expression policy's Python (the server compiles it on write: flows recording 208).
    python={"expression": None},
    # Server defaults no recording shows because the create that would show them is refused. A
    # reputation policy checks the IP and the username unless told otherwise (FINDINGS flows
    # "although both default to true"; authentik's ReputationPolicy model, read through the
    # search tool: both BooleanFields default to True).
    # The same for the password uniqueness policy, which needs an enterprise licence the recorded
    # server lacked (flows 193, 195): its model's defaults are `password_field = "password"` and
    # `num_historical_passwords = 1` (authentik/enterprise/policies/unique_password/models.py).
    default_overrides={
        "reputation_policy": {"check_ip": True, "check_username": True},
        "unique_password_policy": {"password_field": "password", "num_historical_passwords": 1},
    },
)

# The policies a flow or a binding lists: policy bindings written inside it, without their target.
BOUND_POLICIES = {"kind": "policy_binding", "parent": "target",
                  "keys": {"policy": "policy", "group": "group", "user": "user"}}

FLOWS = Family(
    name="flows", nouns=("flow", "flows"), section="flows", key=("slug",),
    singles=(
        Single(path="/flows/instances/", name="flow", section="flows", key=("slug",),
               recorded_create="flows/03-flows-create.json",
               # A flow's manifest entry lists its bindings and policies, written without `kind`
               # and without the parent reference. `keys` are the entry fields written as plain
               # natural keys (`stage: NAME`) that are references on the wire. When an entry lists
               # them, the parent's set of those children is managed exactly.
               nested={
                   "bindings": {"kind": "flow_stage_binding", "parent": "target", "keys": {"stage": "stage"}},
                   "policies": BOUND_POLICIES,
               }),
        # A binding is known by its flow and stage; `order` tells apart the same stage bound twice
        # (FINDINGS flows: the triple (target, stage, order) is unique, 77, 78).
        Single(path="/flows/bindings/", name="flow_stage_binding", section=None, key=("target", "stage"),
               recorded_create="flows/76-fsb-create.json", disambiguator="order", references={"target": "flow"},
               nested={"policies": BOUND_POLICIES}),
        # A policy binding is known by its target and what it binds (policy, group or user); groups
        # may be bound twice to one target at one order (269), so `order` tells them apart.
        Single(path="/policies/bindings/", name="policy_binding", section=None,
               key=("target", "policy", "group", "user"), recorded_create="flows/232-pb-create-policy-to-flow.json",
               disambiguator="order", references={"target": "binding_target"}),
    ),
    targets=(
        Target(name="flow", at=(("/flows/instances/", "pk"),)),
        Target(name="flow_stage_binding", at=(("/flows/bindings/", "pk"),), key=("target", "stage")),
        Target(name="binding_target", union=("flow", "flow_stage_binding", "application")),
    ),
    # A binding's `user` is an integer foreign key (users have integer pks).
    references={"stage": "stage", "policy": "policy", "group": "group", "user": "user"},
    write_companions={
        "policy_binding": [
            {"rule": "always", "fields": ["target"],
             "why": "authentik fails a policy-binding write without target (flows recording 251)"},
            {"rule": "one_truthy", "fields": ["policy", "group", "user"],
             "why": "authentik refuses a policy-binding write without its policy, group or user "
                    "(flows recordings 251, 262)"}],
        "flow_stage_binding": [{
            "rule": "together", "fields": ["evaluate_on_plan", "re_evaluate_policies"],
            "why": "authentik reads a missing evaluation flag as its default, not the stored value "
                   "(flows recordings 100, 101, 103)"}],
    },
    # Deleting an object deletes the objects whose non-nullable reference points at it (flow-stage
    # bindings go with their stage or flow, FINDINGS flows 119-124); these nullable references
    # cascade too: a policy binding goes with its policy (276, 278), and, by authentik's
    # PolicyBinding model (read through the search tool: on_delete=CASCADE), with its group or user.
    cascade_nullable={"policy_binding": ["policy", "group", "user"]},
)

# Families that are only reference targets so far: their kinds come next.
PROMPT_FIELDS = Family(
    name="prompt_fields", nouns=("prompt field", "prompt fields"),
    targets=(Target(name="prompt_field", at=(("/stages/prompt/prompts/", "pk"),)),))
WEBAUTHN_DEVICE_TYPES = Family(
    name="webauthn_device_types", nouns=("WebAuthn device type", "WebAuthn device types"), key=("description",),
    targets=(Target(name="webauthn_device_type", at=(("/stages/authenticator/webauthn_device_types/", "aaguid"),)),))
ENDPOINT_CONNECTORS = Family(
    name="endpoint_connectors", nouns=("endpoint connector", "endpoint connectors"),
    targets=(Target(name="endpoint_connector", at=(("/endpoints/connectors/", "connector_uuid"),)),))
# A brand's default application (2026) points at an application, by slug.

# -- the directory and platform (issue 18; FINDINGS directory/ of each version) --

# Groups are known by name (unique in 2026 [44]; in 2023 only together with the parent, which the
# plan treats as unique as well). 2023 has one `parent`, 2026 a `parents` list [35, 36]. Membership
# is written from one side: a user's `groups` or a group's `users` (both are references).
GROUPS = Family(
    name="groups", nouns=("group", "groups"), section="groups",
    plain_references=True,
    singles=(Single(path="/core/groups/", name="group", section="groups", key=("name",),
                    recorded_create="directory/*-group-create*.json"),),
    targets=(Target(name="group", at=(("/core/groups/", "pk"),)),),
    references={"parent": "group", "parents": "group", "users": "user", "roles": "role"},
    mirrored={"users": "user.groups"},
)
# Users are known by username; their pk is an integer [67]. `password` is no field of a user: it
# is set through `POST /core/users/{pk}/set_password/` [92] (the `actions` of the model).
USERS = Family(
    name="users", nouns=("user", "users"), section="users", key=("username",),
    plain_references=True,
    singles=(Single(path="/core/users/", name="user", section="users", key=("username",),
                    recorded_create="directory/*-user-create-*.json"),),
    targets=(Target(name="user", at=(("/core/users/", "pk"),)),),
    references={"groups": "group", "roles": "role"},
    # The server's record of the last login, not configuration: never written, never exported.
    never_send=frozenset({"last_login"}),
    opt_in=True,
    # `{}` is accepted by 2023 (no validation, [94]) and refused by 2026: the plan always sends a
    # value. Never returned [93]: fingerprinted like every write-only secret.
    actions={"user": {"password": {"path": "set_password/", "method": "POST",
                                   "spec": {"type": "string", "minLength": 1,
                                            "description": "Set through set_password; never returned."}}}},
)
# RBAC roles are `{pk, name}` [154]; their permissions are assigned and unassigned through
# `/rbac/permissions/assigned_by_roles/{uuid}/assign/` and `.../unassign/` [162, 176].
ROLES = Family(
    name="roles", nouns=("role", "roles"), section="roles",
    plain_references=True,
    singles=(Single(path="/rbac/roles/", name="role", section="roles", key=("name",),
                    recorded_create="directory/*-role-create*.json"),),
    targets=(Target(name="role", at=(("/rbac/roles/", "pk"),)),),
    # A role's global permissions, `app_label.codename` (a bare codename is refused for global
    # permissions [165]), read per role from `/rbac/permissions/?role=` [172] and changed by
    # additions and removals: assign is a POST [162], unassign a PATCH [176] (a POST: 405 [177]).
    actions={"role": {"permissions": {
        "read": {"path": "/rbac/permissions/", "filter": "role", "item": ["app_label", "codename"]},
        "add": {"method": "POST", "path": "/rbac/permissions/assigned_by_roles/{id}/assign/"},
        "remove": {"method": "PATCH", "path": "/rbac/permissions/assigned_by_roles/{id}/unassign/"},
        "spec": {"type": "array", "set": True, "items": {"type": "string", "pattern": "^[a-z0-9_]+\\.[a-z0-9_]+$"},
                 "description": "Global permissions as app_label.codename, assigned and unassigned one by "
                                "one: exactly these."}}}},
)
# The brand (2026) or tenant (2023) names the flows a domain uses for authentication, recovery,
# ...: a flow it uses must not be pruned by accident (`guards`). One kind per version, scoped as
# the `brand` target either way.
BRANDS = Family(
    name="brands", nouns=("brand", "brands"), section="brands", key=("domain",), id_field="brand_uuid",
    plain_references=True,
    singles=(Single(path="/core/brands/", name="brand", section="brands", key=("domain",),
                    recorded_create="directory/*-brand-create*.json"),),
    targets=(Target(name="brand", at=(("/core/brands/", "brand_uuid"), ("/core/tenants/", "tenant_uuid")),
                    guards=("flow",)),),
    references={
        "flow_authentication": "flow",
        "flow_invalidation": "flow",
        "flow_recovery": "flow",
        "flow_unenrollment": "flow",
        "flow_user_settings": "flow",
        "flow_device_code": "flow",
        "web_certificate": "certificate",
        "client_certificates": "certificate",
        "default_application": "application",
    },
)
TENANTS = Family(
    name="tenants", nouns=("tenant", "tenants"), section="tenants", key=("domain",), id_field="tenant_uuid",
    plain_references=True,
    singles=(Single(path="/core/tenants/", name="tenant", section="tenants", key=("domain",), scope="brand",
                    recorded_create="directory/*-tenant-create*.json"),),
    references=BRANDS.references,
)
# Every source kind under /sources/, known by slug (unique across kinds: one base table [258]).
# The connection and SCIM user/group collections under the prefix are no sources.
SOURCES = Family(
    name="sources", nouns=("source", "sources"), section="sources", prefix="/sources/", scope="source",
    plain_references=True,
    member="user_path_template", suffix="_source", key=("slug",),
    excludes=("user_connections/", "group_connections/", "scim_users", "scim_groups"),
    recorded_create="directory/*-source-{dir}-create*.json",
    targets=(Target(name="source", at=(("/sources/all/", "pk"),)),),
    references={
        "authentication_flow": "flow",
        "enrollment_flow": "flow",
        "pre_authentication_flow": "flow",
        "user_property_mappings": "property_mapping",
        "group_property_mappings": "property_mapping",
        "property_mappings": "property_mapping",
        "property_mappings_group": "property_mapping",
        "signing_kp": "certificate",
        "verification_kp": "certificate",
        "encryption_kp": "certificate",
        "peer_certificate": "certificate",
        "client_certificate": "certificate",
        "sync_parent_group": "group",
    },
    # Readable although secret: a Plex token is echoed on create and GET [334, 335].
    secrets={"plex_source": ("plex_token",)},
    # Cross-field rules that read the request body only (FINDINGS directory "Most surprising").
    # A rule's fields that a version's kind lacks are dropped for that version.
    write_companions={
        "oauth_source": [{
            "rule": "always", "fields": ["provider_type", "authorization_url", "access_token_url", "profile_url"],
            "why": "authentik fails an OAuth source write without provider_type (2023: a server error) and "
                   "refuses an OpenID Connect one without its three URLs (directory recordings 271-276)"}],
        "saml_source": [{
            "rule": "together", "fields": ["verification_kp", "signed_assertion", "signed_response"],
            "why": "authentik checks a verification certificate against the signature flags in the same "
                   "write only (directory recordings 294, 295)"}],
        "ldap_source": [
            {"rule": "always", "fields": ["sync_users_password"],
             "why": "authentik 2023 reads a missing sync_users_password as true and refuses a second "
                    "source syncing passwords (directory recordings 320, 323)"},
            {"rule": "together", "fields": ["sync_users", "user_property_mappings"],
             "why": "authentik refuses sync_users without user_property_mappings in the same write "
                    "(directory recordings 314, 315)"},
            {"rule": "together", "fields": ["sync_groups", "group_property_mappings"],
             "why": "authentik 2026 refuses sync_groups without group_property_mappings in the same write "
                    "(checked on the 2026.2.2 lab, as directory 314 shows for users)"},
            {"rule": "put_leaves_out", "fields": ["sync_users", "sync_groups"],
             "why": "a PUT leaves sync_users and sync_groups out while unchanged, and authentik keeps them "
                    "(directory 318): 2026 refuses either one true beside empty property mappings in the "
                    "body, which is how a source created without mappings is stored (309, 314)"}],
    },
    # Not required by the spec, but a create without it fails in the database (recording 290).
    no_default={"saml_source": ["issuer"]},
)
NOTIFICATION_TRANSPORTS = Family(
    name="notification_transports", nouns=("notification transport", "notification transports"),
    plain_references=True,
    section="notification_transports",
    singles=(Single(path="/events/transports/", name="notification_transport", section="notification_transports",
                    key=("name",), recorded_create="directory/*-transport-create*.json"),),
    targets=(Target(name="notification_transport", at=(("/events/transports/", "pk"),)),),
    references={"webhook_mapping": "property_mapping", "webhook_mapping_body": "property_mapping",
                "webhook_mapping_headers": "property_mapping"},
    write_companions={"notification_transport": [{
        "rule": "together", "fields": ["mode", "webhook_url"],
        "why": "authentik checks a webhook transport's URL in the same write only (directory recording 390)"}]},
)
# A rule's group is `group` in 2023 and `destination_group` in 2026 [409, 415].
NOTIFICATION_RULES = Family(
    name="notification_rules", nouns=("notification rule", "notification rules"), section="notification_rules",
    plain_references=True,
    singles=(Single(path="/events/rules/", name="notification_rule", section="notification_rules", key=("name",),
                    recorded_create="directory/*-rule-create*.json"),),
    targets=(Target(name="notification_rule", at=(("/events/rules/", "pk"),)),),
    references={"transports": "notification_transport", "group": "group", "destination_group": "group"},
)

# -- applications and providers (FINDINGS apps/ of both versions; recordings cited as "apps NN") --
# References of these families are written plainly by natural key (`provider: grafana-oauth`,
# `property_mappings: [grafana-roles]`, CONTRACT.md "Applications, providers and the directory").

CERTIFICATES = Family(
    name="certificates", nouns=("certificate", "certificates"), section="certificates", plain_references=True,
    export_unchanged_defaults=False,
    singles=(Single(path="/crypto/certificatekeypairs/", name="certificate", section="certificates", key=("name",),
                    recorded_create="apps/33-cert-2-create-import.json",
                    # A key pair authentik generates, named by its common name; answered with 200
                    # (apps 24, 26, 29): the private key never leaves authentik.
                    generate=("/crypto/certificatekeypairs/generate/", "common_name")),),
    targets=(Target(name="certificate", at=(("/crypto/certificatekeypairs/", "pk"),)),),
)

# Names are unique across the mapping kinds (one base table, apps 165). The webhook mapping of
# notifications answers without `managed` (apps 113) but is a property mapping all the same:
# `/propertymappings/all/` lists it (apps 181-184, both versions).
PROPERTY_MAPPINGS = Family(
    name="property_mappings", nouns=("property mapping", "property mappings"), section="property_mappings",
    export_unchanged_defaults=False,
    prefix="/propertymappings/", scope="property_mapping", member="managed", suffix="_mapping",
    members=("notification",),
    plain_references=True, recorded_create="apps/*-pm-{dir}-2-create.json",
    # Every mapping kind's Python (the server compiles it on write: apps recordings 160).
    python={"expression": None},
    # The recordings name a kind by its 2026 leaf (`pm-scope`, `pm-source_ldap`); 2023's flat
    # `/propertymappings/ldap/` is the LDAP source mapping.
    recording_dirs={"provider_scope": "scope", "provider_saml": "saml", "provider_scim": "scim",
                    "provider_radius": "radius", "provider_rac": "rac", "provider_google_workspace": "google_workspace",
                    "provider_microsoft_entra": "microsoft_entra", "ldap": "source_ldap"},
    targets=(Target(name="property_mapping", at=(("/propertymappings/all/", "pk"),)),),
)

PROVIDERS = Family(
    name="providers", nouns=("provider", "providers"), section="providers", prefix="/providers/", scope="provider",
    export_unchanged_defaults=False,
    member="meta_model_name", suffix="_provider", plain_references=True,
    recorded_create="apps/???-{dir}-2-create.json",
    # Provider pks are integers from one sequence across kinds (apps 190, 245, 277, 302), names
    # unique across kinds (226, 269). A proxy provider is an OAuth2 provider by inheritance:
    # /providers/oauth2/ lists it too, as an OAuth2 provider (296).
    lists_also={"oauth2_provider": ("proxy_provider",)},
    targets=(Target(name="provider", at=(("/providers/all/", "pk"),)),),
    references={
        "authentication_flow": "flow",
        "authorization_flow": "flow",
        "invalidation_flow": "flow",
        "property_mappings": "property_mapping",
        "property_mappings_group": "property_mapping",
        "name_id_mapping": "property_mapping",
        "authn_context_class_ref_mapping": "property_mapping",
        "signing_key": "certificate",
        "encryption_key": "certificate",
        "signing_kp": "certificate",
        "verification_kp": "certificate",
        "encryption_kp": "certificate",
        "certificate": "certificate",
        "jwks_sources": "source",
        "jwt_federation_sources": "source",
        "jwt_federation_providers": "provider",
        "oidc_auth_providers": "provider",
        "search_group": "group",
        "filter_group": "group",
        "group_filters": "group",
        "default_group": "group",
        "auth_oauth": "source",
    },
    # Secrets authentik returns in clear (apps 190/195, 316/319, 324/327), and the enterprise
    # kinds' credentials no recording shows (the server refuses them without a licence).
    secrets={
        "oauth2_provider": ("client_secret",),
        "radius_provider": ("shared_secret",),
        "scim_provider": ("token",),
        "microsoft_entra_provider": ("client_secret",),
        "google_workspace_provider": ("credentials",),
    },
    # Rules that read the request body only, not the stored object (apps 280-285, 245/251/252).
    write_companions={
        "proxy_provider": [{
            "rule": "always", "fields": ["mode", "internal_host"],
            "why": "authentik checks internal_host against mode in the request body only (apps recordings 280, "
                   "282, 283)"}, {
            "rule": "together", "fields": ["basic_auth_enabled", "basic_auth_user_attribute",
                                           "basic_auth_password_attribute"],
            "why": "authentik refuses basic_auth_enabled without both attribute names in the body (apps recordings "
                   "284, 285)"}],
        "saml_provider": [{
            "rule": "together", "fields": ["signing_kp", "sign_assertion", "sign_response"],
            "why": "authentik refuses a signing_kp without sign_assertion or sign_response in the body (apps "
                   "recordings 245, 251, 252)"}],
    },
    # Filled per object on create: random credentials (apps 190, 316) and a proxy provider's default
    # scope mappings, which are this install's objects (277).
    generated={"oauth2_provider": ["client_id", "client_secret"], "radius_provider": ["shared_secret"],
               "proxy_provider": ["property_mappings"]},
    # Enterprise kinds no recording shows (refused without a licence, apps 357, 361, 365): their
    # models' defaults, read through the search tool. Outgoing sync providers
    # (authentik/lib/sync/outgoing/models.py): 100 objects a page, 30 minutes a page, delete
    # what is deleted; WS-Federation subclasses the SAML provider (recorded SAML defaults, apps 245);
    # SSF keeps events 30 days (enterprise/providers/ssf/models.py).
    default_overrides={
        **dict.fromkeys(("google_workspace_provider", "microsoft_entra_provider"), {
            "user_delete_action": "delete", "group_delete_action": "delete", "sync_page_size": 100,
            "sync_page_timeout": "minutes=30"}),
        "wsfed_provider": {
            "assertion_valid_not_before": "minutes=-5", "assertion_valid_not_on_or_after": "minutes=5",
            "session_valid_not_on_or_after": "minutes=86400", "sign_assertion": True,
            "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            "signature_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "default_name_id_policy": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"},
        "ssf_provider": {"event_retention": "days=30"},
    },
    # A RAC provider's endpoints are written inside its entry (`endpoints:`).
    nested={"rac_provider": {"endpoints": {"kind": "rac_endpoint", "parent": "provider", "keys": {}}}},
)

APPLICATIONS = Family(
    name="applications", nouns=("application", "applications"), section="applications", key=("slug",),
    export_unchanged_defaults=False,
    plain_references=True,
    singles=(Single(path="/core/applications/", name="application", section="applications", key=("slug",),
                    recorded_create="apps/380-app-2-create.json",
                    # The plain list is served from a per-user cache that ignores its filters
                    # (apps 433, 434); this flag bypasses it (435, 438, 441).
                    list_params={"superuser_full_list": "true"},
                    nested={"policies": BOUND_POLICIES,
                            "entitlements": {"kind": "application_entitlement", "parent": "app", "keys": {}}}),),
    # Deleting a provider an application uses would leave the application without it (apps 521,
    # 522): the application guards it, so a prune refuses and names the application.
    targets=(Target(name="application", at=(("/core/applications/", "pk"),), guards=("provider",)),),
    references={"provider": "provider", "backchannel_providers": "provider"},
    # Deleting an application deletes its backchannel providers (apps 529, 549); its main
    # provider stays (521, 522).
    takes={"application": ["backchannel_providers"]},
)

# Entitlements (2026) answer with `pbm_uuid` and no `pk` (apps 446); written inside their application.
ENTITLEMENTS = Family(
    name="application_entitlements", nouns=("application entitlement", "application entitlements"),
    id_field="pbm_uuid", plain_references=True,
    singles=(Single(path="/core/application_entitlements/", name="application_entitlement", section=None,
                    key=("app", "name"), recorded_create="apps/446-ent-2-create.json",
                    references={"app": "application"}),),
)

RAC_ENDPOINTS = Family(
    name="rac_endpoints", nouns=("RAC endpoint", "RAC endpoints"), plain_references=True,
    singles=(Single(path="/rac/endpoints/", name="rac_endpoint", section=None, key=("provider", "name"),
                    recorded_create="apps/344-racep-2-create.json"),),
    references={"provider": "provider", "property_mappings": "property_mapping"},
    # Deleting the RAC provider deletes its endpoints (apps 526, 551).
)

OUTPOST_CONNECTIONS = Family(
    name="outpost_connections", nouns=("outpost connection", "outpost connections"), section="outpost_connections",
    export_unchanged_defaults=False,
    prefix="/outposts/service_connections/", scope="outpost_connection", member="component",
    suffix="_connection", plain_references=True, recorded_create="apps/???-sc-{dir}-2-create.json",
    recording_dirs={"service_connections_docker": "docker", "service_connections_kubernetes": "k8s"},
    targets=(Target(name="outpost_connection", at=(("/outposts/service_connections/all/", "pk"),)),),
    references={"tls_verification": "certificate", "tls_authentication": "certificate"},
    # A Kubernetes connection without kubeconfig fails in the database (apps 495, a 405), and one
    # whose body has kubeconfig without `local` fails too (496, `KeyError: 'local'`).
    no_default={"kubernetes_connection": ["kubeconfig"]},
    # A kubeconfig holds the cluster's credentials, and the server returns it in clear (apps 500, 501).
    secrets={"kubernetes_connection": ("kubeconfig",)},
    write_companions={"kubernetes_connection": [{
        "rule": "together", "fields": ["kubeconfig", "local"],
        "why": "authentik reads local from the body whenever it holds kubeconfig (apps recordings 496, 498)"}]},
)

OUTPOSTS = Family(
    name="outposts", nouns=("outpost", "outposts"), section="outposts", plain_references=True,
    export_unchanged_defaults=False,
    singles=(Single(path="/outposts/instances/", name="outpost", section="outposts", key=("name",),
                    recorded_create="apps/459-out-2-create.json"),),
    targets=(Target(name="outpost", at=(("/outposts/instances/", "pk"),)),),
    references={"providers": "provider", "service_connection": "outpost_connection"},
)

# Blueprint instances: a manifest may disable authentik's own default instance, so that applying
# it again no longer sets back what the manifests manage (authentik-blueprints/README.md).
BLUEPRINTS = Family(
    name="blueprints", nouns=("blueprint instance", "blueprint instances"), section="blueprints", key=("path",),
    singles=(
        Single(path="/managed/blueprints/", name="blueprint_instance", section="blueprints", key=("path",),
               recorded_create="directory/28-blueprint-create-content.json", key_fallback={"path": "name"}),
    ),
    targets=(Target(name="blueprint_instance", at=(("/managed/blueprints/", "pk"),)),),
    write_companions={
        "blueprint_instance": [{
            "rule": "one_truthy", "fields": ["path", "content"],
            "why": "authentik refuses a blueprint-instance write without path or content "
                   "(directory recordings 446, 447)"}],
    },
)

# The system settings (2026; 2023 has no /admin/settings/, directory 237-238): one object at the
# path itself, a manifest section holding the fields it manages (CONTRACT.md).
SETTINGS = Family(
    name="settings", nouns=("settings", "settings"), section="settings", key=(),
    singles=(Single(path="/admin/settings/", name="settings", section="settings", key=(), recorded_create="",
                    singleton=True),),
)

# Lifecycle rules (2026; /lifecycle/rules/, directory 461-479, FINDINGS "Lifecycle rules"): a
# periodic access review of one object (`content_type` plus `object_id`, the object's pk as
# authentik shows it) or, without `object_id`, of every object of the type. Reviewers are users
# named by their UUID (a slug field of the serializer, 465), written by username like every user
# reference; no licence is checked (465).
LIFECYCLE_RULES = Family(
    name="lifecycle_rules", nouns=("lifecycle rule", "lifecycle rules"), section="lifecycle_rules",
    plain_references=True, id_field="id",
    singles=(Single(path="/lifecycle/rules/", name="lifecycle_rule", section="lifecycle_rules", key=("name",),
                    recorded_create="directory/465-lifecycle-create-minimal.json"),),
    targets=(Target(name="lifecycle_rule", at=(("/lifecycle/rules/", "id"),)),
             Target(name="reviewer", at=(("/core/users/", "uuid"),), key=("username",))),
    references={"reviewers": "reviewer", "reviewer_groups": "group",
                "notification_transports": "notification_transport"},
    descriptions={
        "content_type": "The type reviewed: an application, a group or a role.",
        "object_id": "The one object reviewed, by its id as authentik shows it (a UUID); without it, every object "
                     "of the type that has no rule of its own (one such rule per type).",
        "reviewers": "Users by username; authentik takes their UUIDs.",
        "grace_period": "Time after a review is due before it is overdue; not longer than the interval.",
    },
)

# In export order: the manifest sections come out in this order, the reference targets too.
FAMILIES = (STAGES, POLICIES, FLOWS, CERTIFICATES, PROPERTY_MAPPINGS, PROVIDERS, APPLICATIONS, ENTITLEMENTS,
            RAC_ENDPOINTS, OUTPOST_CONNECTIONS, OUTPOSTS, PROMPT_FIELDS, WEBAUTHN_DEVICE_TYPES, ENDPOINT_CONNECTORS,
            GROUPS, USERS, ROLES, BRANDS, TENANTS, SOURCES, NOTIFICATION_TRANSPORTS, NOTIFICATION_RULES,
            LIFECYCLE_RULES, BLUEPRINTS, SETTINGS)
# Manifest section -> (singular, plural), in family order.
SECTIONS = {family.section: family.nouns for family in FAMILIES if family.section is not None}

# What one version calls a section or field that another names differently (FINDINGS directory,
# "Differences between 2023.10.7 and 2026.2.2"), both ways: a manifest written for the other
# version is refused naming this version's own name.
COUNTERPARTS = {
    "tenants": "brands", "brands": "tenants",
    "parent": "parents", "parents": "parent",
    "group": "destination_group", "destination_group": "group",
    "webhook_mapping": "webhook_mapping_body", "webhook_mapping_body": "webhook_mapping",
    "property_mappings": "user_property_mappings", "user_property_mappings": "property_mappings",
    "property_mappings_group": "group_property_mappings", "group_property_mappings": "property_mappings_group",
}

FIELD_KEYS = ("type", "format", "nullable", "enum", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "description")
CONSTANT_KEYS = ("component", "verbose_name", "verbose_name_plural", "meta_model_name")


# -- reading the spec ------------------------------------------------------------------------------


def resolve(spec: JsonObject, node: JsonObject) -> JsonObject:
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


def pick(node: Mapping[str, Json], keys: Iterable[str]) -> JsonObject:
    """The entries of `node` named in `keys`, in the order of `keys`."""
    return {k: node[k] for k in keys if k in node}


def compact_field(spec: JsonObject, raw: JsonObject) -> JsonObject:
    """One field as the model keeps it: the schema facts the validator and the diff need."""
    node = resolve(spec, raw)
    compact = pick(node, FIELD_KEYS)
    if "description" in compact:
        compact["description"] = compact["description"].strip()
    if node.get("type") == "array":
        compact["items"] = pick(node["items"], FIELD_KEYS)
        compact["items"].pop("description", None)
        if node["items"].get("properties"):  # a nested serializer's items (redirect URIs, apps 202)
            compact["items"]["properties"] = {name: compact_field(spec, prop)
                                              for name, prop in node["items"]["properties"].items()
                                              if not prop.get("readOnly")}
            compact["items"]["required"] = list(node["items"].get("required", []))
    normalise_enum(compact)
    if node.get("type") == "object" or "additionalProperties" in node:
        compact["type"] = "object"
    if not node:  # an empty schema: any JSON (the settings' footer_links, a list of links)
        compact["type"] = "any"
    return compact


def normalise_enum(compact: JsonObject) -> None:
    """An enum says its type, and a `null` among its values is `nullable` instead."""
    if "enum" in compact and "type" not in compact:
        compact["type"] = "integer" if all(isinstance(v, int) for v in compact["enum"]) else "string"
    if compact.get("enum") and None in compact["enum"]:
        compact["enum"] = [v for v in compact["enum"] if v is not None]
        compact["nullable"] = True


def id_type(node: Mapping[str, Json]) -> str:
    """How ids in a schema node (or its items) are typed: `int`, `uuid` or `str`."""
    node = node.get("items", node) if node.get("type") == "array" else node
    if node.get("type") == "integer":
        return "int"
    return "uuid" if node.get("format") == "uuid" else "str"


def schema_of(spec: JsonObject, op: JsonObject, key: str) -> str:
    """The component name of an operation's request body (`request`) or answer (a status)."""
    if key == "request":
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    else:
        ref = op["responses"][key]["content"]["application/json"]["schema"]["$ref"]
    return str(ref).split("/")[-1]


def list_item_schema(spec: JsonObject, path: str) -> JsonObject:
    """The schema of one object of a paginated list."""
    page = schema_of(spec, spec["paths"][path]["get"], "200")
    item = spec["components"]["schemas"][page]["properties"]["results"]["items"]["$ref"].split("/")[-1]
    schema: JsonObject = spec["components"]["schemas"][item]
    return schema


# -- reference targets -----------------------------------------------------------------------------


def target_location(spec: JsonObject, target: Target) -> tuple[str, str] | None:
    """The (list path, id field) of a target in this spec, or None when the spec has none."""
    return next(((path, ident) for path, ident in target.at if path in spec["paths"]), None)


def target_id_types(spec: JsonObject) -> dict[str, str]:
    """Target name -> the type of its objects' ids, for every listed target the spec has."""
    found: dict[str, str] = {}
    for target in (t for family in FAMILIES for t in family.targets):
        location = target_location(spec, target)
        if location is not None:
            path, ident = location
            found[target.name] = id_type(resolve(spec, list_item_schema(spec, path)["properties"][ident]))
    return found


def target_members(name: str) -> tuple[str, ...]:
    """The listed targets a reference to `name` may point at: a union's members, else itself."""
    target = next((t for family in FAMILIES for t in family.targets if t.name == name), None)
    return target.union if target is not None and target.union else (name,)


def check_reference(where: str, field_name: str, node: Mapping[str, Json], target: str,
                    id_types: Mapping[str, str]) -> None:
    """Exit unless a reference field's JSON type is the type of its target's ids (an integer
    foreign key to users, a UUID to stages)."""
    for member in target_members(target):
        if member not in id_types:
            sys.exit(f"{where}: field {field_name!r} points at {member!r}, which this API version does not list")
        if id_type(node) != id_types[member]:
            sys.exit(f"{where}: field {field_name!r} is a {id_type(node)} but {member!r} ids are {id_types[member]}s")


def guard_fields(spec: JsonObject, family: Family, target: Target, path: str,
                 id_types: Mapping[str, str]) -> dict[str, str]:
    """The fields of a target's objects that protect other objects from deletion, by target."""
    guards: dict[str, str] = {}
    for name, prop in list_item_schema(spec, path)["properties"].items():
        if family.references.get(name) in target.guards:
            check_reference(path, name, resolve(spec, prop), family.references[name], id_types)
            guards[name] = family.references[name]
    return guards


def build_target(spec: JsonObject, family: Family, target: Target,
                 id_types: Mapping[str, str]) -> JsonObject | None:
    """A target as the model writes it, or None when this spec does not list its objects."""
    if target.union:
        return {"union": list(target.union)}
    location = target_location(spec, target)
    if location is None:
        return None
    path, ident = location
    built: JsonObject = {"path": path, "key": list(target.key or family.key), "id": ident,
                             "id_type": id_types[target.name]}
    if target.guards:
        built["guards"] = guard_fields(spec, family, target, path, id_types)
    return built


def build_targets(spec: JsonObject, id_types: Mapping[str, str]) -> JsonObject:
    """Every target the spec has, in family order."""
    targets: JsonObject = {}
    for family in FAMILIES:
        for target in family.targets:
            built = build_target(spec, family, target, id_types)
            if built is not None:
                targets[target.name] = built
    return targets


# -- kinds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    """How one collection becomes a kind of the model: its family and its own facts."""

    family: Family
    name: str
    manifest_kind: str
    section: str | None
    scope: str | None
    key: tuple[str, ...]
    recorded_create: str
    disambiguator: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    nested: Mapping[str, Json] = field(default_factory=dict)
    list_params: Mapping[str, str] = field(default_factory=dict)
    generate: tuple[str, str] | None = None
    key_fallback: Mapping[str, str] = field(default_factory=dict)
    singleton: bool = False


@dataclass(frozen=True)
class Collection:
    """An object collection of the spec: its list path, detail path and the detail's lookup."""

    path: str
    detail: str
    lookup: str

    @property
    def dir_name(self) -> str:
        """`/stages/authenticator/duo/` -> `authenticator_duo`, as recordings name it."""
        return self.path.strip("/").split("/", 1)[1].replace("/", "_")


def recorded_pattern(collection: Collection, kind: KindSpec) -> str:
    """The file pattern of a kind's recorded creates."""
    dir_name = kind.family.recording_dirs.get(collection.dir_name, collection.dir_name)
    return kind.recorded_create.format(dir=dir_name)


def object_collections(spec: JsonObject) -> list[Collection]:
    """Every path with a create and a patchable detail path, in path order."""
    found = []
    for path, ops in spec["paths"].items():
        if "post" not in ops or "requestBody" not in ops["post"]:
            continue
        details = [p for p in spec["paths"] if re.fullmatch(re.escape(path) + r"\{(\w+)\}/", p)]
        if not details or "patch" not in spec["paths"][details[0]]:
            continue  # an action endpoint such as /prompt/prompts/preview/, not an object kind
        lookup = re.search(r"\{(\w+)\}/$", details[0])
        assert lookup is not None  # the detail path matched the same pattern
        found.append(Collection(path, details[0], lookup.group(1)))
    return found


def single_kind(family: Family, single: Single) -> KindSpec:
    return KindSpec(family, single.name, single.name, single.section, single.scope, single.key, single.recorded_create,
                    single.disambiguator, single.references, single.nested, single.list_params, single.generate,
                    single.key_fallback, single.singleton)


def prefix_kind(spec: JsonObject, family: Family, collection: Collection) -> KindSpec:
    """A kind of a prefix family: `/stages/authenticator/duo/` -> `authenticator_duo`."""
    rel = collection.path[len(family.prefix):].strip("/")
    short = family.renames.get(rel, rel.replace("/", "_"))
    response = spec["components"]["schemas"][schema_of(spec, spec["paths"][collection.path]["post"], "201")]
    scope = family.scope if family.member in response["properties"] or short in family.members else None
    name = short + family.suffix
    return KindSpec(family, name, short, family.section, scope, family.key, family.recorded_create,
                    nested=family.nested.get(name, {}))


def kind_for(spec: JsonObject, collection: Collection) -> KindSpec | None:
    """The kind a collection is: a family's single, else a kind under a family's prefix."""
    for family in FAMILIES:
        for single in family.singles:
            if single.path == collection.path:
                return single_kind(family, single)
    for family in FAMILIES:  # a single's path returned above
        if family.prefix and collection.path.startswith(family.prefix) \
                and not collection.path[len(family.prefix):].startswith(family.excludes):
            return prefix_kind(spec, family, collection)
    return None


def collections(spec: JsonObject) -> list[tuple[Collection, KindSpec]]:
    """Every collection the model covers, with its kind, in path order."""
    found = []
    for collection in object_collections(spec):
        kind = kind_for(spec, collection)
        if kind is not None:
            found.append((collection, kind))
    singletons = [(Collection(single.path, single.path, ""), single_kind(family, single))
                  for family in FAMILIES for single in family.singles
                  if single.singleton and "patch" in spec["paths"].get(single.path, {})]
    return sorted(found + singletons, key=lambda pair: pair[0].path)


def reference_of(kind: KindSpec, field_name: str, compact: JsonObject, collection: str) -> str | None:
    """The target a field points at: by the kind's own table, by the family's table for a UUID
    field (an unknown UUID field fails the run) or for an integer one (an integer foreign key)."""
    if field_name in kind.references:
        return kind.references[field_name]
    table = kind.family.references
    kind_of_id = id_type(compact)
    if kind_of_id == "uuid" and field_name not in table:
        sys.exit(f"{collection}: unmodelled reference field {field_name!r}")
    return table.get(field_name) if kind_of_id in ("uuid", "int") else None


def kind_field(spec: JsonObject, kind: KindSpec, collection: str, field_name: str, raw: JsonObject,
               response: JsonObject, id_types: Mapping[str, str]) -> JsonObject:
    """One writable field of a kind: its schema facts, and whether it is write-only, a
    reference (of which target, restricted to which kind) or a secret."""
    compact = compact_field(spec, raw)
    if raw.get("writeOnly") or field_name not in response["properties"]:
        compact["write_only"] = True
    target = reference_of(kind, field_name, compact, collection)
    if target is not None:
        check_reference(collection, field_name, compact, target, id_types)
        compact["reference"] = target
        if field_name in kind.family.reference_kinds:
            compact["reference_kind"] = kind.family.reference_kinds[field_name]
    if field_name in kind.family.secrets.get(kind.name, ()):
        compact["sensitive"] = True
    if target is not None and kind.family.plain_references:
        compact["plain"] = True
    if field_name in kind.family.python:
        compact["python"] = kind.family.python[field_name] or True
    if field_name in kind.family.descriptions:
        said = compact.get("description")
        compact["description"] = f"{said} {kind.family.descriptions[field_name]}" if said \
            else kind.family.descriptions[field_name]
    return compact


def kind_fields(spec: JsonObject, kind: KindSpec, collection: str, request: JsonObject,
                response: JsonObject, id_types: Mapping[str, str]) -> JsonObject:
    """The writable fields of a kind (what a create or an update may send)."""
    fields = {name: kind_field(spec, kind, collection, name, raw, response, id_types)
              for name, raw in request["properties"].items() if name not in kind.family.never_send}
    for name, action in kind.family.actions.get(kind.name, {}).items():
        call = {k: v for k, v in action.items() if k != "spec"}
        # a field the server never returns is write-only; one read by a call of its own is not
        fields[name] = {**action["spec"], **({} if "read" in action else {"write_only": True}), "action": call}
    missing_key = [f for f in kind.key if f not in fields]
    if missing_key:
        sys.exit(f"{collection}: key fields {missing_key} are not writable fields")
    switches = [spec["python"] for spec in fields.values() if isinstance(spec.get("python"), str)]
    if any(switch not in fields for switch in switches):
        sys.exit(f"{collection}: a Python field's switch is not a writable field ({switches})")
    return fields


def create_reads(recordings: Path, pattern: str) -> tuple[list[Path], JsonObject | None]:
    """The recorded creates matching `pattern` that finding the first accepted one reads, and that
    accepted recording (None when the server accepted none)."""
    reads = []
    for path in sorted(recordings.glob(pattern)):
        reads.append(path)
        recorded: JsonObject = json.loads(path.read_text())
        if recorded["response"]["status"] == 201:
            return reads, recorded
    return reads, None


def load_recorded_create(recordings: Path, pattern: str) -> JsonObject | None:
    """The first recorded create matching `pattern` that the server accepted."""
    return create_reads(recordings, pattern)[1]


def recorded_values(recorded: JsonObject | None, fields: Mapping[str, Json]) -> tuple[JsonObject,
                                                                                          JsonObject]:
    """From an accepted create: the defaults the server filled in (fields the request did not
    send) and the constants every answer of the kind carries (its display names)."""
    defaults: JsonObject = {}
    constants: JsonObject = {}
    if recorded:
        sent = recorded["request"]["json"]
        for key, value in recorded["response"]["json"].items():
            if key in fields and key not in sent:
                defaults[key] = value
            elif key in CONSTANT_KEYS:
                constants[key] = value
    return defaults, constants


def fallback_default(compact: JsonObject) -> Any:
    """A server default for kinds no recording shows: what Django stores for an unset column."""
    if compact.get("nullable"):
        return None
    return {"array": [], "object": {}, "boolean": False, "string": ""}.get(compact.get("type", ""))


def kind_defaults(kind: KindSpec, fields: Mapping[str, Json], required: list[str],
                  recorded: JsonObject) -> JsonObject:
    """Every readable optional field's server default: recorded, else Django's for the column,
    then the family's overrides for what no recording can show."""
    defaults = dict(recorded)
    for name, compact in fields.items():
        if name in kind.family.no_default.get(kind.name, []) or name in kind.key:
            continue
        if name in kind.family.generated.get(kind.name, []):
            defaults.pop(name, None)
            continue
        if name not in defaults and not compact.get("write_only") and name not in required:
            defaults[name] = fallback_default(compact)
    defaults.update(kind.family.default_overrides.get(kind.name, {}))
    return defaults


SINGLE_FIELD_RULES = ("always", "put_leaves_out")
"""Companion rules that stand with one field (the others need two)."""


def kind_companions(kind: KindSpec, fields: Mapping[str, Json]) -> list[JsonObject]:
    """The family's companion rules for a kind, each with the fields this version's kind has (a
    rule naming another version's field as well); a rule left without a companion goes."""
    kept = []
    for rule in kind.family.write_companions.get(kind.name, []):
        present = [name for name in rule["fields"] if name in fields]
        if len(present) > (0 if rule["rule"] in SINGLE_FIELD_RULES else 1):
            kept.append({**rule, "fields": present})
    return kept


def cascade_fields(kind: KindSpec, fields: Mapping[str, Json]) -> list[str]:
    """The single references whose target's deletion deletes the object too: the non-nullable
    ones, and the nullable ones the family says cascade."""
    nullable = kind.family.cascade_nullable.get(kind.name, [])
    return [f for f, spec in fields.items() if spec.get("reference") and spec.get("type") != "array"
            and (not spec.get("nullable") or f in nullable)]


def generation(spec: JsonObject, generate: tuple[str, str] | None) -> JsonObject | None:
    """How a kind's objects are generated: the action's path, the parameter taking the object's
    key, and the other parameters (with which are required)."""
    if generate is None or generate[0] not in spec["paths"]:
        return None
    path, key_field = generate
    request = spec["components"]["schemas"][schema_of(spec, spec["paths"][path]["post"], "request")]
    return {"path": path, "key_field": key_field,
            "fields": {name: compact_field(spec, raw) for name, raw in request["properties"].items()
                       if name != key_field},
            "required": [name for name in request.get("required", []) if name != key_field]}


def fresh_singleton(recordings: Path, path: str) -> JsonObject | None:
    """A singleton as a fresh install has it (directory/fresh-install.json), as if it were created
    with nothing sent: its fields are the defaults."""
    fresh = recordings / DIRECTORY / FRESH_INSTALL
    objects = json.loads(fresh.read_text()).get(path, []) if fresh.exists() else []
    return {"request": {"json": {}}, "response": {"json": objects[0]}} if objects else None


def kind_write(spec: JsonObject, recordings: Path, collection: Collection,
               kind: KindSpec) -> tuple[JsonObject, str, JsonObject | None]:
    """The operation whose body makes a kind's objects, its answer's status, and the recording
    showing the defaults: a create and its recording, or a singleton's PUT and fresh install."""
    ops = spec["paths"][collection.path]
    if kind.singleton:
        return ops["put"], "200", fresh_singleton(recordings, collection.path)
    return ops["post"], "201", load_recorded_create(recordings, recorded_pattern(collection, kind))


def build_kind(spec: JsonObject, recordings: Path, collection: Collection, kind: KindSpec,
               id_types: Mapping[str, str]) -> JsonObject:
    """One kind of the model, from its spec schemas and its recorded create (a singleton: its
    update and the fresh install's object)."""
    schemas = spec["components"]["schemas"]
    create, answer, recorded = kind_write(spec, recordings, collection, kind)
    request = schemas[schema_of(spec, create, "request")]
    response_name = schema_of(spec, create, answer)
    response = schemas[response_name]
    patch = spec["paths"][collection.detail]["patch"]
    fields = kind_fields(spec, kind, collection.path, request, response, id_types)
    recorded_defaults, constants = recorded_values(recorded, fields)
    required = [] if kind.singleton else request.get("required", [])  # a singleton's section: the fields it manages
    id_field = "" if kind.singleton else kind.family.id_field
    return {
        "path": collection.path,
        "lookup": collection.lookup,
        "url_field": "slug" if collection.lookup == "slug" else id_field,
        "id_field": id_field,
        "id_type": id_type(resolve(spec, response["properties"][id_field])) if id_field else "str",
        **({"singleton": True} if kind.singleton else {}),
        "model": response_name,
        "section": kind.section,
        "manifest_kind": kind.manifest_kind,
        "family": kind.scope or kind.name,
        "key": list(kind.key),
        "disambiguator": kind.disambiguator,
        **({"key_fallback": dict(kind.key_fallback)} if kind.key_fallback else {}),
        **({"lists_also": list(kind.family.lists_also[kind.name])} if kind.name in kind.family.lists_also else {}),
        "nested": dict(kind.nested),
        "list_params": dict(kind.list_params),
        "generate": generation(spec, kind.generate),
        "required": [f for f in required if f in fields],
        "cascade": cascade_fields(kind, fields),
        "patch_required": schemas[schema_of(spec, patch, "request")].get("required", []),
        "write_companions": kind_companions(kind, fields),
        "fields": fields,
        "read_only": [f for f in response["properties"] if f not in fields],
        "response_order": list(response["properties"]),
        "defaults": kind_defaults(kind, fields, required, recorded_defaults),
        "no_default": kind.family.no_default.get(kind.name, []),
        "generated": kind.family.generated.get(kind.name, []),
        "export_unchanged_defaults": kind.family.export_unchanged_defaults,
        "takes": kind.family.takes.get(kind.name, []),
        "constants": constants,
        "recorded": bool(recorded),
        "opt_in": kind.family.opt_in,
        "mirrored": {f: other for f, other in kind.family.mirrored.items() if f in fields},
    }


def build_sections(kinds: Mapping[str, Json]) -> dict[str, dict[str, str]]:
    """Section -> {manifest kind: kind}, sections in family order, kinds by name."""
    found: dict[str, dict[str, str]] = {}
    for name, kind in sorted(kinds.items()):
        if kind["section"]:
            found.setdefault(kind["section"], {})[kind["manifest_kind"]] = name
    return {section: found[section] for section in SECTIONS if section in found}


def section_nouns(sections: Iterable[str]) -> dict[str, list[str]]:
    """Section -> [singular, plural], for messages and CLI choices."""
    return {section: list(SECTIONS[section]) for section in sections}


# The Python each release runs expressions with (the lab servers' /admin/system/ runtime):
# a newer interpreter's syntax cannot be checked by an older one (`reconciler.manifests.expressions`).
PYTHON_VERSIONS = {"2023.10.7": "3.11", "2026.2.2": "3.13"}


def build_model(spec: JsonObject, recordings: Path, version: str) -> JsonObject:
    """The compact model of one API version."""
    id_types = target_id_types(spec)
    kinds: JsonObject = {}
    for collection, kind in collections(spec):
        if kind.name in kinds:
            sys.exit(f"{collection.path}: kind {kind.name!r} defined twice")
        kinds[kind.name] = build_kind(spec, recordings, collection, kind, id_types)
    for built in kinds.values():  # a list of a kind this version lacks (2023 has no entitlements)
        built["nested"] = {name: n for name, n in built["nested"].items() if n["kind"] in kinds}
    sections = build_sections(kinds)
    names = set(sections) | {name for kind in kinds.values() for name in kind["fields"]}
    return {"api_version": version, "python": PYTHON_VERSIONS.get(version), "kinds": dict(sorted(kinds.items())),
            "targets": build_targets(spec, id_types), "sections": sections, "section_nouns": section_nouns(sections),
            "counterparts": {other: own for other, own in COUNTERPARTS.items() if own in names}}


def build_families(models: Iterable[JsonObject]) -> JsonObject:
    """The manifest sections any version has, in family order, with their nouns."""
    present = {section for model in models for section in model["sections"]}
    return {"sections": section_nouns(section for section in SECTIONS if section in present)}


# -- the manifest JSON Schema ----------------------------------------------------------------------

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

CONTROL_PROPERTIES: JsonObject = {
    "state": {"enum": ["present", "absent"],
              "description": "absent deletes the object (only with this explicit mark)."},
    "update": {"enum": ["patch", "put"],
               "description": "put replaces the object with a full PUT; patch (default) sends changed fields."},
}

VALUE_KEYS = ("type", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "description")
ITEM_KEYS = ("type", "enum", "minLength", "maxLength", "pattern")
KEY_KEYS = ("type", "minLength", "maxLength", "pattern", "description")


def reference_schema(target: str, key: list[str]) -> JsonObject:
    """`{flow: SLUG}`: a reference by the target's natural key."""
    return {"type": "object", "description": f"A reference to a {target} by its {'+'.join(key)}.",
            "properties": {target: {"type": "string", "minLength": 1}},
            "required": [target], "additionalProperties": False}


def reference_value(target: str, target_keys: Mapping[str, list[str]],
                    id_node: JsonObject | None = None) -> JsonObject:
    """A reference written as an id or by natural key; `id_node`, the field's own schema (an
    integer for providers), for a family whose references are also written as the key alone."""
    if id_node is None:
        return {"anyOf": [{"type": "string", "format": "uuid"}, reference_schema(target, target_keys[target])]}
    key = "+".join(target_keys[target])
    ident = {"type": "integer"} if id_node.get("type") == "integer" else {"type": "string", "format": "uuid"}
    plain = {"type": "string", "minLength": 1, "description": f"The {target} by its {key}."}
    return {"anyOf": [ident, plain, reference_schema(target, target_keys[target])]}


def array_schema(compact: JsonObject, base: JsonObject,
                 target_keys: Mapping[str, list[str]]) -> JsonObject:
    """A list field: its items, which for a reference list are references, kept as a set."""
    schema = dict(base)
    if compact.get("reference"):
        schema["items"] = reference_value(compact["reference"], target_keys,
                                          compact["items"] if compact.get("plain") else None)
        schema["uniqueItems"] = True  # the server keeps reference lists as sets
    else:
        schema["items"] = pick(compact["items"], ITEM_KEYS)
    return schema


def value_schema(compact: JsonObject, target_keys: Mapping[str, list[str]]) -> JsonObject:
    """The JSON Schema of one manifest field: the API type, plus references and secret sources."""
    schema = {"type": "object"} if compact.get("type") == "object" else pick(compact, VALUE_KEYS)
    if compact.get("type") == "any":
        schema = {}
    if compact.get("type") == "array":
        schema = array_schema(compact, schema, target_keys)
    elif compact.get("reference"):
        schema = reference_value(compact["reference"], target_keys, compact if compact.get("plain") else None)
    elif compact.get("type") == "string":
        schema = {"anyOf": [schema, SECRET_SOURCE]}
    if compact.get("nullable"):
        schema = {"anyOf": [schema, {"type": "null"}]}
    if "description" in compact:
        schema["description"] = compact["description"]
    return schema


def control_properties(kind: JsonObject, multi_kind: bool, nested_in: JsonObject | None) -> JsonObject:
    """The keys of an entry that steer the reconciler rather than set a field (none for a
    singleton: it is never deleted, and only the fields written are ever planned)."""
    props: JsonObject = {}
    if kind.get("singleton"):
        return props
    if multi_kind:
        props["kind"] = {"const": kind["manifest_kind"]}
    if nested_in is None:
        props["state"] = CONTROL_PROPERTIES["state"]
    props["update"] = CONTROL_PROPERTIES["update"]
    if kind.get("generate"):
        generate = kind["generate"]
        props["generate"] = {"type": "object", "required": generate["required"], "additionalProperties": False,
                             "properties": {name: pick(spec, VALUE_KEYS) for name, spec in generate["fields"].items()},
                             "description": "Let authentik generate the key pair (the private key never leaves it)."}
    props["ignore_changes"] = {"type": "array", "items": {"enum": sorted(set(kind["fields"]) - set(kind["key"]))},
                               "description": "Fields other processes own: never planned."}
    return props


def field_property(kind: JsonObject, name: str, entry_keys: Mapping[str, str],
                   target_keys: Mapping[str, list[str]]) -> JsonObject:
    """The JSON Schema of one field of an entry."""
    compact = kind["fields"][name]
    if name in kind["key"] and not compact.get("reference"):
        return pick(compact, KEY_KEYS)  # a natural key is plain text: never a secret source, never null
    if name in entry_keys:
        target = entry_keys[name]
        return {"type": "string", "minLength": 1,
                "description": f"The {target} by its {'+'.join(target_keys[target])}."}
    return value_schema(compact, target_keys)


def required_keys(kind: JsonObject, props: Mapping[str, Json], multi_kind: bool,
                  fallback: Mapping[str, str]) -> list[str]:
    """`kind` where a section holds several kinds, the key fields an entry writes (not one that has
    a stand-in), and the disambiguator."""
    required = (["kind"] if multi_kind else []) + [k for k in kind["key"] if k in props and k not in fallback]
    return required + ([kind["disambiguator"]] if kind["disambiguator"] else [])


def entry_required(kind: JsonObject, props: Mapping[str, Json], multi_kind: bool,
                   entry_keys: Mapping[str, str]) -> JsonObject:
    """The required keys of an entry; a policy binding binds exactly one of policy, group or user."""
    fallback = kind.get("key_fallback", {})
    required = required_keys(kind, props, multi_kind, fallback)
    if fallback:  # known by either: a blueprint instance's path, or its name
        return {"required": required, "anyOf": [{"required": [k]} for pair in fallback.items() for k in pair]}
    alternatives = [k for k in kind["key"] if k in entry_keys and k not in kind["required"]]
    if len(alternatives) <= 1:
        return {"required": required}
    return {"required": [k for k in required if k not in alternatives],
            "oneOf": [{"required": [k]} for k in alternatives]}


def entry_schema(model: JsonObject, name: str, nested_in: JsonObject | None,
                 target_keys: Mapping[str, list[str]]) -> JsonObject:
    """The JSON Schema of one manifest entry of kind `name`: its fields, its control keys and the
    lists it nests; `nested_in` is the parent's nested entry when it is written inside one."""
    kind = model["kinds"][name]
    multi_kind = kind["section"] is not None and len(model["sections"][kind["section"]]) > 1
    props = control_properties(kind, multi_kind, nested_in)
    entry_keys = nested_in["keys"] if nested_in else {}
    for field_name in kind["fields"]:
        if not (nested_in and field_name == nested_in["parent"]):  # the parent is where it is written
            props[field_name] = field_property(kind, field_name, entry_keys, target_keys)
    for list_name, nested in kind["nested"].items():
        props[list_name] = {"type": "array", "items": {"$ref": f"#/$defs/{nested['kind']}@{name}"},
                            "description": f"When present, exactly these {list_name}: others are removed."}
    required = entry_required(kind, props, multi_kind, entry_keys)
    schema: JsonObject = {"type": "object", "properties": props, "required": required["required"],
                              "additionalProperties": False}
    for alternatives in ("oneOf", "anyOf"):
        if alternatives in required:
            schema[alternatives] = required[alternatives]
    return schema


def section_items(kinds: Mapping[str, str]) -> JsonObject:
    """The items of a section's list: the one kind's entry, or any kind's chosen by `kind`."""
    if len(kinds) == 1:
        return {"$ref": f"#/$defs/{next(iter(kinds.values()))}"}
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": sorted(kinds)}},
        "allOf": [{"if": {"properties": {"kind": {"const": short}}, "required": ["kind"]},
                   "then": {"$ref": f"#/$defs/{name}"}} for short, name in sorted(kinds.items())],
    }


def section_schema(model: JsonObject, kinds: Mapping[str, str]) -> JsonObject:
    """A section: a list of entries, or a singleton's one mapping."""
    only = next(iter(kinds.values()))
    if model["kinds"][only].get("singleton"):
        return {"$ref": f"#/$defs/{only}"}
    return {"type": "array", "items": section_items(kinds)}


def build_manifest_schema(model: JsonObject) -> JsonObject:
    """The JSON Schema of a manifest for one API version."""
    target_keys = {name: t["key"] for name, t in model["targets"].items() if "key" in t}
    defs: JsonObject = {}
    for name, kind in model["kinds"].items():
        if kind["section"]:
            defs[name] = entry_schema(model, name, None, target_keys)
        for nested in kind["nested"].values():
            defs[f"{nested['kind']}@{name}"] = entry_schema(model, nested["kind"], nested, target_keys)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://authentik-reconciler.invalid/schemas/manifest-{model['api_version']}.schema.json",
        "title": f"authentik-reconciler manifest (authentik {model['api_version']})",
        "type": "object",
        "properties": {section: section_schema(model, kinds) for section, kinds in model["sections"].items()},
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


# -- the sandbox seed ------------------------------------------------------------------------------
# fresh-install.json lists what a fresh install holds at the endpoints it read. The flows recordings
# (flows/) add the default policy bindings (224, 293), but they were made on another install, so
# their objects are carried over by natural key: policies by name, flows by slug, flow-stage bindings
# by flow, stage and order, groups by name. The notification rules some bind to are known to that
# install only by pk (no flows recording names them), so those targets keep their pk.
FRESH_INSTALL = "fresh-install.json"
# apps/fresh-install.json adds the applications family's lists (`{path: [objects]}`: default scope,
# SAML and other mappings, the self-signed certificate, the embedded outpost). It was read on yet
# another install: the objects fresh-install.json lists too (mappings, the certificate) keep that
# file's pks, matched by name, and the lists it already holds are not listed twice.
APPS_FRESH_INSTALL = "apps/fresh-install.json"
POLICY_BINDINGS_PATH = "/policies/bindings/"
USERS_PATH = "/core/users/"
FLOW_BINDING_READS = ("74-fsb-list-page", "289-defaults-flow-bindings-default-authentication-flow",
                      "290-defaults-flow-bindings-default-source-enrollment",
                      "292-defaults-flow-bindings-default-invalidation-flow", "300-verify-flow-bindings-count")
SEED_READS = ("01-flows-list-fresh", "128-policies-all-list-fresh", "224-pb-list-fresh", "225-pb-lookup-group",
              "226-pb-lookup-user", "293-defaults-policy-bindings", *FLOW_BINDING_READS)

# The directory recordings' fresh install (directory/fresh-install.json, keyed by list path) holds
# the groups, users, roles, permissions, sources, notification rules and transports, the default
# brand (2026) or tenant (2023) and the settings singleton. Its objects join the seed as recorded,
# except the lists that are fixed answers rather than objects (the sandbox's profile keeps those),
# the blueprint instances (the `consequences` branch seeds them) and `/tenants/domains/`, which the
# 2026 lab does not route (a recorded 404, directory 27).
DIRECTORY = "directory"
DIRECTORY_SKIPPED = ("/sources/all/types/", "/sources/oauth/source_types/", "/managed/blueprints/",
                     "/managed/blueprints/available/", "/tenants/domains/")
# The default brand's (tenant's) flows are UUIDs of the directory recordings' install; the current
# brand (directory 09) names them by slug, so they are carried to the seed's flows of that slug.
CURRENT_BRAND = "09-fresh-*-current.json"
BRAND_PATHS = ("/core/brands/", "/core/tenants/")


def seed_reads(recordings: Path) -> list[Path]:
    """The recordings `build_seed` reads (none without a fresh install)."""
    if not (recordings / FRESH_INSTALL).exists():
        return []
    flows = recordings / "flows"
    apps = [recordings / APPS_FRESH_INSTALL] if (recordings / APPS_FRESH_INSTALL).exists() else []
    directory = recordings / DIRECTORY
    return ([recordings / FRESH_INSTALL, *apps]
            + ([flows / f"{stem}.json" for stem in SEED_READS] if flows.is_dir() else [])
            + ([directory / FRESH_INSTALL, *directory.glob(CURRENT_BRAND)] if directory.is_dir() else []))


def build_seed(recordings: Path, spec: JsonObject, targets: Mapping[str, Json]) -> JsonObject:
    """The objects of a fresh install: the recorded lists, the directory's fresh install (groups,
    users, brand, ...), and the default policy bindings carried over from the flows recordings."""
    seed: JsonObject = json.loads((recordings / FRESH_INSTALL).read_text())
    lists = seed["lists"]
    if (recordings / APPS_FRESH_INSTALL).exists():
        add_apps_lists(lists, json.loads((recordings / APPS_FRESH_INSTALL).read_text()))
    directory = recordings / DIRECTORY
    if directory.is_dir():
        lists.update(directory_lists(directory, lists))
    flows = recordings / "flows"
    if not flows.is_dir():
        return seed
    recorded = {stem: json.loads((flows / f"{stem}.json").read_text())["response"].get("json") for stem in SEED_READS}
    bindings = recorded["224-pb-list-fresh"]["results"]
    if {b["pk"] for b in bindings} != {b["pk"] for b in recorded["293-defaults-policy-bindings"]["results"]}:
        sys.exit("flows recordings 224 and 293 list different default policy bindings")
    ids: dict[Any, Any] = carried_ids(lists, recorded)
    ids.update(carried_users(lists.get(USERS_PATH, []), recorded["226-pb-lookup-user"]["results"]))
    policies = {p["pk"]: p for p in lists["/policies/all/"]}
    lists[POLICY_BINDINGS_PATH] = [carried_binding(binding, ids, policies) for binding in bindings]
    return seed


def add_apps_lists(lists: JsonObject, apps: Mapping[str, list[JsonObject]]) -> None:
    """The applications family's fresh-install lists, with the pks `lists` already gives the same
    objects (by name) and without the lists `lists` already holds."""
    ids: dict[str, str] = {}
    for path, objects in apps.items():
        if path in lists:
            ids.update(carried_by_name(lists[path], objects, "name"))
    for path, objects in apps.items():
        if path not in lists:
            lists[path] = [{**obj, "pk": ids.get(obj["pk"], obj["pk"])} for obj in objects]


def directory_lists(directory: Path, lists: Mapping[str, Json]) -> JsonObject:
    """The directory fresh install's object lists, carried onto the seed's install: its groups
    (by name), its built-in source (by slug) and the brand's flows (by the slugs the current brand
    names, directory 08, 09) take the seed's pks; users keep theirs."""
    fresh: JsonObject = json.loads((directory / FRESH_INSTALL).read_text())
    objects = {path: value for path, value in fresh.items() if path not in DIRECTORY_SKIPPED}
    ids = carried_by_name(lists.get("/core/groups/", []), objects.get("/core/groups/", []), "name")
    ids.update(carried_by_name(lists.get("/sources/all/", []), objects.get("/sources/all/", []), "slug"))
    [current_file] = directory.glob(CURRENT_BRAND)
    current = json.loads(current_file.read_text())["response"]["json"]
    flows = {f["slug"]: f["pk"] for f in lists["/flows/instances/"]}
    for path in BRAND_PATHS:
        for brand in objects.get(path, []):
            ids.update({brand[key]: flows[current[key]] for key in current if key.startswith("flow_") and brand[key]})
    carried: JsonObject = carried_values(objects, ids)
    return carried


def carried_values(value: Json, ids: Mapping[str, str]) -> Json:
    """`value` with every string that is a carried pk replaced by the seed's, and a group's
    `num_pk`, which the server derives from its pk, derived again (directory 31)."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [carried_values(item, ids) for item in value]
    if isinstance(value, dict):
        carried = {key: carried_values(item, ids) for key, item in value.items()}
        if "num_pk" in carried and isinstance(carried.get("pk"), str):
            carried["num_pk"] = num_pk(carried["pk"])
        return carried
    return value


def num_pk(pk: str) -> int:
    """A group's `num_pk`: the first five digits of its UUID as an integer (directory 31)."""
    return int(str(uuid.UUID(pk).int)[:5])


def carried_binding(binding: JsonObject, ids: Mapping[Json, Json],
                    policies: Mapping[str, Json]) -> JsonObject:
    """A recorded default policy binding with the seed's ids for what it binds."""
    carried = {key: ids.get(value, value) if key in ("policy", "group", "target", "user") else value
               for key, value in binding.items()}
    carried["policy_obj"] = policies.get(carried["policy"]) if carried["policy"] else None
    return carried


def carried_by_name(seed_objects: Iterable[JsonObject], recorded_objects: Iterable[JsonObject],
                    key: str) -> dict[str, str]:
    """Recorded pk -> seed pk of the objects both hold, matched by `key`."""
    seed = {obj[key]: obj["pk"] for obj in seed_objects}
    return {obj["pk"]: seed[obj[key]] for obj in recorded_objects if obj[key] in seed}


def carried_users(seed_users: Iterable[JsonObject], recorded_users: Iterable[JsonObject]) -> dict[int, int]:
    """Recorded user pk -> seed user pk, by username (flows 226; the directory fresh install)."""
    seed = {user["username"]: user["pk"] for user in seed_users}
    return {user["pk"]: seed[user["username"]] for user in recorded_users if user["username"] in seed}


def carried_bindings(lists: Mapping[str, Json], recorded: Mapping[str, Json],
                     flow_slugs: Mapping[str, str]) -> dict[str, str]:
    """Recorded pk -> seed pk of flow-stage bindings, matched by flow slug, stage name and order."""
    seed_flow_slugs = {f["pk"]: f["slug"] for f in lists["/flows/instances/"]}
    seed = {(seed_flow_slugs[b["target"]], b["stage_obj"]["name"], b["order"]): b["pk"]
            for b in lists["/flows/bindings/"]}
    ids: dict[str, str] = {}
    for read in FLOW_BINDING_READS:
        for b in recorded[read]["results"]:
            key = (flow_slugs[b["target"]], b["stage_obj"]["name"], b["order"])
            if key in seed:
                ids[b["pk"]] = seed[key]
    return ids


def carried_ids(lists: Mapping[str, Json], recorded: Mapping[str, Json]) -> dict[str, str]:
    """Recorded pk -> the seed's pk of the same object, by natural key."""
    recorded_flows = recorded["01-flows-list-fresh"]["results"]
    ids = carried_by_name(lists["/flows/instances/"], recorded_flows, "slug")
    ids.update(carried_by_name(lists["/policies/all/"], recorded["128-policies-all-list-fresh"]["results"], "name"))
    ids.update(carried_by_name(lists.get("/core/groups/", []), recorded["225-pb-lookup-group"]["results"], "name"))
    ids.update(carried_bindings(lists, recorded, {f["pk"]: f["slug"] for f in recorded_flows}))
    return ids


# -- authentik's own blueprints -------------------------------------------------------------------
# `blueprints.json` (authentik-blueprints/<version>.json, copied by derive_inputs) lists every
# blueprint file a release ships, with each entry's model, state, identifiers and attrs. The
# project keeps the facts a plan needs (reconciler/model/blueprints/<version>.json): which fields
# of which object each `present` entry sets again whenever authentik applies its instance, with
# the `!KeyOf` references between entries resolved to the identifiers of the entry they name.
BLUEPRINTS_FILE = "blueprints.json"
BLUEPRINT_INSTANCES_PATH = "/managed/blueprints/"
BLUEPRINT_FILES_PATH = "/managed/blueprints/available/"
DIRECTORY_FRESH_INSTALL = "directory/fresh-install.json"
# Django's `app.model` of the kinds whose answers carry no `meta_model_name` (flows, bindings:
# FINDINGS flows "flows, bindings and policies have no blueprint or managed field"), as their
# blueprints name them; other such kinds are `authentik_<path>.<model>` (/stages/source/:
# authentik_stages_source.sourcestage).
MODEL_NAMES = {
    "flow": "authentik_flows.flow",
    "flow_stage_binding": "authentik_flows.flowstagebinding",
    "policy_binding": "authentik_policies.policybinding",
    "prompt_field": "authentik_stages_prompt.prompt",
    "invitation_invite": "authentik_stages_invitation.invitation",
    "blueprint_instance": "authentik_blueprints.blueprintinstance",
    "lifecycle_rule": "authentik_lifecycle.lifecyclerule",  # the permission catalogue's app label (directory 07)
}


def model_name_of(name: str, kind: Mapping[str, Json], known: Sequence[str] = ()) -> str:
    """The `app.model` a blueprint entry names for objects of a kind: its `meta_model_name`, or
    the one model of that name the spec's `ModelEnum` lists (`known`: a group is
    `authentik_core.group`), or one made from its path."""
    constant = kind["constants"].get("meta_model_name")
    if constant:
        return str(constant)
    if name in MODEL_NAMES:
        return MODEL_NAMES[name]
    made = f"authentik_{kind['path'].strip('/').replace('/', '_')}.{str(kind['model']).lower()}"
    same_name = [model for model in known if model.endswith("." + made.rsplit(".", 1)[1])]
    return same_name[0] if made not in known and len(same_name) == 1 else made


def known_models(spec: JsonObject) -> list[str]:
    """Every `app.model` the version has that a blueprint may name: the spec's `ModelEnum`
    (directory 443: any other model is refused)."""
    schema = spec["components"]["schemas"].get("ModelEnum") or {}
    return sorted(str(model) for model in schema.get("enum", []))


def resolved_identifiers(value: Json, by_id: Mapping[str, JsonObject], seen: frozenset[str] = frozenset()) -> Json:
    """Identifiers with each `{"!KeyOf": ID}` replaced by `{"model": ..., "identifiers": ...}` of the
    entry with that id (itself resolved); other tags (`!Find`, `!Env`, ...) are kept as they are."""
    if isinstance(value, dict) and set(value) == {"!KeyOf"}:
        ident = value["!KeyOf"]
        entry = by_id.get(ident)
        if entry is None or ident in seen:
            return value
        return {"model": entry["model"],
                "identifiers": resolved_identifiers(entry["identifiers"], by_id, seen | {ident})}
    if isinstance(value, dict) and not any(str(key).startswith("!") for key in value):
        return {key: resolved_identifiers(item, by_id, seen) for key, item in value.items()}
    return value


def blueprint_facts(blueprint: JsonObject) -> JsonObject:
    """One shipped blueprint as the project keeps it: its path, instance name and entries."""
    by_id = {entry["id"]: entry for entry in blueprint["entries"] if entry.get("id")}
    entries = [{"model": entry["model"], "state": entry.get("state") or "present",
                "identifiers": resolved_identifiers(entry.get("identifiers") or {}, by_id),
                "attrs": sorted(entry.get("attrs") or []),
                "values": {name: resolved_identifiers(value, by_id)
                           for name, value in (entry.get("attrs_values") or {}).items()}}
               for entry in blueprint["entries"] if entry.get("identifiers")]
    return {"path": blueprint["path"], "name": blueprint["name"], "labels": blueprint.get("labels") or {},
            "sha512": blueprint.get("sha512", ""), "instantiate": blueprint.get("instantiate") != "false",
            "entries": entries}


def build_blueprints(recordings: Path, model: JsonObject, spec: JsonObject) -> JsonObject:
    """The blueprint facts of one version: the `app.model` of each kind, every model a blueprint
    may name, and every blueprint."""
    shipped = json.loads((recordings / BLUEPRINTS_FILE).read_text())
    known = known_models(spec)
    return {"api_version": model["api_version"],
            "models": {name: model_name_of(name, kind, known) for name, kind in model["kinds"].items()
                       if not kind.get("singleton")},  # the settings are no blueprint model
            "known_models": known,
            "blueprints": [blueprint_facts(b) for b in shipped["blueprints"]]}


def seed_blueprint_instances(recordings: Path, seed: JsonObject) -> None:
    """The fresh install's blueprint instances and the worker's blueprint files
    (directory/fresh-install.json) into `seed`. The files are the ones the release ships, with the
    modification times of the lab's install and in the order its worker walked them (2023
    directory 25; 2026's from the one answer of the trial runs, which FINDINGS keeps there)."""
    fresh = recordings / DIRECTORY_FRESH_INSTALL
    if fresh.exists():
        lists = json.loads(fresh.read_text())
        seed["lists"][BLUEPRINT_INSTANCES_PATH] = lists[BLUEPRINT_INSTANCES_PATH]
        if BLUEPRINT_FILES_PATH in lists:
            seed["lists"][BLUEPRINT_FILES_PATH] = lists[BLUEPRINT_FILES_PATH]


# -- the command -----------------------------------------------------------------------------------


def recording_reads(spec: JsonObject, recordings: Path) -> list[Path]:
    """Every recording file generating one version's model and seed reads (for derive_inputs)."""
    reads = {path for collection, kind in collections(spec) if not kind.singleton  # read from the fresh install
             for path in create_reads(recordings, recorded_pattern(collection, kind))[0]}
    fresh = recordings / DIRECTORY_FRESH_INSTALL
    return sorted(reads | set(seed_reads(recordings)) | ({fresh} if fresh.exists() else set()))


def load_spec(inputs: Path, version: str) -> JsonObject:
    spec: JsonObject = json.loads((inputs / version / SPEC_FILE).read_text())
    return spec


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def generate_version(inputs: Path, root: Path, version: str) -> JsonObject:
    """Write one version's model, manifest schema and seed; return the model."""
    spec = load_spec(inputs, version)
    recordings = inputs / version
    model = build_model(spec, recordings, version)
    write_json(root / "schemas" / f"api-{version}.json", model)
    write_json(root / "schemas" / f"manifest-{version}.schema.json", build_manifest_schema(model))
    if (recordings / FRESH_INSTALL).exists():
        seed = build_seed(recordings, spec, model["targets"])
        seed_blueprint_instances(recordings, seed)
        write_json(root / "reconciler" / "model" / "seeds" / f"{version}.json", seed)
    if (recordings / BLUEPRINTS_FILE).exists():
        write_json(root / "reconciler" / "model" / "blueprints" / f"{version}.json",
                   build_blueprints(recordings, model, spec))
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", type=Path, default=INPUTS,
                        help="the trimmed specs and recordings (default: scripts/inputs)")
    parser.add_argument("--out", type=Path, default=PROJECT, help="project root to write into (default: this checkout)")
    args = parser.parse_args(argv)
    models = []
    for version in VERSIONS:
        model = generate_version(args.inputs, args.out, version)
        models.append(model)
        print(f"{version}: {len(model['kinds'])} kinds, {len(model['targets'])} reference targets")
    write_json(args.out / "schemas" / "families.json", build_families(models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
