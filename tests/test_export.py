"""`reconciler export`: live objects as manifests that validate and plan back to no changes, for
every kind of both API versions, through the CLI against the sandbox over real HTTP and through
the Python API; stable bytes, no secret value, selection, and the folder it writes."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from click.testing import Result
from conftest import calling
from jsonschema import Draft202012Validator
from support import TOKEN, run, served
from test_kinds import (
    CONNECTOR,
    TARGET_SAMPLES,
    WEB_SOURCE,
    add_web_source,
    creatable,
    editable,
    other,
    sample,
    seed_keys,
)
from test_secrets import SECRETS, assert_clean, secret_manifest

import reconciler
from reconciler import Connection, ExportOptions, ReconcilerError, write_export
from reconciler.exporting.entries import export_live, export_paths, select_kinds
from reconciler.manifests.schema import manifest_schema
from reconciler.model.defaults import is_default
from reconciler.model.kinds import ApiModel, known_versions
from reconciler.model.live import LiveState
from reconciler.planning import pipeline
from reconciler.sandbox import Sandbox
from reconciler.server.client import Client

NEWEST = known_versions()[-1]
APPLICATION_SECTIONS = ("certificates", "property_mappings", "providers", "applications", "outpost_connections",
                        "outposts")
DEFAULT_MARK = "  # Default: a fresh authentik install has it (authentik's blueprints make it)."


def every_kind(sandbox: Sandbox, model: ApiModel) -> dict[str, Any]:
    """One object of every stage and policy kind, most fields away from their defaults (secrets the
    server returns in clear included), and a flow with bindings (one stage bound twice) and policy
    bindings of a policy, a group and a user, on the flow and on a binding."""
    keys = seed_keys(sandbox, model.version)
    sections: dict[str, list[dict[str, Any]]] = {"stages": [], "policies": []}
    for kind in model.kinds.values():
        if kind.section not in sections:
            continue
        obj: dict[str, Any] = {"kind": kind.manifest_kind, "name": f"export-{kind.name.replace('_', '-')}"}
        obj.update({name: sample(spec, keys) for name, spec in creatable(kind).items()})
        if kind.name == "source":
            obj["source"] = {"source": WEB_SOURCE["slug"]}
        for spec in editable(kind):
            obj.setdefault(spec.name, other(spec, kind.defaults.get(spec.name, sample(spec, keys))))
        for name, spec in kind.fields.items():
            if spec.sensitive and not spec.write_only and spec.type == "string":
                obj[name] = f"s3cret-{kind.name}-{name}"
        if kind.name == "reputation_policy":
            obj["check_ip"] = True  # one of the two checks must stay on (flows 184)
        sections[str(kind.section)].append(obj)
    flow = {"slug": "export-flow", "name": "Export", "title": "Export", "designation": "authentication",
            "layout": "content_left",
            "bindings": [
                {"stage": "export-identification", "order": 10, "evaluate_on_plan": True,
                 "policies": [{"policy": "export-expression-policy", "order": 0, "negate": True},
                              {"group": TARGET_SAMPLES["group"], "order": 1}]},
                {"stage": "export-password", "order": 20},
                {"stage": "export-password", "order": 30, "invalid_response_action": "restart"}],
            "policies": [{"policy": "export-dummy-policy", "order": 0}, {"group": TARGET_SAMPLES["group"], "order": 1},
                         {"user": "akadmin", "order": 2, "timeout": 5}]}
    # A blueprint instance with inline content is known by its name (directory 28).
    blueprint = {"name": "export-blueprint", "content": "version: 1\nmetadata:\n  name: export\nentries: []",
                 "context": {"export": 1}, "enabled": False}
    return {**sections, "flows": [flow], **directory_kinds(model), "blueprints": [blueprint]}


def directory_kinds(model: ApiModel) -> dict[str, list[dict[str, Any]]]:
    """One object of every directory kind but users (data, not in a default export), each as a
    real server takes it (directory recordings 31, 154, 204, 248, 291, 309, 334, 342, 352, 361,
    385, 409), with a field away from its default."""
    def slug(kind: str) -> str:
        return f"export-{kind.replace('_', '-')}"

    pre_auth = {"flow": "default-source-pre-authentication"}
    sources = {
        "oauth": {"provider_type": "discord", "consumer_key": "key", "consumer_secret": "secret"},
        "saml": {"sso_url": "https://idp.example.com/sso", "issuer": "export", "pre_authentication_flow": pre_auth},
        "ldap": {"server_uri": "ldap://ldap.example.com", "base_dn": "dc=example,dc=com",
                 "sync_users_password": False},
        "plex": {"plex_token": "s3cret-plex_source-plex_token"},
        "kerberos": {"realm": "EXAMPLE.COM"},
        "scim": {},
        "telegram": {"bot_username": "export_bot", "bot_token": "token", "pre_authentication_flow": pre_auth},
    }
    brands = "brands" if "brands" in model.sections else "tenants"
    rule_group = "destination_group" if brands == "brands" else "group"
    return {
        "groups": [{"name": "export-group", "attributes": {"team": "export"}}],
        "roles": [{"name": "export-role"}],
        brands: [{"domain": "export-brand.example.com", "branding_title": "Export",
                  "flow_authentication": {"flow": "default-authentication-flow"}}],
        "sources": [{"kind": manifest_kind, "slug": slug(kind), "name": f"Export {manifest_kind}", "enabled": False,
                     **sources[manifest_kind]} for manifest_kind, kind in model.sections["sources"].items()],
        "notification_transports": [{"name": "export-transport", "mode": "webhook",
                                     "webhook_url": "https://hooks.example.com/export"}],
        "notification_rules": [{"name": "export-rule", "severity": "alert",
                                "transports": [{"notification_transport": "export-transport"}],
                                rule_group: {"group": "export-group"}}],
    }


class Seeded(NamedTuple):
    sandbox: Sandbox
    url: str
    manifest: dict[str, Any]
    """What was applied on top of the default install (`every_kind`)."""


@pytest.fixture(scope="module", params=known_versions())
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A default install plus one object of every kind, made by applying a manifest."""
    version = request.param
    sandbox = Sandbox(api_version=version, token=TOKEN, enterprise=True)
    if "endpoint_connector" in sandbox.model.targets:
        sandbox.add_seed_object("/endpoints/connectors/", CONNECTOR)
    folder = tmp_path_factory.mktemp(f"seed-{version}")
    with sandbox.serve_in_thread() as url:
        add_web_source(sandbox, url)
        manifest = every_kind(sandbox, sandbox.model)
        (folder / "every-kind.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        applied = run(url, "apply", str(folder), "--auto-approve", "--state", str(folder / "state.json"))
        assert applied.exit_code == 0, applied.output
        yield Seeded(sandbox, url, manifest)


def variables(result: Result) -> list[tuple[str, str, str]]:
    """The variables `export` lists on stderr: (variable, address, field)."""
    lines = result.stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Set these variables")), len(lines))
    found = []
    for line in lines[start + 1:]:
        name, rest = line.strip().split(": ", 1)
        address, field = rest.rsplit(" ", 1)
        found.append((name, address, field))
    return found


def secret_values(sandbox: Sandbox, listed: list[tuple[str, str, str]]) -> dict[str, str]:
    """Each listed variable set to the value the sandbox holds, as a user would set it."""
    environ = {}
    for name, address, field in listed:
        kind, key = address.split("/", 1)
        [obj] = [o for o in sandbox.objects(kind) if o[sandbox.model.kinds[kind].key[0]] == key]
        environ[name] = obj[field]
    return environ


def plan_is_clean(sandbox: Sandbox, url: str, path: Path, listed: list[tuple[str, str, str]]) -> None:
    result = run(url, "plan", str(path), "--detailed-exitcode", env=secret_values(sandbox, listed))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No changes.")


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- round trip ------------------------------------------------------------------------------------
def sensitive_fields(model: ApiModel) -> list[tuple[str, str]]:
    """(address, field) of each secret the server returns in clear, on the objects `every_kind` makes."""
    return sorted((f"{kind.name}/export-{kind.name.replace('_', '-')}", name) for kind in model.kinds.values()
                  if kind.section in ("stages", "policies", "sources") for name, spec in kind.fields.items()
                  if spec.sensitive and not spec.write_only and spec.type == "string")


def assert_one_file_per_kind_and_flow(sandbox: Sandbox, files: dict[str, bytes]) -> None:
    model = sandbox.model
    # one file per kind with objects, one per flow, the schema they point at
    assert f"manifest-{model.version}.schema.json" in files
    for kind in model.kinds.values():
        if kind.section in ("stages", "policies"):
            assert f"{kind.section}/{kind.manifest_kind}.yaml" in files, kind.name
    assert {f"flows/{f['slug']}.yaml" for f in sandbox.objects("flow")} == {f for f in files if f.startswith("flows/")}


def assert_faithful(model: ApiModel, manifest: dict[str, Any], out: Path) -> None:
    # Faithful, not only clean (an unwritten field is unmanaged, so plans clean too): every field
    # the seed set away from its default is in the export, with the value it was given.
    entries = {(section, entry_key(entry)): entry for path in out.rglob("*.yaml")
               for section, listed_entries in yaml.safe_load(path.read_text()).items() for entry in listed_entries}
    for section, seeded_entries in manifest.items():
        for wanted in seeded_entries:
            assert_entry_faithful(model, section, wanted, entries[section, entry_key(wanted)])


def entry_key(entry: dict[str, Any]) -> str:
    """An entry's natural key, whatever its kind calls it."""
    return str(next(entry[name] for name in ("name", "slug", "domain", "username") if name in entry))


def assert_entry_faithful(model: ApiModel, section: str, wanted: dict[str, Any], entry: dict[str, Any]) -> None:
    """The exported `entry` holds every field the seed's entry `wanted` set away from its default."""
    name = entry_key(wanted)
    kinds = model.sections[section]
    kind = model.kinds[kinds[wanted["kind"]] if "kind" in wanted else next(iter(kinds.values()))]
    for field, value in wanted.items():
        spec = kind.fields.get(field)
        if spec is None or spec.sensitive or (field in kind.defaults and value == kind.defaults[field]):
            continue
        assert entry.get(field) == (plain(spec.reference, value) if spec.plain else value), (name, field)
    if "bindings" in wanted:
        assert entry["bindings"] == [{**b, "policies": b.get("policies", [])} for b in wanted["bindings"]]
        assert entry["policies"] == wanted["policies"]


def plain(target: str | None, value: Any) -> Any:
    """A reference written `{target: KEY}` as export writes it for a kind whose references are
    plain: the key alone."""
    if isinstance(value, list):
        return [plain(target, item) for item in value]
    return value[target] if isinstance(value, dict) and list(value) == [target] else value


def assert_one_document_round_trips(sandbox: Sandbox, url: str, tmp_path: Path,
                                    listed: list[tuple[str, str, str]]) -> None:
    document = run(url, "export")
    assert document.exit_code == 0 and variables(document) == listed
    sections = [line for line in document.stdout.splitlines() if line and not line.startswith((" ", "#"))]
    # the sections of the objects made, in the model's order; no users (data, not in a default export)
    assert sections == [f"{section}:" for section in sandbox.model.sections if f"{section}:" in sections]
    assert {"stages:", "flows:", "groups:", "sources:", "blueprints:"} <= set(sections) and "users:" not in sections
    single = tmp_path / "all.yaml"
    single.write_text(document.stdout)
    plan_is_clean(sandbox, url, single, listed)


def test_round_trip_every_kind(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, manifest = seeded
    model = sandbox.model
    out = tmp_path / "config"
    result = run(url, "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    listed = variables(result)
    assert sorted((address, field) for _, address, field in listed) == sensitive_fields(model)
    assert_one_file_per_kind_and_flow(sandbox, files_of(out))
    assert run(url, "validate", str(out), "--api-version", model.version).exit_code == 0
    plan_is_clean(sandbox, url, out, listed)
    assert_faithful(model, manifest, out)
    assert_one_document_round_trips(sandbox, url, tmp_path, listed)


def test_a_flow_is_exported_with_every_binding_by_name(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    version = sandbox.model.version
    result = run(url, "export", "--out", str(tmp_path), "--kind", "flow", "--name", "export-flow")
    assert result.exit_code == 0, result.output
    text, digest = (tmp_path / "flows" / "export-flow.yaml").read_text().rsplit("# content sha256:", 1)
    assert digest == hashlib.sha256(text.encode()).hexdigest() + "\n"  # edits are told apart by it
    assert text == f"""\
# yaml-language-server: $schema=../manifest-{version}.schema.json
# Exported by authentik-reconciler from authentik {version}: the flow export-flow with its bindings.
# Exporting again into this folder rewrites this file, or removes it when nothing is left in it.
flows:
  - slug: export-flow
    name: Export
    title: Export
    designation: authentication
    layout: content_left
    bindings:
      - stage: export-identification
        order: 10
        evaluate_on_plan: true
        policies:
          - policy: export-expression-policy
            order: 0
            negate: true
          - group: authentik Admins
            order: 1
      - stage: export-password
        order: 20
        policies: []
      - stage: export-password
        order: 30
        invalid_response_action: restart
        policies: []
    policies:
      - policy: export-dummy-policy
        order: 0
      - group: authentik Admins
        order: 1
      - user: akadmin
        order: 2
        timeout: 5
"""


def test_a_second_export_is_byte_identical(seeded: Seeded, tmp_path: Path) -> None:
    _, url, _ = seeded
    first = run(url, "export", "--out", str(tmp_path / "a"))
    second = run(url, "export", "--out", str(tmp_path / "b"))
    again = run(url, "export", "--out", str(tmp_path / "a"))
    assert first.exit_code == second.exit_code == again.exit_code == 0
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    count = len(files_of(tmp_path / "a"))
    assert f": 0 files written, {count} unchanged, 0 removed." in again.stderr
    assert run(url, "export").stdout == run(url, "export").stdout


def test_the_export_does_not_depend_on_the_order_the_server_lists_in(seeded: Seeded) -> None:
    sandbox = seeded.sandbox
    model = sandbox.model
    kinds = select_kinds(model)

    async def read() -> LiveState:
        connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
        async with Client(connection) as client:
            return await pipeline.fetch(client, model, export_paths(model, kinds))

    live = asyncio.run(read())

    def shuffled(path: str, obj: dict[str, Any]) -> dict[str, Any]:
        kind = model.kind_for_path(path)
        sets = {name for name, spec in kind.fields.items() if spec.reference and spec.is_list} if kind else set()
        return {name: list(reversed(value)) if name in sets else value for name, value in obj.items()}

    backwards = LiveState(model, {path: [shuffled(path, obj) for obj in reversed(objects)]
                                  for path, objects in live.lists.items()})
    assert backwards.lists != live.lists
    first, second = export_live(live, kinds, ExportOptions()), export_live(backwards, kinds, ExportOptions())
    assert (first.document, first.files) == (second.document, second.files)


def test_multi_line_text_is_a_literal_block(seeded: Seeded) -> None:
    document = run(seeded.url, "export", "--kind", "expression", "--name", "default-authentication-flow-*").stdout
    assert """
    name: default-authentication-flow-password-stage
    expression: |-
      flow_plan = request.context.get("flow_plan")
      if not flow_plan:
          return True
""" in document


def test_all_fields_keeps_default_equal_fields_and_plans_clean(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    short = run(url, "export", "--name", "export-*")
    full = run(url, "export", "--name", "export-*", "--all-fields")
    assert full.exit_code == 0, full.output
    assert "policy_engine_mode: any" not in short.stdout
    flow = full.stdout[full.stdout.index("  - slug: export-flow"):]
    assert "    policy_engine_mode: any\n" in flow and "        policy_engine_mode: any\n" in flow  # flow, binding
    assert "            enabled: true\n" in flow  # a policy binding's default
    (tmp_path / "full.yaml").write_text(full.stdout)
    plan_is_clean(sandbox, url, tmp_path / "full.yaml", variables(full))


def test_exported_files_pass_the_published_schema(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    version = sandbox.model.version
    assert run(url, "export", "--out", str(tmp_path), "--all-fields").exit_code == 0
    validator = Draft202012Validator(manifest_schema(version))
    schema = tmp_path / f"manifest-{version}.schema.json"
    published = Path(__file__).parent.parent / "schemas" / schema.name  # the repository's copy, installed or not
    assert schema.read_bytes() == published.read_bytes()
    for path in sorted(tmp_path.rglob("*.yaml")):
        text = path.read_text()
        assert text.splitlines()[0] == f"# yaml-language-server: $schema=../{schema.name}"
        assert (path.parent / f"../{schema.name}").resolve() == schema.resolve()
        assert list(validator.iter_errors(yaml.safe_load(text))) == [], path


# -- defaults and selection ----------------------------------------------------------------------
def exported(sandbox: Sandbox, **options: Any) -> reconciler.Export:
    connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    return reconciler.export(connection, ExportOptions(**options))


def test_defaults_are_marked_or_left_out(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    model = sandbox.model
    document = run(url, "export", "--kind", "identification").stdout
    assert f"{DEFAULT_MARK}\n  - kind: identification\n    name: default-authentication-identification\n" in document
    assert "\n\n  - kind: identification\n    name: export-identification\n" in document
    assert document.count(DEFAULT_MARK) == 1

    everything = exported(sandbox)
    without = exported(sandbox, exclude_defaults=True)
    kinds = {address.split("/")[0] for address in everything.addresses}
    defaults = [a for a in everything.addresses if is_default(model, model.kinds[a.split("/")[0]],
                                                                (a.split("/", 1)[1],))]
    assert len(defaults) > 20 and "flow/default-authentication-flow" in defaults
    assert sorted(without.addresses) == sorted(set(everything.addresses) - set(defaults))
    # one object of every stage and policy kind is not a default; of the application families the
    # fresh install holds only defaults (scope mappings, the certificate, the embedded outpost)
    made = {kind for kind in kinds if model.kinds[kind].section not in APPLICATION_SECTIONS}
    assert {a.split("/")[0] for a in without.addresses} == made
    assert "Default:" not in without.document
    result = run(url, "export", "--exclude-defaults", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "flows" / "default-authentication-flow.yaml").exists()
    plan_is_clean(sandbox, url, tmp_path, variables(result))


def test_kind_family_and_name_select(seeded: Seeded) -> None:
    sandbox, url, manifest = seeded

    def selected(**options: Any) -> list[str]:
        return list(exported(sandbox, **options).addresses)

    assert selected(kinds=("identification",)) == ["identification/default-authentication-identification",
                                                   "identification/export-identification"]
    # a manifest kind, a model kind; `password` is the stage kind, the policy is `password_policy`
    assert selected(kinds=("expression",)) == selected(kinds=("expression_policy",))
    assert {a.split("/")[0] for a in selected(kinds=("password",))} == {"password"}
    assert {a.split("/")[0] for a in selected(kinds=("password_policy",))} == {"password_policy"}
    # a nested kind is exported with its flow
    assert selected(kinds=("flow_stage_binding",)) == selected(kinds=("flow",)) == selected(families=("flows",))
    assert all(a.startswith("flow/") for a in selected(families=("flows",)))
    policies = selected(families=("policies",))
    assert {a.split("/")[0] for a in policies} == set(sandbox.model.sections["policies"].values())
    mine = selected(names=("export-*",))
    assert len(mine) == sum(len(entries) for entries in manifest.values())
    assert all(a.split("/", 1)[1].startswith("export-") for a in mine)
    # combined: kinds and families add up, names narrow them
    assert selected(families=("policies",), kinds=("identification",), names=("export-*",)) == [
        "identification/export-identification",
        *[a for a in policies if a.split("/", 1)[1].startswith("export-")]]
    assert selected(kinds=("flow",), names=("export-flow", "default-authentication-*")) == [
        "flow/default-authentication-flow", "flow/export-flow"]

    cli = run(url, "export", "--family", "policies", "--kind", "identification", "--name", "export-*")
    assert cli.exit_code == 0
    assert [line for line in cli.stdout.splitlines() if line.startswith("  - ")][:2] == [
        "  - kind: identification", "  - kind: dummy"]
    assert [line for line in cli.stdout.splitlines() if not line.startswith((" ", "#")) and line] == \
        ["stages:", "policies:"]


def test_unknown_kind_is_one_clear_error(seeded: Seeded) -> None:
    sandbox, url, _ = seeded
    result = run(url, "export", "--kind", "identifcation")
    assert (result.exit_code, result.output) == (
        1, f"error: unknown kind 'identifcation' for authentik {sandbox.model.version} "
           "(did you mean 'identification'?)\n")
    family = run(url, "export", "--family", "stage")
    assert family.exit_code == 1 and "Invalid value for '--family'" in family.output


def test_what_the_tool_cannot_name_stays_an_id(tmp_path: Path) -> None:
    # Two webauthn device types share a description: a reference to one of them stays its id.
    sandbox = Sandbox(api_version=NEWEST)
    types = {"a": "Same key", "b": "Same key", "c": "Unique key"}
    for suffix, description in types.items():
        sandbox.add_seed_object("/stages/authenticator/webauthn_device_types/", {
            "aaguid": f"00000000-0000-4000-8000-00000000000{suffix}", "description": description, "icon": None})
    connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({
        "stages": [{"kind": "authenticator_validate", "name": "pick", "webauthn_allowed_device_types": [
            "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a",
            {"webauthn_device_type": "Unique key"}]}]}))
    options = reconciler.PlanOptions(keep_state=False)
    reconciler.apply([tmp_path], connection, options)
    document = exported(sandbox, names=("pick",)).document
    assert """
  # webauthn_allowed_device_types: 00000000-0000-4000-8000-00000000000a is written as its id: another \
webauthn_device_type has the same description
  # webauthn_allowed_device_types: 00000000-0000-4000-8000-00000000000b is written as its id: another \
webauthn_device_type has the same description
  - kind: authenticator_validate
    name: pick
    webauthn_allowed_device_types:
      - {webauthn_device_type: Unique key}
      - 00000000-0000-4000-8000-00000000000a
      - 00000000-0000-4000-8000-00000000000b
""" in document
    (tmp_path / "m.yaml").write_text(document)
    assert not reconciler.plan([tmp_path], connection, options).has_changes


def test_a_binding_of_a_group_the_tool_cannot_name_leaves_the_list_unmanaged(tmp_path: Path) -> None:
    # authentik 2023 accepts a second top-level group of the same name (directory 44): a policy
    # binding of such a group cannot be written in a flow's list by name, so that list is left
    # out (listing it without the binding would plan the binding's delete). The sandbox keeps group
    # names unique, so the twin joins the live state the exporter reads, as a 2023 server lists it.
    sandbox = Sandbox(api_version="2023.10.7")
    model = sandbox.model
    connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({
        "flows": [{"slug": "twins", "name": "Twins", "title": "Twins", "designation": "authentication",
                   "policies": [{"group": "authentik Admins", "order": 0}]}]}))
    reconciler.apply([tmp_path], connection, reconciler.PlanOptions(keep_state=False))
    kinds = select_kinds(model, ("flow",))

    async def read() -> LiveState:
        async with Client(connection) as client:
            return await pipeline.fetch(client, model, export_paths(model, kinds))

    live = asyncio.run(read())
    [admins] = live.lists["/core/groups/"]
    twin = {**admins, "pk": "6f000000-0000-4000-8000-000000000001", "users": [], "users_obj": []}
    live = LiveState(model=model, lists={**live.lists, "/core/groups/": [admins, twin]})
    binding = next(b for b in live.lists["/policies/bindings/"] if b.get("group") == admins["pk"])
    binding["group"] = twin["pk"]
    document = export_live(live, kinds, ExportOptions(names=("twins",))).document
    assert f"""
flows:
  # policies: not exported, so left unmanaged: the group {twin["pk"]} cannot be named (another group has the \
same name)
  - slug: twins
    name: Twins
    title: Twins
    designation: authentication
""" in document


# -- secrets -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str]]:
    """The no-leak corpus of test_secrets, applied."""
    folder = tmp_path_factory.mktemp("leaky")
    secret_manifest(folder)
    with served() as (sandbox, url):
        applied = run(url, "apply", str(folder), "--auto-approve", "--state", str(folder / "state.json"), env=SECRETS)
        assert applied.exit_code == 0, applied.output
        yield sandbox, url


def test_an_export_holds_no_secret_value_and_names_the_variables(leaky: tuple[Sandbox, str], tmp_path: Path) -> None:
    sandbox, url = leaky
    document = run(url, "export", "--name", "leak-*")
    folder = run(url, "export", "--name", "leak-*", "--out", str(tmp_path))
    for result in (document, folder):
        assert result.exit_code == 0, result.output
        assert_clean(result.stdout + result.stderr)
    for path in tmp_path.rglob("*.yaml"):
        assert_clean(path.read_text())
    listed = [("AUTHENTICATOR_SMS_LEAK_SMS_AUTH", "authenticator_sms/leak-sms", "auth"),
              ("AUTHENTICATOR_SMS_LEAK_SMS_AUTH_PASSWORD", "authenticator_sms/leak-sms", "auth_password")]
    assert variables(document) == variables(folder) == listed
    assert "    auth: {env: AUTHENTICATOR_SMS_LEAK_SMS_AUTH}\n" in document.stdout
    assert "    auth_password: {env: AUTHENTICATOR_SMS_LEAK_SMS_AUTH_PASSWORD}\n" in document.stdout
    assert document.stdout.startswith(
        f"# Exported by authentik-reconciler from authentik {NEWEST}: 4 stages.\n"
        "# Secrets the server returned are read from these variables; set them before planning:\n"
        "#   AUTHENTICATOR_SMS_LEAK_SMS_AUTH: authenticator_sms/leak-sms auth\n"
        "#   AUTHENTICATOR_SMS_LEAK_SMS_AUTH_PASSWORD: authenticator_sms/leak-sms auth_password\n"
        "stages:\n")
    assert "#   AUTHENTICATOR_SMS_LEAK_SMS_AUTH: authenticator_sms/leak-sms auth\n" in \
        (tmp_path / "stages" / "authenticator_sms.yaml").read_text()
    assert "AUTHENTICATOR_SMS" not in (tmp_path / "stages" / "captcha.yaml").read_text()
    # with the variables set, the export plans clean; without them, the plan names what is missing
    plan_is_clean(sandbox, url, tmp_path, listed)
    unset = run(url, "plan", str(tmp_path))
    assert unset.exit_code == 1 and "environment variable AUTHENTICATOR_SMS_LEAK_SMS_AUTH is not set" in unset.output


def test_write_only_fields_are_named_in_a_comment_not_exported(leaky: tuple[Sandbox, str]) -> None:
    sandbox, url = leaky
    document = run(url, "export", "--kind", "authenticator_duo", "--kind", "email").stdout
    assert """
stages:
  # Write-only, so not exported (authentik never returns them); to manage them, add:
  #   client_secret: {env: AUTHENTICATOR_DUO_LEAK_DUO_CLIENT_SECRET}
  #   admin_secret_key: {env: AUTHENTICATOR_DUO_LEAK_DUO_ADMIN_SECRET_KEY}
  - kind: authenticator_duo
    name: leak-duo
    client_id: DI0
    api_hostname: api.example

  # Write-only, so not exported (authentik never returns them); to manage them, add:
  #   password: {env: EMAIL_LEAK_EMAIL_PASSWORD}
  - kind: email
    name: leak-email
""" in document
    assert [line for line in document.splitlines() if "client_secret" in line or "password:" in line] == [
        "  #   client_secret: {env: AUTHENTICATOR_DUO_LEAK_DUO_CLIENT_SECRET}",
        "  #   password: {env: EMAIL_LEAK_EMAIL_PASSWORD}"]


def test_variable_names_are_told_apart_when_keys_differ_only_in_punctuation(tmp_path: Path) -> None:
    sandbox = Sandbox(api_version=NEWEST)
    connection = Connection(url="http://sandbox", token=sandbox.token, transport=sandbox.transport())
    stages = [{"kind": "authenticator_sms", "name": name, "provider": "twilio", "from_number": "+1",
               "account_sid": "AC0", "auth": {"env": "SMS_AUTH"}} for name in ("sms.a", "sms-a", "sms-b")]
    (tmp_path / "sms.yaml").write_text(yaml.safe_dump({"stages": stages}))
    reconciler.apply([tmp_path], connection, reconciler.PlanOptions(environ=SECRETS, keep_state=False))
    # sms-a and sms.a would share AUTHENTICATOR_SMS_SMS_A_AUTH: each gets a digest of its own key
    assert [(v.name, v.address) for v in exported(sandbox, kinds=("authenticator_sms",)).variables] == [
        ("AUTHENTICATOR_SMS_SMS_A_AUTH_8A0A50", "authenticator_sms/sms-a"),
        ("AUTHENTICATOR_SMS_SMS_B_AUTH", "authenticator_sms/sms-b"),
        ("AUTHENTICATOR_SMS_SMS_A_AUTH_FB4F5D", "authenticator_sms/sms.a")]


# -- the folder ------------------------------------------------------------------------------------
def test_a_folder_with_other_yaml_is_refused_unless_forced(seeded: Seeded, tmp_path: Path) -> None:
    _, url, _ = seeded
    (tmp_path / "mine.yaml").write_text("stages: []\n")
    refused = run(url, "export", "--out", str(tmp_path), "--kind", "identification")
    assert (refused.exit_code, refused.output) == (
        1, f"error: {tmp_path} holds YAML that is not an export of this tool (mine.yaml): export into an empty "
           "folder, or pass --force to write beside it\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]
    forced = run(url, "export", "--out", str(tmp_path), "--kind", "identification", "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "mine.yaml").read_text() == "stages: []\n"
    assert (tmp_path / "stages" / "identification.yaml").exists()


def test_a_whole_export_removes_the_files_of_objects_gone_and_never_an_edited_file(seeded: Seeded,
                                                                                  tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    call = calling(sandbox)
    flow = call("POST", "/flows/instances/", json={"name": "Gone", "slug": "gone-soon", "title": "G",
                                                   "designation": "authentication"}).json()
    assert run(url, "export", "--out", str(tmp_path)).exit_code == 0
    notes = tmp_path / "README.md"
    notes.write_text("hand-written\n")
    # A narrower selection writes its files and removes nothing.
    narrower = run(url, "export", "--out", str(tmp_path), "--kind", "identification")
    assert narrower.exit_code == 0, narrower.output
    assert (tmp_path / "flows" / "gone-soon.yaml").exists() and ", 0 removed." in narrower.stderr
    # A whole-server export after the flow was deleted on the server removes its file.
    assert call("DELETE", f"/flows/instances/{flow['slug']}/").status_code == 204
    whole = run(url, "export", "--out", str(tmp_path))
    assert whole.exit_code == 0, whole.output
    assert f"  removed {tmp_path}/flows/gone-soon.yaml (not in this export)" in whole.stderr
    assert not (tmp_path / "flows" / "gone-soon.yaml").exists() and notes.read_text() == "hand-written\n"
    # An exported file edited since is never replaced or removed without --force.
    edited = tmp_path / "stages" / "identification.yaml"
    edited.write_text(edited.read_text().replace("# content sha256", "# edited\n# content sha256"))
    refused = run(url, "export", "--out", str(tmp_path))
    assert refused.exit_code == 1
    assert refused.output == (f"error: {tmp_path} has files edited since they were exported "
                              "(stages/identification.yaml): commit or move them first, or pass --force to "
                              "replace them\n")
    assert "# edited" in edited.read_text()
    assert run(url, "export", "--out", str(tmp_path), "--force").exit_code == 0
    assert "# edited" not in edited.read_text()


def test_folder_errors_are_one_clear_message(seeded: Seeded, tmp_path: Path) -> None:
    _, url, _ = seeded
    (tmp_path / "file").write_text("x")
    not_a_folder = run(url, "export", "--out", str(tmp_path / "file"))
    assert not_a_folder.exit_code == 1
    unwritable = run(url, "export", "--out", str(tmp_path / "file" / "sub"), "--kind", "deny")
    assert (unwritable.exit_code, unwritable.output) == (
        1, f"error: cannot write {tmp_path}/file/sub/manifest-{seeded.sandbox.model.version}.schema.json: "
           "Not a directory\n")


def test_an_unreachable_server_or_a_refused_token_is_one_clear_error() -> None:
    unreachable = run("http://127.0.0.1:9", "export", env={"AUTHENTIK_RETRIES": "0"})  # no backoff to sleep
    assert unreachable.exit_code == 1
    [line] = unreachable.output.splitlines()
    assert line.startswith("error: cannot reach authentik at http://127.0.0.1:9")
    with served() as (_, url):
        refused = run(url, "export", env={"AUTHENTIK_TOKEN": "wrong"})
    assert (refused.exit_code, refused.output) == (
        1, "error: authentik refused the token (Token invalid/expired): check AUTHENTIK_TOKEN\n")


def test_the_python_api_returns_files_and_variables(leaky: tuple[Sandbox, str], tmp_path: Path) -> None:
    sandbox, _ = leaky
    export = exported(sandbox, names=("leak-*",))
    assert export.api_version == NEWEST
    assert [f.path for f in export.files] == ["stages/authenticator_duo.yaml", "stages/authenticator_sms.yaml",
                                              "stages/captcha.yaml", "stages/email.yaml"]
    [sms] = [f for f in export.files if f.path == "stages/authenticator_sms.yaml"]
    assert sms.variables == export.variables == (
        reconciler.Variable("AUTHENTICATOR_SMS_LEAK_SMS_AUTH", "authenticator_sms/leak-sms", "auth"),
        reconciler.Variable("AUTHENTICATOR_SMS_LEAK_SMS_AUTH_PASSWORD", "authenticator_sms/leak-sms",
                            "auth_password"))
    written = write_export(export, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written.written] == [
        f"manifest-{NEWEST}.schema.json", *[f.path for f in export.files]]
    with pytest.raises(ReconcilerError, match="unknown kind 'nope'"):
        exported(sandbox, kinds=("nope",))
    assert {"export", "ExportOptions", "Export", "write_export"} <= set(reconciler.__all__)


@pytest.mark.parametrize("value", ["0o17", "-.5", "1e3", ".inf", "12", "null", "True", "a\x85b", "x\u2028y",
                                   "yes", "multi\nline\n", "plain"])
def test_exported_text_reads_back_the_same_in_yaml_1_1_and_is_quoted_where_1_2_would_retype(value: str) -> None:
    from reconciler.exporting.emitter import entry_text

    text = entry_text("stages", {"name": value}, {})
    assert yaml.safe_load(f"stages:\n{text}\n")["stages"][0]["name"] == value
    if value not in ("plain", "multi\nline\n"):
        assert f"name: {value}" not in text  # never plain, where an editor's YAML 1.2 reads a number


def test_flow_files_never_collide_on_a_case_insensitive_disk(seeded: Seeded, tmp_path: Path) -> None:
    sandbox, url, _ = seeded
    call = calling(sandbox)
    for slug in ("Case-Flow", "case-flow"):
        assert call("POST", "/flows/instances/", json={"name": slug, "slug": slug, "title": "T",
                                                       "designation": "authentication"}).status_code == 201
    try:
        assert run(url, "export", "--out", str(tmp_path), "--kind", "flow", "--name", "?ase-?low").exit_code == 0
        names = sorted(p.name.casefold() for p in (tmp_path / "flows").iterdir())
        assert len(names) == len(set(names)) == 2 and all(n.startswith("case-flow-") for n in names)
    finally:
        for slug in ("Case-Flow", "case-flow"):
            call("DELETE", f"/flows/instances/{slug}/")
