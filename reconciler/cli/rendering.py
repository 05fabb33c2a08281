"""Rendering plans, apply results, validation results and errors: text like Terraform's, the
contract's JSON, and Markdown for pull-request comments. Never a secret in clear."""
from __future__ import annotations

import json
from typing import Any

from reconciler.applying.result import APPLIED, FAILED, NOT_ATTEMPTED, UNKNOWN_OUTCOME, ApplyResult, ChangeOutcome
from reconciler.errors import Problem
from reconciler.model.explain import FieldInfo, KindInfo, KindSummary
from reconciler.model.kinds import load_model
from reconciler.planning.changes import UNKNOWN, Change, FieldChange, Plan, Replace
from reconciler.planning.planfile import DigestCheck
from reconciler.values import REDACTED, JsonObject, Ref, Secret, redact

__all__ = ["render_plan", "render_saved", "consequence_lines", "render_text", "render_json", "render_markdown",
           "render_validation", "render_kinds", "render_kind", "render_apply", "render_change_done", "Style"]

COLORS = {"+": "32", "~": "33", "-": "31", "bold": "1", "dim": "2"}


class Style:
    """ANSI colour when on a terminal; plain text otherwise (NO_COLOR, pipes, files)."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{COLORS[code]}m{text}\033[0m" if self.color else text


def show(value: Any, sensitive: bool = False) -> str:
    """A value as the plan shows it: JSON-like, references by name, secrets redacted."""
    if value is UNKNOWN:
        return "(unknown)"
    if sensitive and value is not None:
        return REDACTED
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(redact(value), ensure_ascii=False)


def _field_lines(change: Change, field: FieldChange, width: int, style: Style) -> list[str]:
    name = field.field.ljust(width)
    note = style(f"  # {field.note}", "dim") if field.note else ""
    if change.action == "create":
        lines = [f"      {style('+', '+')} {name} = {show(field.after, field.sensitive)}{note}"]
    else:
        lines = [f"      {style('~', '~')} {name} = {show(field.before, field.sensitive)} -> "
                 f"{show(field.after, field.sensitive)}{note}"]
    return lines + [style(f"          {detail}", "dim") for detail in field.details]


def _change_lines(change: Change, style: Style, brand: str = "brand") -> list[str]:
    lines = [f"  {style(change.symbol, change.symbol)} {style(change.address, 'bold')}  "
             f"({change.action}: {change.method} /api/v3{change.path})"]
    width = max((len(f.field) for f in change.fields), default=0)
    for field in change.fields:
        lines += _field_lines(change, field, width, style)
    for companion in change.companions:
        lines.append(style(f"        (also sends {companion.field} unchanged: {companion.why})", "dim"))
    if isinstance(change, Replace):
        lines.append(style(f"        (PUT sends {len(change.full)} writable fields: the whole object)", "dim"))
    lines += [style(f"        ({note})", "dim") for note in change.notes]
    for line in consequence_lines(change, brand):
        mark = "!" if line.startswith(("blueprint conflict", "drift")) else " "
        lines.append(f"      {style(mark, '-') if mark == '!' else mark} {line}")
    return lines


def brand_noun(api_version: str) -> str:
    """What a version calls the object that picks a domain's flows: a brand, a tenant in 2023.10.7."""
    try:
        return "tenant" if "tenants" in load_model(api_version).sections else "brand"
    except KeyError:  # a saved plan of a version this tool has no model of
        return "brand"


def consequence_lines(change: Change, brand: str = "brand") -> list[str]:
    """What a change sets off, in words (text and Markdown): the blueprint instances that will set
    it back, and what runs or uses the object."""
    lines = []
    for conflict in change.blueprint_conflicts:
        fields = ", ".join(conflict.fields)
        if change.action == "delete":
            lines.append(f"blueprint conflict: authentik's blueprint {conflict.blueprint} (instance "
                         f"\"{conflict.instance}\") makes this object; authentik re-applies this blueprint when its "
                         "file changes (upgrades) or when applied by hand, and will create it again")
        else:
            lines.append(f"blueprint conflict: authentik's blueprint {conflict.blueprint} (instance "
                         f"\"{conflict.instance}\") sets {fields}; authentik re-applies this blueprint when its "
                         "file changes (upgrades) or when applied by hand, and will set these fields back")
        if conflict.drift:
            lines.append(f"drift explained: the blueprint was applied at {conflict.drift}, after this repository's "
                         f"last apply: it most likely set {fields} back")
        lines.append(f"to resolve: keep the default and make your own object, or disable the instance in a manifest "
                     f"(blueprints: - path: {conflict.blueprint}, enabled: false)")
    if change.impact:
        lines.append(_used_by(change, brand))
    return lines


