"""The diff: desired objects against the live objects they were matched to, field by field. Pure:
no I/O, so it is tested with plain data."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reconciler.errors import Problem
from reconciler.manifests.desired import DesiredObject
from reconciler.model.identity import address
from reconciler.model.kinds import ApiModel, Companion, Field, Kind
from reconciler.model.live import LiveState
from reconciler.planning.changes import UNKNOWN, Change, Create, Delete, FieldChange, Replace, SentAlong, Update
from reconciler.planning.matching import Matching, described_parent
from reconciler.planning.refs import live_value
from reconciler.state import StateFile
from reconciler.values import IdKey, JsonObject, Ref, Secret, Value, refs_in

__all__ = ["diff", "DiffResult", "comparable"]


@dataclass(frozen=True)
class DiffResult:
    changes: list[Change]
    unchanged: int
    problems: list[Problem]


def comparable(spec: Field, value: Value) -> Value:
    """A value as the server would store it, so equal configurations compare equal: secrets by
    value, references by natural key, reference lists and the model's sets (a role's
    permissions) as sets (the server keeps no order for them; it does keep the order of plain
    lists such as `user_fields`, recordings 19, 20), and null and "" alike for strings."""
    if isinstance(value, Secret):
        return comparable(spec, value.reveal())
    if isinstance(value, Ref):
        return ("ref", value.target, value.key if value.key is not None else value.pk)
    if isinstance(value, list):
        items = [comparable(spec, v) for v in value]
        return tuple(sorted(items, key=repr)) if spec.reference or spec.spec.get("set") else tuple(items)
    if value is None and spec.type == "string" and not spec.reference:
        return ""
    if isinstance(value, str) and spec.spec.get("format") == "date-time":
        return _instant(value)
    if isinstance(value, str):
        # DRF trims surrounding whitespace of every string it stores (`deny_message: |` ends in "\n").
        return value.strip()
    return value


def _instant(text: str) -> Value:
    """A date-time as the moment it names: the server answers in UTC what was sent with an offset."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text.strip()
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _depends(body: Value) -> frozenset[str]:
    """Objects of the manifests this body points at that do not exist yet (apply fills their ids)."""
    return frozenset(ref.address for ref in refs_in(body) if ref.pk is None and ref.address)


