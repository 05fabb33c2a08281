"""The diff: desired objects against live state, field by field. Pure: no I/O, so it is tested
with plain data."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.apimodel import ApiModel, Field, Kind
from reconciler.desired import DesiredObject
from reconciler.errors import Problem
from reconciler.live import LiveState
from reconciler.plan import UNKNOWN, Change, Create, Delete, FieldChange, Replace, Update
from reconciler.refs import live_value
from reconciler.state import SecretState
from reconciler.values import Ref, Secret

__all__ = ["diff", "DiffResult", "comparable"]


@dataclass(frozen=True)
class DiffResult:
    changes: list[Change]
    unchanged: int
    problems: list[Problem]


def comparable(spec: Field, value: Any) -> Any:
    """A value as the server would store it, so equal configurations compare equal: secrets by
    value, references by natural key, reference lists as sets (the server keeps no order for
    them; it does keep the order of plain lists such as `user_fields`, recordings 19, 20), and
    null and "" alike for strings."""
    if isinstance(value, Secret):
        return comparable(spec, value.reveal())
    if isinstance(value, Ref):
        return ("ref", value.target, value.key if value.key is not None else value.pk)
    if isinstance(value, list):
        items = [comparable(spec, v) for v in value]
        return tuple(sorted(items, key=repr)) if spec.reference else tuple(items)
    if value is None and spec.type == "string" and not spec.reference:
        return ""
    if isinstance(value, str) and spec.spec.get("format") == "date-time":
        return _instant(value)
    if isinstance(value, str):
        # DRF trims surrounding whitespace of every string it stores (`deny_message: |` ends in "\n").
        return value.strip()
    return value


def _instant(text: str) -> Any:
    """A date-time as the moment it names: the server answers in UTC what was sent with an offset."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text.strip()
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)


def diff(desired: list[DesiredObject], live: LiveState, model: ApiModel, secrets: SecretState, *,
         resend_secrets: bool = False, ignore: frozenset[str] = frozenset()) -> DiffResult:
    """Changes that make live state match `desired` (references and secrets already resolved)."""
    changes: list[Change] = []
    problems: list[Problem] = []
    unchanged = 0
    creating = {(model.target_of(model.kinds[o.kind]), o.name): o.address for o in desired
                if o.state == "present" and live.get(o.kind, o.name) is None}

    def depends(body: Any) -> frozenset[str]:
        return frozenset(creating[(r.target, r.key)] for r in _refs(body)
                         if r.pk is None and r.key is not None and (r.target, r.key) in creating)

    for obj in desired:
        kind = model.kinds[obj.kind]
        current = live.get(obj.kind, obj.name)
        if obj.state == "absent":
            if current is not None:
                changes.append(Delete(kind=obj.kind, name=obj.name, path=kind.detail_path(str(current["pk"])),
                                      pk=str(current["pk"])))
            continue
        if current is None:
            missing = [f for f in (*kind.required, *kind.no_default) if f not in obj.fields]
            if missing:
                problems.append(Problem(obj.file, *obj.position(), f"cannot create: missing required "
                                        f"field{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                        "(the object does not exist yet)", obj.address))
                continue
            fields = tuple(FieldChange(name, None, value, kind.fields[name].sensitive or isinstance(value, Secret))
                           for name, value in obj.fields.items())
            changes.append(Create(kind=obj.kind, name=obj.name, path=kind.path, fields=fields,
                                  depends_on=depends(obj.fields)))
            continue
        field_changes = list(_field_changes(obj, kind, current, live, secrets, resend_secrets,
                                            ignore | obj.ignore_changes))
        if not field_changes:
            unchanged += 1
            continue
        pk = str(current["pk"])
        if obj.update == "put":
            full, problem = _full_body(obj, kind, current, live, ignore | obj.ignore_changes)
            if problem:
                problems.append(problem)
                continue
            changes.append(Replace(kind=obj.kind, name=obj.name, path=kind.detail_path(pk), pk=pk,
                                   fields=tuple(field_changes), full=full, depends_on=depends(full)))
            continue
        companions = _companions(kind, {c.field: c.after for c in field_changes}, current, live)
        changes.append(Update(kind=obj.kind, name=obj.name, path=kind.detail_path(pk), pk=pk,
                              fields=tuple(field_changes), companions=companions,
                              depends_on=depends([c.after for c in field_changes])))
    return DiffResult(changes=changes, unchanged=unchanged, problems=problems)


def _field_changes(obj: DesiredObject, kind: Kind, current: dict[str, Any], live: LiveState,
                   secrets: SecretState, resend: bool, ignored: frozenset[str]) -> Iterator[FieldChange]:
    for name, wanted in obj.fields.items():
        if name in ignored or name == "name":
            continue
        spec = kind.fields[name]
        if spec.write_only:
            yield from _write_only_change(obj, str(current["pk"]), spec, wanted, secrets, resend)
            continue
        before = live_value(spec, current.get(name), live)
        if comparable(spec, wanted) != comparable(spec, before):
            # A value from {env}/{file} is sensitive whatever the field: so is what it replaces.
            yield FieldChange(name, before, wanted, spec.sensitive or isinstance(wanted, Secret))


def _write_only_change(obj: DesiredObject, pk: str, spec: Field, wanted: Any, secrets: SecretState,
                       resend: bool) -> Iterator[FieldChange]:
    """Write-only values are compared by fingerprint: the server never returns them."""
    value = wanted.reveal() if isinstance(wanted, Secret) else wanted
    note = "resent (--resend-secrets)" if resend else secrets.check(obj.address, pk, spec.name, value)
    if note is not None:
        yield FieldChange(spec.name, UNKNOWN, wanted, True, note)


def _companions(kind: Kind, body: dict[str, Any], current: dict[str, Any], live: LiveState) -> dict[str, Any]:
    """Unchanged fields a PATCH must carry to be accepted: identification needs non-empty
    `user_fields` or `sources` in every write (recordings 2023.10.7/17, 18, 26)."""
    if not kind.patch_companions or any(body.get(name) for name in kind.patch_companions):
        return {}
    for name in kind.patch_companions:
        value = current.get(name)
        if name not in body and value:
            return {name: live_value(kind.fields[name], value, live)}
    return {}


def _full_body(obj: DesiredObject, kind: Kind, current: dict[str, Any], live: LiveState,
               ignored: frozenset[str]) -> tuple[dict[str, Any], Problem | None]:
    """Every writable field for a PUT: the manifest's values over the live ones. A required
    write-only field must come from the manifest (Duo PUT without client_secret: 400, rec. 39)."""
    full: dict[str, Any] = {}
    for name, spec in kind.fields.items():
        if name in obj.fields and name not in ignored:
            full[name] = obj.fields[name]
        elif not spec.write_only and name in current:
            full[name] = live_value(spec, current[name], live)
    missing = [name for name in kind.required if name not in full]
    if missing:
        return full, Problem(obj.file, *obj.position(), f"cannot replace with PUT: {', '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} required by PUT and write-only, so the "
                             "live value is unknown; set it in the manifest (e.g. {env: VAR}) or use "
                             "update: patch", obj.address)
    return full, None
