"""Export: live objects written as manifests that validate and plan back to no changes, so a server
configured by hand goes into git without retyping it or hunting UUIDs.

Objects are named by natural key and references by the key of what they point at; fields equal to
the server's default are left out (the plan leaves unwritten fields alone, so nothing is lost);
secrets the server returns in clear become `{env: VAR}` placeholders, never values; flows carry
every binding, so their sets are managed exactly. The layout and order are stable: exporting an
unchanged server twice gives the same bytes. Nothing here prints; `folder.write_export` writes folders."""
from __future__ import annotations

import difflib
import fnmatch
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.errors import ReconcilerError
from reconciler.exporting.emitter import Env, Inline, comment_safe, entry_text
from reconciler.manifests.compiled import is_uuid
from reconciler.model.defaults import fresh_object, is_default
from reconciler.model.identity import address
from reconciler.model.kinds import ApiModel, Field, Kind, Nested
from reconciler.model.live import LiveState, paths_for_kinds, paths_for_targets
from reconciler.planning import pipeline
from reconciler.planning.diff import comparable
from reconciler.server.client import Client
from reconciler.values import JsonObject, Key, Value, display_key

__all__ = ["Export", "ExportFile", "ExportOptions", "Variable", "MARK", "select_kinds", "export_paths",
           "export_live", "make_export", "variable_name", "schema_file"]

MARK = "# Exported by authentik-reconciler"
"""How a file says the tool wrote it (and may rewrite or remove it on the next export)."""


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What to export. `kinds` (manifest kinds such as `expression`, or model kinds such as
    `expression_policy`; a nested kind selects its flows), `families` (sections) and `names` (globs
    on the natural key) combine: kinds and families add up, names narrow them. Nothing selected:
    everything."""

    api_version: str | None = None
    kinds: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    all_fields: bool = False
    exclude_defaults: bool = False
    progress: Callable[[str], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Variable:
    """An environment variable an exported manifest reads a secret from, and what it stands for
    (never its value): the server returned the secret in clear, so the export names a variable."""

    name: str
    address: str
    field: str


@dataclass(frozen=True)
class ExportFile:
    """One file of the folder layout: `stages/<kind>.yaml`, `policies/<kind>.yaml`, `flows/<slug>.yaml`."""

    path: str
    text: str
    variables: tuple[Variable, ...]


@dataclass(frozen=True)
class Export:
    """An export in both layouts: `files` for a folder, `document` for one stream (stdout), and the
    variables both read."""

    api_version: str
    files: tuple[ExportFile, ...]
    document: str
    variables: tuple[Variable, ...]
    addresses: tuple[str, ...]
    complete: bool = True
    """Nothing was selected out: the export is the whole server, so a folder of an earlier export
    loses the files this one does not produce."""

    @property
    def schema_file(self) -> str:
        return schema_file(self.api_version)


def schema_file(version: str) -> str:
    """The name of the manifest schema an exported folder carries and its files point at."""
    return f"manifest-{version}.schema.json"


# -- selection -----------------------------------------------------------------------------------
def _top(model: ApiModel, kind: Kind) -> Kind:
    """The kind written at the top of a manifest that holds `kind` (a binding: the flow)."""
    parents = model.parents_of(kind)
    return _top(model, parents[0][0]) if parents else kind


def _kind_named(model: ApiModel, written: str) -> Kind:
    """A model kind id wins (`password` is the stage kind; the policy is `password_policy`), then a
    section's manifest kind (`expression`)."""
    if written in model.kinds:
        return _top(model, model.kinds[written])
    found = [kind for section in model.sections if (kind := model.kind_in(section, written))]
    if len(found) == 1:
        return found[0]
    choices = sorted(set(model.kinds) | {k for kinds in model.sections.values() for k in kinds})
    close = difflib.get_close_matches(written, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ReconcilerError(f"unknown kind {written!r} for authentik {model.version}{hint}")


def select_kinds(model: ApiModel, kinds: tuple[str, ...] = (), families: tuple[str, ...] = ()) -> list[Kind]:
    """The kinds written at the top of a manifest that the selection names, in export order. Kinds
    of data (users) only when named: a default export is the configuration."""
    top = [model.kinds[name] for kinds in model.sections.values()
           for name in sorted(kinds.values(), key=lambda n: model.kinds[n].manifest_kind)]
    if not kinds and not families:
        return [kind for kind in top if not kind.opt_in]
    chosen: set[str] = set()
    for family in families:
        if family not in model.sections:
            names = list(model.sections)
            raise ReconcilerError(f"unknown family {family!r} (expected {', '.join(names[:-1])} or {names[-1]})")
        chosen.update(model.sections[family].values())
    chosen.update(_kind_named(model, written).name for written in kinds)
    return [kind for kind in top if kind.name in chosen]


def _with_nested(model: ApiModel, kinds: list[Kind]) -> list[Kind]:
    found: list[Kind] = []
    pending = list(kinds)
    while pending:
        kind = pending.pop(0)
        if kind not in found:
            found.append(kind)
            pending += [model.kinds[nested.kind] for nested in kind.nested.values()]
    return found


def export_paths(model: ApiModel, kinds: list[Kind]) -> set[str]:
    """The lists an export reads: the kinds, the kinds nested in them, and every target their
    references point at (to name them)."""
    every = _with_nested(model, kinds)
    targets = {spec.reference for kind in every for spec in kind.fields.values() if spec.reference}
    return paths_for_kinds(model, every) | paths_for_targets(model, targets)


# -- objects as manifest entries -------------------------------------------------------------------
@dataclass
class _Entry:
    kind: Kind
    key: str
    address: str
    data: JsonObject
    comments: list[str]
    secrets: list[Env]


def _variable_base(kind: Kind, key: str, field_name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"{kind.name}_{key}_{field_name}".upper()).strip("_")


def variable_name(kind: Kind, key: str, field_name: str, taken: Counter[str] | None = None) -> str:
    """`AUTHENTICATOR_SMS_LOGIN_SMS_AUTH`: kind, key and field, upper case, `_` for the rest. Keys
    that differ only in case or punctuation would share a name: then each gets a short digest of
    its exact kind, key and field, so the names stay stable from one export to the next."""
    base = _variable_base(kind, key, field_name)
    if taken is not None and taken[base] > 1:
        digest = hashlib.sha256(f"{kind.name}\0{key}\0{field_name}".encode()).hexdigest()[:6].upper()
        return f"{base}_{digest}"
    return base


def _sortable(value: Value) -> tuple[bool, float, str]:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return not number, float(value) if number else 0.0, "" if number else str(value)


def _sorted_json(value: Value) -> Value:
    """A JSON field's value with its mappings' keys sorted: the server keeps no order for them."""
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_json(item) for item in value]
    return value