def _used_by(change: Change, brand: str) -> str:
    """`used by: flow default-authentication-flow (brand authentik-default)`; `brand` is what the
    version calls one (2023.10.7: a tenant)."""
    impact = change.impact
    users = [f"flow {', '.join(impact.flows)}" if impact.flows else ""]
    if impact.brands:
        users[0] += f" ({brand} {', '.join(impact.brands)})" if users[0] else f"{brand} {', '.join(impact.brands)}"
    if impact.applications:
        users.append(f"application {', '.join(impact.applications)}")
    text = "used by: " + "; ".join(u for u in users if u)
    return text + (f"; affects every login (a {brand}'s authentication flow)" if impact.every_login else "")


def _unmanaged_lines(plan: Plan) -> list[str]:
    """Live objects of the managed kinds that no manifest describes, a line per kind."""
    if not plan.unmanaged:
        return []
    count = len(plan.unmanaged)
    lines = ["", f"Not in the manifests, left alone: {count} live object{'s' if count != 1 else ''} of the kinds "
                 "they manage:"]
    by_kind: dict[str, list[str]] = {}
    for item in plan.unmanaged:
        by_kind.setdefault(item.kind, []).append(item.address.split("/", 1)[1])
    return lines + [f"  {kind} ({len(names)}): {', '.join(names)}" for kind, names in by_kind.items()]


def render_text(plan: Plan, *, color: bool = False) -> str:
    style = Style(color)
    where = f" at {plan.server}" if plan.server else ""
    if not plan.has_changes:
        lines = [f"No changes. Live state matches the manifests (authentik {plan.api_version}{where}, "
                 f"{plan.unchanged} object{'s' if plan.unchanged != 1 else ''} compared)."]
        return "\n".join(lines + _unmanaged_lines(plan)) + "\n"
    lines = [f"Plan for authentik {plan.api_version}{where}:", ""]
    for change in plan.changes:
        lines += [*_change_lines(change, style, brand_noun(plan.api_version)), ""]
    s = plan.summary
    lines.append(f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
                 f"{s['delete']} to delete, {s['unchanged']} unchanged.")
    return "\n".join(lines + _unmanaged_lines(plan)) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.data, indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan) -> str:
    s = plan.summary
    lines = [f"### authentik-reconciler plan (authentik {plan.api_version})", ""]
    if not plan.has_changes:
        lines.append(f"No changes ({plan.unchanged} objects compared).")
    else:
        lines.append(f"**{s['create']}** to create, **{s['update']}** to update, **{s['replace']}** to replace, "
                     f"**{s['delete']}** to delete, {s['unchanged']} unchanged.")
        lines += ["", "| action | object | field | before | after |", "|---|---|---|---|---|"]
        for change in plan.changes:
            lines += _markdown_rows(change)
        notes = _markdown_notes(plan)
        if notes:
            lines += ["", *notes]
    if plan.unmanaged:
        lines += ["", f"<details><summary>Not in the manifests, left alone: {len(plan.unmanaged)} live objects of "
                      "the kinds they manage</summary>", ""]
        lines += [f"- `{item.address}`" for item in plan.unmanaged]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _markdown_rows(change: Change) -> list[str]:
    """A change's rows of the Markdown table: one per field (one without fields for a delete)."""
    if not change.fields:
        return [f"| {change.action} | `{change.address}` | | | |"]
    rows = []
    for f in change.fields:
        before = "" if change.action == "create" else f"`{_cell(show(f.before, f.sensitive))}`"
        after = f"`{_cell(show(f.after, f.sensitive))}`"
        details = "<br>" + "<br>".join(f"`{_cell(d)}`" for d in f.details) if f.details else ""
        rows.append(f"| {change.action} | `{change.address}` | `{f.field}` | {before} | {after}{details} |")
    return rows