class _Differ:
    def __init__(self, matching: Matching, live: LiveState, model: ApiModel, secrets: StateFile,
                 resend: bool, ignore: frozenset[str]) -> None:
        self.matching = matching
        self.live = live
        self.model = model
        self.secrets = secrets
        self.resend = resend
        self.ignore = ignore
        self.problems: list[Problem] = []
        # Built once: every delete asks it (a prune of thousands stays linear).
        self.deleted = {id(o.live) for o in matching.orphans if o.managed}

    def change(self, obj: DesiredObject, current: JsonObject | None) -> Change | None:
        kind = self.model.kinds[obj.kind]
        if obj.state == "absent":
            return self.delete(kind, obj.address, current, obj) if current is not None else None
        if current is None:
            return self.create(kind, obj)
        ignored = self.ignore | obj.ignore_changes
        field_changes = list(self.field_changes(obj, kind, current, ignored))
        if not field_changes:
            return None
        common: JsonObject = dict(kind=obj.kind, address=obj.address, key=obj.key, path=kind.detail_path(current),
                                      id=None if kind.singleton else current[kind.id_field],  # no id: its path
                                      fields=tuple(field_changes),
                                      notes=own_call_notes(kind, [c.field for c in field_changes]))
        if obj.update == "put":
            full, problem = self.full_body(obj, kind, current, ignored)
            if problem:
                self.problems.append(problem)
                return None
            common["notes"] += put_notes(kind, full, current)
            return Replace(**common, full=full, depends_on=_depends(full))
        body = {c.field: c.after for c in field_changes}
        companions = companions_for(kind, body, current, self.live)
        return Update(**common, companions=companions,
                      depends_on=_depends([*body.values(), *(c.value for c in companions)]))

    def create(self, kind: Kind, obj: DesiredObject) -> Change | None:
        if obj.generate is not None and kind.generate is not None:
            return generated(kind, obj, kind.generate)
        missing = [f for f in (*kind.required, *kind.no_default) if f not in obj.fields]
        if missing:
            self.problems.append(Problem(obj.file, *obj.position(), f"cannot create: missing required "
                                         f"field{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                         "(the object does not exist yet)", obj.address))
            return None
        fields = tuple(FieldChange(name, None, value, kind.fields[name].sensitive or isinstance(value, Secret))
                       for name, value in obj.fields.items())
        companions = companions_for(kind, dict(obj.fields), None, self.live)
        return Create(kind=obj.kind, address=obj.address, key=obj.key, path=kind.path, fields=fields,
                      companions=companions, depends_on=_depends(obj.fields),
                      notes=own_call_notes(kind, list(obj.fields)))

    def delete(self, kind: Kind, address: str, current: JsonObject, obj: DesiredObject | None,
               reason: str = "") -> Delete | None:
        """A DELETE, unless authentik would take with it an object the manifests keep (deleting a
        stage deletes its bindings, FINDINGS flows 119-121): then a problem naming that object."""
        kept, cascaded = self.cascade(kind, current)
        if kept:
            where = obj or kept[0][1]  # the entry asking for the delete, else the one it would harm
            self.problems.append(Problem(where.file, *where.position(), f"cannot delete {address}: authentik "
                                         f"would delete {', '.join(text for text, _ in kept)} with it, which the "
                                         "manifests keep; remove those first", where.address))
            return None
        notes: tuple[str, ...] = (reason,) if reason else ()
        if cascaded:
            notes += (f"authentik also deletes {', '.join(cascaded)}",)
        takes = tuple(sorted((ident for ident, _, _ in self.live.cascade_ids(kind, current)),
                             key=lambda taken: (taken.scope, str(taken.id))))
        return Delete(kind=kind.name, address=address, key=self.live.key_of(kind, current),
                      path=kind.detail_path(current), id=current[kind.id_field], notes=notes, takes=takes)

    def cascade(self, kind: Kind, current: JsonObject) -> tuple[list[tuple[str, DesiredObject]], list[str]]:
        """Live objects deleting `current` deletes too, all the way down (a stage, its bindings,
        their policy bindings): those the manifests keep (described, or in a flow the manifests
        describe), with the entry that keeps them, and the others."""
        kept: list[tuple[str, DesiredObject]] = []
        cascaded: list[str] = []

        def sort(other: Kind, dependent: JsonObject) -> bool:
            desired = self.matching.desired_of(dependent)
            if desired is not None and desired.state == "present":
                kept.append((desired.address, desired))
                return False
            if desired is not None or id(dependent) in self.deleted:
                return False  # deleted by a change of its own, which says what goes with it
            shown = address(other, self.live.key_of(other, dependent))
            owner = described_parent(other, dependent, self.live, self.model, self.matching)
            if owner is not None:
                kept.append((f"{shown} (in {owner.address}, which the manifests describe)", owner))
            else:
                cascaded.append(shown)
            return True

        self.live.cascade(kind, current, sort)
        return kept, cascaded

    def field_changes(self, obj: DesiredObject, kind: Kind, current: JsonObject,
                      ignored: frozenset[str]) -> Iterator[FieldChange]:
        for name, wanted in obj.fields.items():
            if name in ignored or name in kind.key:
                continue
            spec = kind.fields[name]
            if spec.write_only:
                yield from self.write_only_change(obj, current[kind.id_field], spec, wanted)
                continue
            before = live_value(spec, current.get(name), self.live)
            if comparable(spec, wanted) != comparable(spec, before):
                # A value from {env}/{file} is sensitive whatever the field: so is what it replaces.
                sensitive = spec.sensitive or isinstance(wanted, Secret)
                details = nested_changes(name, before, wanted) if spec.type == "object" and not sensitive else ()
                yield FieldChange(name, before, wanted, sensitive, details=details)

    def write_only_change(self, obj: DesiredObject, pk: Value, spec: Field, wanted: Value) -> Iterator[FieldChange]:
        """Write-only values are compared by fingerprint: the server never returns them."""
        value = wanted.reveal() if isinstance(wanted, Secret) else wanted
        note = "resent (--resend-secrets)" if self.resend else self.secrets.check(obj.address, str(pk), spec.name,
                                                                                   value)
        if note is not None:
            yield FieldChange(spec.name, UNKNOWN, wanted, True, note)

    def full_body(self, obj: DesiredObject, kind: Kind, current: JsonObject,
                  ignored: frozenset[str]) -> tuple[JsonObject, Problem | None]:
        """Every writable field for a PUT: the manifest's values over the live ones. A required
        write-only field must come from the manifest (Duo PUT without client_secret: 400, rec. 39)."""
        full: JsonObject = {}
        for name, spec in kind.fields.items():
            if name in obj.fields and name not in ignored:
                full[name] = obj.fields[name]
            elif not spec.write_only and name in current:
                full[name] = live_value(spec, current[name], self.live)
        for name in left_out_of_put(kind, full, current, self.live):
            del full[name]
        missing = [name for name in kind.required if name not in full]
        if missing:
            return full, Problem(obj.file, *obj.position(), f"cannot replace with PUT: {', '.join(missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} required by PUT and write-only, so the "
                                 "live value is unknown; set it in the manifest (e.g. {env: VAR}) or use "
                                 "update: patch", obj.address)
        return full, None


def left_out_of_put(kind: Kind, full: JsonObject, current: JsonObject, live: LiveState) -> list[str]:
    """The fields of the kind's `put_leaves_out` rules that a PUT's body holds at their live value:
    the server keeps a field a PUT leaves out (directory 318), and some refuse the live value in a
    body (2026 refuses an LDAP source's default `sync_users: true` beside its empty mappings, 314)."""
    def unchanged(name: str) -> bool:
        spec = kind.fields[name]
        return bool(comparable(spec, full[name]) == comparable(spec, live_value(spec, current.get(name), live)))

    return [name for rule in kind.companions if rule.rule == "put_leaves_out" for name in rule.fields
            if name in full and name in kind.fields and unchanged(name)]


def put_notes(kind: Kind, full: JsonObject, current: JsonObject) -> tuple[str, ...]:
    """What the plan says of the fields a PUT leaves out (`left_out_of_put`), with the rule's why."""
    return tuple(f"PUT leaves out {', '.join(names)} unchanged: {rule.why}" for rule in kind.companions
                 if rule.rule == "put_leaves_out"
                 and (names := [n for n in rule.fields if n in kind.fields and n in current and n not in full]))


def generated(kind: Kind, obj: DesiredObject, generate: JsonObject) -> Create:
    """A create that asks authentik to generate the object (a key pair named by its common name,
    apps 26): the key goes in the action's key parameter, the entry's `generate` in the others."""
    key_field = str(generate["key_field"])
    fields = (FieldChange(key_field, None, obj.fields[kind.key[0]], False),
              *(FieldChange(name, None, value, False) for name, value in (obj.generate or {}).items()))
    return Create(kind=obj.kind, address=obj.address, key=obj.key, path=str(generate["path"]), fields=fields)


def nested_changes(name: str, before: Value, after: Value) -> tuple[str, ...]:
    """What changed inside a JSON field (an invitation's `fixed_data`), path by path, so a plan
    of a large mapping shows the one key that moved rather than two whole mappings."""
    if not isinstance(before, dict | list) or not isinstance(after, dict | list):
        return ()
    from deepdiff import DeepDiff  # imported when needed: it costs a tenth of a second

    def shown(value: Value) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    found = DeepDiff(before, after, verbose_level=2).to_dict()
    lines: list[tuple[str, str]] = []
    for path, change in found.get("values_changed", {}).items():
        lines.append((path, f"{shown(change['old_value'])} -> {shown(change['new_value'])}"))
    for path, change in found.get("type_changes", {}).items():
        lines.append((path, f"{shown(change['old_value'])} -> {shown(change['new_value'])}"))
    for group, sign in (("dictionary_item_added", "+"), ("iterable_item_added", "+"),
                        ("dictionary_item_removed", "-"), ("iterable_item_removed", "-")):
        lines += [(path, f"{sign} {shown(value)}") for path, value in found.get(group, {}).items()]
    return tuple(f"{name}{path[len('root'):]}: {text}" for path, text in sorted(lines))


def own_call_notes(kind: Kind, names: list[str]) -> tuple[str, ...]:
    """What the plan says of fields set by calls of their own rather than in the object's body (a
    user's password, a role's permissions), so the method shown is not taken for the only call."""
    notes = []
    for name in names:
        action = kind.fields[name].action if name in kind.fields else None
        if action is None:
            continue
        if "add" in action:
            add, remove = action["add"], action["remove"]
            notes.append(f"{name}: additions by {add['method']} /api/v3{add['path']}, removals by "
                         f"{remove['method']} /api/v3{remove['path']}, not in the object's body")
        else:
            notes.append(f"{name}: set by {action['method']} /api/v3{kind.path}{{{kind.url_field}}}/{action['path']}"
                         " after the write, not in the object's body")
    return tuple(notes)


def _truthy(value: Value) -> bool:
    if isinstance(value, Secret):
        value = value.reveal()
    return value is not None and value is not False and value != [] and value != ""


def companions_for(kind: Kind, body: JsonObject, current: JsonObject | None,
                   live: LiveState) -> tuple[SentAlong, ...]:
    """Unchanged fields a write must carry to be accepted, by the kind's rules (the model's
    `companions`, each with the recordings that show it); `current` is None for a create, where
    the server's defaults stand in for live values."""

    def value_of(name: str) -> Value:
        if current is None:
            return kind.defaults.get(name)
        return live_value(kind.fields[name], current.get(name), live)

    creating = current is None
    return tuple(sent for rule in kind.companions
                 for sent in _COMPANION_RULES.get(rule.rule, _no_rule)(rule, body, creating, value_of))


_CompanionRule = Callable[[Companion, JsonObject, bool, Callable[[str], Value]], list[SentAlong]]
"""What one kind of companion rule sends along with `body` (`creating`: a create; `value_of`: a
field's live value, or its default on a create)."""


def _always(rule: Companion, body: JsonObject, creating: bool, value_of: Callable[[str], Value]) -> list[SentAlong]:
    """An update carries the rule's fields whatever it changes."""
    if creating:
        return []
    return [SentAlong(name, value_of(name), rule.why) for name in rule.fields if name not in body]


def _one_truthy(rule: Companion, body: JsonObject, creating: bool,
                value_of: Callable[[str], Value]) -> list[SentAlong]:
    """A write that holds none of the fields with a value carries the first one that has one."""
    if any(_truthy(body.get(name)) for name in rule.fields):
        return []
    name = next((name for name in rule.fields if name not in body and _truthy(value_of(name))), None)
    return [] if name is None else [SentAlong(name, value_of(name), rule.why)]


def _together(rule: Companion, body: JsonObject, creating: bool,
              value_of: Callable[[str], Value]) -> list[SentAlong]:
    """An update that holds one of the fields carries the others."""
    if creating or not any(name in body for name in rule.fields):
        return []
    return [SentAlong(name, value_of(name), rule.why) for name in rule.fields if name not in body]


def _no_rule(rule: Companion, body: JsonObject, creating: bool, value_of: Callable[[str], Value]) -> list[SentAlong]:
    """A rule this version of the tool does not know sends nothing."""
    return []


_COMPANION_RULES: dict[str, _CompanionRule] = {"always": _always, "one_truthy": _one_truthy, "together": _together,
                                               "put_leaves_out": _no_rule}  # a PUT's rule: `left_out_of_put`
"""The model's companion rules by name (`Companion.rule`): a dispatch table."""


def diff(matching: Matching, live: LiveState, model: ApiModel, secrets: StateFile, *,
         resend_secrets: bool = False, ignore: frozenset[str] = frozenset()) -> DiffResult:
    """Changes that make live state match the desired objects (references and secrets already
    resolved), and deletes of the live objects in sets the manifests manage exactly."""
    differ = _Differ(matching, live, model, secrets, resend_secrets, ignore)
    changes: list[Change] = []
    unchanged = 0
    for pair in matching.pairs:
        change = differ.change(pair.desired, pair.live)
        if change is not None:
            changes.append(change)
        elif pair.live is not None and pair.desired.state == "present":
            unchanged += 1
    for orphan in matching.orphans:
        if orphan.managed:
            delete = differ.delete(model.kinds[orphan.kind], orphan.address, orphan.live, None,
                                   reason=orphan.reason)
            if delete is not None:
                changes.append(delete)
    changes = _order_deletes(changes, live, model)
    return DiffResult(changes=changes, unchanged=unchanged, problems=differ.problems + matching.problems)


def _order_deletes(changes: list[Change], live: LiveState, model: ApiModel) -> list[Change]:
    """A delete waits for the deletes of the objects that point at it (a binding goes before its
    stage), so nothing is deleted by a cascade and then again by hand."""
    deletes = {model.kinds[c.kind].id_key(c.id): c for c in changes if isinstance(c, Delete)}
    blockers = _blockers(deletes, live, model)
    return [replace(change, depends_on=change.depends_on | frozenset(blockers[key]))
            if isinstance(change, Delete) and (key := model.kinds[change.kind].id_key(change.id)) in blockers
            else change for change in changes]


def _blockers(deletes: dict[IdKey, Delete], live: LiveState, model: ApiModel) -> dict[IdKey, list[str]]:
    """For each object the plan deletes, the addresses of the other deletes it waits for: those of
    the objects its deletion would take with it (a binding's, before its stage's)."""
    blockers: dict[IdKey, list[str]] = {}
    for own, change in deletes.items():
        kind = model.kinds[change.kind]
        current = live.by_id(kind, change.id) or {}
        for name in kind.cascade:
            for held in model.ref_keys(Ref(str(kind.fields[name].reference), pk=current.get(name))):
                if held in deletes and held != own:
                    blockers.setdefault(held, []).append(change.address)
    return blockers