class _Exporter:
    """Turns live objects into manifest entries, one kind's rules at a time."""

    def __init__(self, live: LiveState, options: ExportOptions) -> None:
        self.live = live
        self.model = live.model
        self.options = options

    def name_of(self, target: str, ident: Value) -> tuple[str | None, str]:
        """The natural key a reference is written with, if the tool can name its object (a key of
        one text part that no other object of the target shares), else why not."""
        ref = self.live.ref_of(target, ident)
        if ref.key is None or len(ref.key) != 1 or not isinstance(ref.key[0], str) or not ref.key[0]:
            return None, f"no {target} the tool lists has it"
        if len(self.live.ids_of(target, ref.key)) > 1:
            return None, f"another {target} has the same {'+'.join(self.model.key_fields(target))}"
        return ref.key[0], ""

    def reference(self, spec: Field, ident: Value, notes: list[str]) -> Value:
        target = str(spec.reference)
        name, why = self.name_of(target, ident)
        if name is None:
            notes.append(f"{spec.name}: {comment_safe(str(ident))} is written as its id: {why}")
            return ident
        if spec.plain and not is_uuid(name):  # `provider: NAME` (a name like a UUID would read as an id)
            return name
        return Inline({target: name})

    def value(self, spec: Field, raw: Value, notes: list[str]) -> Value:
        if spec.reference and raw is not None:
            if isinstance(raw, list):
                said: list[str] = []
                named = [(ident, self.reference(spec, ident, said)) for ident in raw]
                notes += sorted(said)
                # the server keeps reference lists as sets: names first, ids after, each sorted
                return [item for _, item in sorted(named, key=lambda pair: _list_order(*pair))]
            return self.reference(spec, raw, notes)
        if spec.type == "object":
            return _sorted_json(raw)
        return raw

    def fields(self, kind: Kind, obj: JsonObject, entry: _Entry, skip: set[str]) -> None:
        """Every writable field the server returned, in the model's order, except those equal to
        the server's default (unless `all_fields`) and write-only ones (never returned)."""
        write_only: list[str] = []
        for name in _field_order(kind):
            spec = kind.fields[name]
            if name in skip or name in kind.key or name in kind.mirrored:  # mirrored: written from the other side
                continue
            if spec.write_only:
                write_only.append(name)
            elif name in obj and not self.left_out(kind, spec, name, obj[name]):
                self.write_field(kind, spec, name, obj[name], entry)
        _note_write_only(kind, entry, write_only)

    def left_out(self, kind: Kind, spec: Field, name: str, raw: Value) -> bool:
        """A returned value the manifest need not write: the server's default (unless
        `all_fields`), or a null the manifest could not write."""
        if not self.options.all_fields and name in kind.defaults \
                and comparable(spec, raw) == comparable(spec, kind.defaults[name]):
            return True
        return raw is None and not spec.nullable  # the server's "nothing" for a field a manifest cannot write as null

    def write_field(self, kind: Kind, spec: Field, name: str, raw: Value, entry: _Entry) -> None:
        """Write one field's value into `entry`, a secret as a placeholder (the variable holds the
        text, or for a mapping such as a kubeconfig, its YAML or JSON)."""
        if spec.sensitive and raw not in (None, "", {}):
            secret = Env(entry.address, name, _variable_base(kind, entry.key, name))
            entry.secrets.append(secret)
            entry.data[name] = secret
            return
        entry.data[name] = self.value(spec, raw, entry.comments)

    def entry(self, kind: Kind, obj: JsonObject, key: Key, default: bool) -> _Entry:
        """The manifest entry of a live object with natural key `key` (`default`: a fresh install
        has it)."""
        entry = _Entry(kind, display_key(key), address(kind, key), {}, [], [])
        if default:
            entry.comments.append("Default: a fresh authentik install has it (authentik's blueprints make it).")
        if kind.section is not None and len(self.model.sections[kind.section]) > 1:
            entry.data["kind"] = kind.manifest_kind
        for name in kind.key:
            if obj.get(name) not in (None, "") or name not in kind.key_fallback:  # else known by its stand-in
                entry.data[name] = obj.get(name)
        self.fields(kind, obj, entry, set())
        self.nested(kind, obj, entry, entry.data, "")
        return entry

    def nested(self, kind: Kind, obj: JsonObject, entry: _Entry, data: JsonObject, where: str) -> None:
        """The lists written inside an entry (a flow's bindings, a binding's policies), each whole:
        a listed set is managed exactly, so leaving one member out would plan its delete. A set
        that cannot be written whole is left out (unmanaged), saying why."""
        for list_name, nested in kind.nested.items():
            child_kind = self.model.kinds[nested.kind]
            children = self.live.children(child_kind, nested.parent, obj[kind.id_field])
            rows: list[tuple[Value, ...]] = []
            problem = ""
            for child in children:
                written, own, problem = self.child_key(child_kind, nested, child)
                if problem:
                    break
                self.fields(child_kind, child, _Entry(child_kind, entry.key, entry.address, written, entry.comments,
                                                      entry.secrets), {nested.parent})
                self.nested(child_kind, child, entry, written, f"{where}{list_name} {comment_safe(' '.join(own))}: ")
                which = child.get(child_kind.disambiguator) if child_kind.disambiguator else None
                rows.append((_sortable(which), own, str(child.get(child_kind.id_field)), written))
            if problem:
                entry.comments.append(f"{where}{list_name}: not exported, so left unmanaged: {problem}")
                continue
            data[list_name] = [row[3] for row in sorted(rows, key=lambda row: row[:3])]

    def child_key(self, child_kind: Kind, nested: Nested,
                  child: JsonObject) -> tuple[JsonObject, list[str], str]:
        """A nested object's key fields but its parent, written by name (and as `name:value` parts
        that sort and label it), or why one cannot be named."""
        written: JsonObject = {}
        own: list[str] = []
        for name in child_kind.key:
            if name == nested.parent or child.get(name) is None:
                continue
            spec = child_kind.fields[name]
            named, why = self.name_of(str(spec.reference), child[name]) if spec.reference else (child[name], "")
            if named is None:
                return written, own, f"the {name} {comment_safe(str(child[name]))} cannot be named ({why})"
            written[nested.keys.get(name, name)] = named
            own.append(f"{name}:{named}")
        return written, own, ""