def _markdown_notes(plan: Plan) -> list[str]:
    """The plan's notes under the table: fields sent along, notes, then consequences (warnings first marked)."""
    notes = [f"- `{change.address}`: {note}" for change in plan.changes
             for note in (*(f"also sends `{c.field}`: {c.why}" for c in change.companions), *change.notes)]
    brand = brand_noun(plan.api_version)
    notes += [f"- {'**Warning:** ' if line.startswith('blueprint') else ''}`{change.address}`: {line}"
              for change in plan.changes for line in consequence_lines(change, brand)]
    return notes


def render_saved(plan: Plan, check: DigestCheck, fmt: str, *, color: bool = False) -> str:
    """A saved plan as `show` renders it: the plan, and whether its digest verifies (JSON: the
    field `digest_check`; text and Markdown: a warning first, unless it verifies, so a verified
    plan shows exactly as `plan` printed it)."""
    if fmt == "json":
        return json.dumps({**plan.data, "digest_check": check.data}, indent=2, ensure_ascii=False) + "\n"
    if check.verified:
        return render_plan(plan, fmt, color=color)
    said = f"{check.message}: {check.advice}"
    warning = f"> **Warning:** {said}" if fmt == "markdown" else f"warning: {said}"
    return f"{warning}\n\n{render_plan(plan, fmt, color=color)}"


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


def render_validation(version: str, objects: int, problems: list[Problem], fmt: str) -> str:
    """The result of `validate`: a count when valid, every problem when not."""
    if fmt == "json":
        body: JsonObject = {"valid": not problems, "api_version": version}
        if problems:
            body["problems"] = [p.__dict__ for p in problems]
        else:
            body["objects"] = objects
        return json.dumps(body, indent=2) + "\n"
    if fmt == "markdown":
        if not problems:
            return f"{objects} objects valid for authentik {version}.\n"
        lines = [f"### {len(problems)} problem{'s' if len(problems) != 1 else ''} in the manifests "
                 f"(authentik {version})", ""]
        lines += [f"- `{p.file}:{p.line}:{p.column}` {p.subject + ': ' if p.subject else ''}"
                  f"{'`' + p.field + '`: ' if p.field else ''}{p.message}" for p in problems]
        return "\n".join(lines) + "\n"
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found."
        return "\n".join([*(str(p) for p in problems), count]) + "\n"
    return f"{objects} object{'s' if objects != 1 else ''} valid for authentik {version}.\n"


def render_kinds(version: str, listing: dict[str, list[KindSummary]], fmt: str) -> str:
    """`explain` without a kind: the kinds of an API version by manifest section."""
    if fmt == "json":
        return json.dumps({"api_version": version, "sections": {section: [k.data for k in kinds]
                                                                for section, kinds in listing.items()}},
                          indent=2, ensure_ascii=False) + "\n"
    every = [kind for kinds in listing.values() for kind in kinds]
    manifest_width = max(len(k.manifest_kind) for k in every)
    kind_width = max(len(k.kind) for k in every)
    lines = [f"Kinds of authentik {version} (manifest kind, model kind, API path); "
             "`reconciler explain KIND` shows one kind's fields."]
    for section, kinds in listing.items():
        lines += ["", f"{section}:"]
        for kind in kinds:
            where = f"  (written in {kind.written_in})" if kind.written_in else ""
            lines.append(f"  {kind.manifest_kind:<{manifest_width}}  {kind.kind:<{kind_width}}  "
                         f"/api/v3{kind.path}{where}")
    return "\n".join(lines) + "\n"


