"""What `reconciler explain` says, as data: the kinds an API version has, by manifest section, and
one kind's fields (type, default, required, values, references, secrets), read from the API model
like everything else, offline. Rendering is in cli/rendering.py."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from reconciler.errors import ReconcilerError
from reconciler.model.kinds import ApiModel, Field, Kind, known_versions, load_model
from reconciler.values import Json, JsonObject

__all__ = ["KindSummary", "FieldInfo", "KindInfo", "list_kinds", "explain_kind", "find_kind"]



@dataclass(frozen=True)
class KindSummary:
    """One kind in the listing: how a manifest names it (`kind: expression`), its model kind
    (`expression_policy`, what `explain` and `export --kind` also take) and its API path."""

    manifest_kind: str
    kind: str
    path: str
    written_in: str = ""
    """For a kind written inside another's entries: where (`a flow's bindings:`)."""

    @property
    def data(self) -> JsonObject:
        return {"manifest_kind": self.manifest_kind, "kind": self.kind, "path": f"/api/v3{self.path}",
                "written_in": self.written_in or None}


@dataclass(frozen=True)
class FieldInfo:
    """One writable field of a kind."""

    name: str
    type: str
    """`string`, `integer`, `boolean`, `object`, `list of string`, or a reference form such as
    `{stage: NAME}` / `list of {source: SLUG}`."""
    required: bool
    default: Json
    has_default: bool
    nullable: bool
    values: tuple[Json, ...]
    """The values it takes, as the API types them (TOTP `digits`: 6 in 2023.10.7, "6" in 2026.2.2)."""
    reference: str | None
    """The target kind of objects a reference points at (`stage`, `flow`), if any."""
    reference_kind: str | None
    """The one stage kind it accepts (`password_stage`: `password`), if restricted."""
    secret: bool
    write_only: bool
    description: str

    @property
    def data(self) -> JsonObject:
        return {"name": self.name, "type": self.type, "required": self.required,
                **({"default": self.default} if self.has_default else {}), "nullable": self.nullable,
                "values": list(self.values), "reference": self.reference, "reference_kind": self.reference_kind,
                "secret": self.secret, "write_only": self.write_only, "description": self.description}


@dataclass(frozen=True)
class KindInfo:
    """A kind's fields, as `explain KIND` shows them."""

    api_version: str
    summary: KindSummary
    section: str
    key: tuple[str, ...]
    fields: tuple[FieldInfo, ...]
    read_only: tuple[str, ...]

    @property
    def data(self) -> JsonObject:
        return {"api_version": self.api_version, **self.summary.data, "section": self.section, "key": list(self.key),
                "fields": [f.data for f in self.fields], "read_only": list(self.read_only)}


def _summary(model: ApiModel, kind: Kind) -> KindSummary:
    parents = model.parents_of(kind)
    written_in = " and ".join(f"a {parent.manifest_kind}'s {nested.name}:" for parent, nested in parents)
    return KindSummary(kind.manifest_kind, kind.name, kind.path, written_in)


def _section(model: ApiModel, kind: Kind) -> str:
    """The manifest section a kind is written in; a nested kind's is its outermost parent's."""
    while kind.section is None and model.parents_of(kind):
        kind = model.parents_of(kind)[0][0]
    return kind.section or ""


def list_kinds(model: ApiModel) -> dict[str, list[KindSummary]]:
    """Every kind of the model by section, sorted by manifest kind; nested kinds (bindings) go
    with the section of the entries they are written in."""
    listing: dict[str, list[KindSummary]] = {section: [] for section in model.sections}
    for kind in model.kinds.values():
        listing.setdefault(_section(model, kind), []).append(_summary(model, kind))
    return {section: sorted(kinds, key=lambda k: (bool(k.written_in), k.manifest_kind))
            for section, kinds in listing.items()}


def find_kind(model: ApiModel, written: str) -> Kind:
    """A model kind wins (`password` is the stage kind; the policy is `password_policy`), then a
    manifest kind of one section (`expression`); otherwise an error naming close matches."""
    if written in model.kinds:
        return model.kinds[written]
    found = [kind for kind in model.kinds.values() if kind.manifest_kind == written]
    if len(found) == 1:
        return found[0]
    _refuse_other_versions(model, written)
    choices = sorted(set(model.kinds) | {kind.manifest_kind for kind in model.kinds.values()})
    close = difflib.get_close_matches(written, choices, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise ReconcilerError(f"unknown kind {written!r} in authentik {model.version}{hint}")


def _refuse_other_versions(model: ApiModel, written: str) -> None:
    """A kind another known version has (a tenant in 2026) is refused naming that version, and this
    version's own name for it when it has one (`brand`)."""
    elsewhere = [version for version in known_versions() if version != model.version
                 and any(written in (kind.name, kind.manifest_kind) for kind in load_model(version).kinds.values())]
    if elsewhere:
        own = model.counterparts.get(written) or model.counterparts.get(f"{written}s", "").removesuffix("s")
        here = f"; authentik {model.version} has {own!r} instead" if own else ""
        raise ReconcilerError(f"kind {written!r} is authentik {' and '.join(elsewhere)}'s, not {model.version}'s{here}")


def _reference_form(model: ApiModel, target: str) -> str:
    """How a manifest writes a reference to `target`: `{flow: SLUG}`; a union of targets (a
    policy binding's target) is the entry the binding is written in."""
    spec = model.targets.get(target)
    if spec is None or not spec.key:
        return f"{{{target}: ...}}"
    return f"{{{target}: {spec.key[0].upper()}}}"


def _type(model: ApiModel, kind: Kind, spec: Field) -> str:
    parents = model.parents_of(kind)
    if parents and spec.name == model.parent_field(kind):
        return "the entry it is written in"
    plain = {field: target for _, nested in parents for field, target in nested.keys.items()}
    if spec.name in plain:  # a binding's `stage: NAME`, `policy: NAME`, `user: USERNAME`: plain text
        target = model.targets[plain[spec.name]]
        return f"{target.key[0].upper() if target.key else 'KEY'} of a {target.name}"
    if spec.reference:
        form = _reference_form(model, spec.reference)
        return f"list of {form}" if spec.is_list else form
    if spec.is_list:
        return f"list of {spec.items.get('type', 'string')}"
    return spec.type


def _values(spec: Field) -> tuple[Json, ...]:
    return tuple(spec.spec.get("enum") or spec.items.get("enum") or ())


def explain_kind(model: ApiModel, written: str) -> KindInfo:
    """The fields of the kind `written` names (a manifest or a model kind), in the model's order."""
    kind = find_kind(model, written)
    implicit = model.parent_field(kind)  # a binding's target: the entry it is written in, never written
    fields = tuple(FieldInfo(
        name=name, type=_type(model, kind, spec), required=name in kind.required and name != implicit,
        default=kind.defaults.get(name), has_default=name in kind.defaults, nullable=spec.nullable,
        values=_values(spec), reference=spec.reference, reference_kind=spec.reference_kind,
        secret=spec.sensitive, write_only=spec.write_only,
        description=" ".join(str(spec.spec.get("description", "")).split()))
        for name, spec in kind.fields.items())
    return KindInfo(model.version, _summary(model, kind), _section(model, kind), kind.key, fields, kind.read_only)