def _field_order(kind: Kind) -> list[str]:
    """The model's order of fields, the disambiguator first (a binding's `order`)."""
    first = [kind.disambiguator] if kind.disambiguator and kind.disambiguator in kind.fields else []
    return [*first, *(n for n in kind.fields if n not in first)]


def _note_write_only(kind: Kind, entry: _Entry, write_only: list[str]) -> None:
    """Say in the entry's comments which fields it leaves out, and how to manage them."""
    if write_only:
        entry.comments.append("Write-only, so not exported (authentik never returns them); to manage them, add:")
        entry.comments += [f"  {name}: {{env: {variable_name(kind, entry.key, name)}}}" for name in write_only]


def _names(entries: list[_Entry]) -> dict[tuple[str, str], str]:
    """The variable of each secret placeholder, told apart when two would share a name."""
    taken = Counter(secret.base for entry in entries for secret in entry.secrets)
    return {(secret.address, secret.field): variable_name(entry.kind, entry.key, secret.field, taken)
            for entry in entries for secret in entry.secrets}


def _header(version: str, what: str, variables: list[Variable], schema: str | None) -> list[str]:
    lines = [f"# yaml-language-server: $schema={schema}"] if schema else []
    lines.append(f"{MARK} from authentik {version}: {what}.")
    if schema:
        lines.append("# Exporting again into this folder rewrites this file, or removes it when nothing is left in it.")
    if variables:
        lines.append("# Secrets the server returned are read from these variables; set them before planning:")
        lines += [f"#   {v.name}: {comment_safe(v.address)} {v.field}" for v in variables]
    return lines