def _field_notes(info: FieldInfo) -> str:
    notes = []
    if info.required:
        notes.append("required")
    if info.has_default:
        notes.append(f"default: {json.dumps(info.default, ensure_ascii=False)}")
    if info.nullable:
        notes.append("nullable")
    if info.reference_kind:
        notes.append(f"only a stage of kind {info.reference_kind}")
    if info.values:
        notes.append(f"one of: {', '.join(json.dumps(value, ensure_ascii=False) for value in info.values)}")
    if info.write_only:
        notes.append("write-only (never read back; kept as a fingerprint)")
    elif info.secret:
        notes.append("secret (shown as (sensitive))")
    if info.python:
        when = "" if info.python == "always" else f" when {info.python} is true"
        notes.append(f"Python{when} (validate compiles it)")
    return ", ".join(notes)


def render_kind(info: KindInfo, fmt: str) -> str:
    """`explain KIND`: a kind's fields, like `kubectl explain`."""
    if fmt == "json":
        return json.dumps(info.data, indent=2, ensure_ascii=False) + "\n"
    import textwrap

    summary = info.summary
    lines = [f"KIND:       {summary.manifest_kind} ({info.section}; model kind {summary.kind})",
             f"VERSION:    authentik {info.api_version}",
             f"PATH:       /api/v3{summary.path}",
             f"KNOWN BY:   {', '.join(info.key) or 'nothing: one object per server, its section a mapping'}"]
    if summary.written_in:
        lines.append(f"WRITTEN IN: {summary.written_in}")
    lines += ["", "FIELDS:"]
    for field in info.fields:
        notes = _field_notes(field)
        lines.append(f"  {field.name} <{field.type}>" + (f"  {notes}" if notes else ""))
        if field.description:
            lines += textwrap.wrap(field.description, 96, initial_indent="      ", subsequent_indent="      ")
    if info.read_only:
        lines += ["", f"READ-ONLY (set by the server, never written): {', '.join(info.read_only)}"]
    return "\n".join(lines) + "\n"


DONE = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}
LABELS = {APPLIED: "applied:", FAILED: "failed:", UNKNOWN_OUTCOME: "unknown:", NOT_ATTEMPTED: "not attempted:"}


def _call(outcome: ChangeOutcome) -> str:
    return f"{outcome.change.method} /api/v3{outcome.change.path}"


def render_change_done(outcome: ChangeOutcome) -> str:
    """The progress line of a change as it ends: `  created deny/x (POST /api/v3/stages/deny/)`."""
    change = outcome.change
    if outcome.status == APPLIED:
        note = f"; {outcome.note}" if outcome.note else ""
        return f"  {DONE[change.action]} {change.address} ({_call(outcome)}{note})"
    if outcome.status == FAILED:
        return f"  failed to {change.action} {change.address} ({_call(outcome)}): {outcome.error}"
    return f"  unknown outcome: {change.action} {change.address} ({_call(outcome)}): {outcome.error}"


def render_apply(result: ApplyResult, error: str = "") -> str:
    """The apply report: a count, then every change in the plan's order with what became of it
    (a failure with its error, an unknown outcome with why), whatever order the calls ended in."""
    lines = [f"error: {error}"] if error else []
    failed, unknown, skipped = len(result.failed), len(result.unknown), len(result.not_attempted)
    head = f"Applied {len(result.applied)} of {len(result.outcomes)} changes"
    if failed:
        head += f"; {failed} failed"
    if unknown:
        head += f"; {unknown} with an unknown outcome (the server may have made {'them' if unknown > 1 else 'it'})"
    if skipped:
        head += f"; {skipped} not attempted"
    lines.append(head + ".")
    for outcome in result.outcomes:
        label = LABELS[outcome.status].ljust(15)
        change = outcome.change
        if outcome.status == APPLIED:
            lines.append(f"  {label}{change.action} {change.address}" + (f" ({outcome.note})" if outcome.note else ""))
        elif outcome.status == NOT_ATTEMPTED:
            lines.append(f"  {label}{change.action} {change.address}")
        else:
            lines.append(f"  {label}{change.action} {change.address} ({_call(outcome)})")
            lines.append(f"  {'':15}{outcome.error}")
    if unknown:
        lines.append("Plan again to see what the server holds now.")
    return "\n".join(lines)