def _text(version: str, what: str, sections: list[tuple[str, list[_Entry]]], names: dict[tuple[str, str], str],
          schema: str | None, rendered: dict[int, str]) -> tuple[str, tuple[Variable, ...]]:
    """A file (or the one document): the header, then each section's entries as `rendered` holds
    them (each entry is turned into YAML once, for its file and for the document)."""
    variables = [Variable(names[s.address, s.field], s.address, s.field)
                 for _, entries in sections for entry in entries for s in entry.secrets]
    lines = _header(version, what, variables, schema)
    for section, entries in sections:
        lines.append(f"{section}:")
        for index, entry in enumerate(entries):
            if index:
                lines.append("")
            lines += [f"  # {comment}" for comment in entry.comments]
            lines.append(rendered[id(entry)])
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n", tuple(variables)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def export_live(live: LiveState, kinds: list[Kind], options: ExportOptions) -> Export:
    """The export of `kinds` from live state (pure: no I/O)."""
    model = live.model
    entries = _entries(live, kinds, options)
    names = _names(entries)
    rendered = {id(entry): entry_text(str(entry.kind.section), entry.data, names, singleton=entry.kind.singleton)
                for entry in entries}
    files = [file for kind in kinds for file in _kind_files(model, kind, entries, names, rendered)]
    paths = Counter(file.path for file in files)
    if clashes := sorted(path for path, count in paths.items() if count > 1):  # a folder written from a dict
        raise ReconcilerError(f"the export would write two files at {', '.join(clashes)}: nothing is written")
    document, variables = _document(model, entries, names, rendered)
    return Export(api_version=model.version, files=tuple(sorted(files, key=lambda f: f.path)), document=document,
                  variables=variables, addresses=tuple(e.address for e in entries),
                  complete=not (options.kinds or options.families or options.names))


def _entries(live: LiveState, kinds: list[Kind], options: ExportOptions) -> list[_Entry]:
    """The entries of the live objects of `kinds` the options select, in export order: by section,
    manifest kind and key."""
    model = live.model
    exporter = _Exporter(live, options)
    entries: list[_Entry] = []
    for kind in kinds:
        for obj in live.objects(kind):
            key = live.key_of(kind, obj)
            text = display_key(key)
            if options.names and not any(fnmatch.fnmatchcase(text, glob) for glob in options.names):
                continue
            default = is_default(model, kind, key)
            if options.exclude_defaults and default:
                continue
            entry = exporter.entry(kind, obj, key, default and not kind.singleton)
            if kind.singleton and not entry.data:
                continue  # the settings as a fresh install has them: nothing to manage
            if default and not kind.export_unchanged_defaults and _as_installed(live, options, kind, key, entry):
                continue
            entries.append(entry)
    order = list(model.sections)
    entries.sort(key=lambda e: (order.index(str(e.kind.section)), e.kind.manifest_kind, e.key))
    return entries


def _list_order(ident: Value, item: Value) -> tuple[int, str]:
    """Where an exported reference goes in its list: by name, those written as ids last."""
    if isinstance(item, Inline):
        return 0, str(next(iter(item.values())))
    return (1, str(item)) if item == ident else (0, str(item))


def _as_installed(live: LiveState, options: ExportOptions, kind: Kind, key: Key, entry: _Entry) -> bool:
    """Whether a default object is exactly as a fresh install has it (then export leaves it out)."""
    fresh = fresh_object(live.model, kind, key)
    if fresh is None:
        return False
    obj, install = fresh
    return _Exporter(install, options).entry(kind, obj, key, True).data == entry.data


def _kind_files(model: ApiModel, kind: Kind, entries: list[_Entry], names: dict[tuple[str, str], str],
                rendered: dict[int, str]) -> list[ExportFile]:
    """The files of one kind: one per object when it nests lists (a flow and its bindings), else
    one for all its objects (none when it has none)."""
    schema = f"../{schema_file(model.version)}"
    mine = [e for e in entries if e.kind is kind]
    section = str(kind.section)
    if kind.nested:  # one file per object: a flow and its bindings
        file_names = _file_names([entry.key for entry in mine])
        # beside other kinds' `<kind>.yaml` files, named by kind too: a key may be another kind's name
        prefix = f"{kind.manifest_kind}-" if len(model.sections[section]) > 1 else ""
        files: list[ExportFile] = []
        for entry in mine:
            what = f"the {model.section_nouns[section][0]} {entry.key} with its {next(iter(kind.nested))}"
            text, variables = _text(model.version, what, [(section, [entry])], names, schema, rendered)
            files.append(ExportFile(f"{section}/{prefix}{file_names[entry.key]}.yaml", text, variables))
        return files
    if not mine:
        return []
    text, variables = _text(model.version, f"{section} of kind {kind.manifest_kind}", [(section, mine)],
                            names, schema, rendered)
    return [ExportFile(f"{section}/{kind.manifest_kind}.yaml", text, variables)]


def _document(model: ApiModel, entries: list[_Entry], names: dict[tuple[str, str], str],
              rendered: dict[int, str]) -> tuple[str, tuple[Variable, ...]]:
    """The one document (stdout) of every entry, by section, said in its header by count."""
    sections = [(section, [e for e in entries if e.kind.section == section]) for section in model.sections]
    sections = [(section, members) for section, members in sections if members]
    counts = Counter(str(e.kind.section) for e in entries)
    what = ", ".join(_count(counts[s], *model.section_nouns[s]) for s in model.sections if counts[s]) or "no objects"
    return _text(model.version, what, sections, names, None, rendered)


def _file_name(slug: str) -> str:
    """A flow's slug as a file name (slugs are `[-a-zA-Z0-9_]+`; anything else becomes `_`)."""
    return re.sub(r"[^-a-zA-Z0-9_]", "_", slug) or "_"


def _file_names(slugs: list[str]) -> dict[str, str]:
    """File names for flows: slugs are case-sensitive, file systems often are not (`Login` and
    `login`), so names that collide without case get a short digest of their slug."""
    plain = {slug: _file_name(slug) for slug in slugs}
    folded = Counter(name.casefold() for name in plain.values())
    return {slug: name if folded[name.casefold()] == 1 else f"{name}-{hashlib.sha256(slug.encode()).hexdigest()[:6]}"
            for slug, name in plain.items()}


async def make_export(client: Client, options: ExportOptions) -> Export:
    """Read what the selection needs, one list call per path, and export it."""
    model = pipeline.model_for(await client.version(), options.api_version)
    kinds = select_kinds(model, options.kinds, options.families)
    live = await pipeline.fetch(client, model, export_paths(model, kinds), options.progress)
    return export_live(live, kinds, options)

