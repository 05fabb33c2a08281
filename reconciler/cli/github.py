"""GitHub Actions: problems as workflow-command annotations on the lines they are about, and
reports appended to the job summary. Off GitHub Actions, both do nothing."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from reconciler.errors import Problem

if TYPE_CHECKING:  # `reconciler --help` imports no planning module
    from reconciler.planning.changes import Plan

__all__ = ["on_github", "escape", "github_annotations", "conflict_annotations", "annotate", "job_summary"]


def on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape(text: str, prop: bool = False) -> str:
    """Workflow-command escaping, as GitHub's own toolkit does it."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotations(problems: list[Problem]) -> list[str]:
    """`::error file=...,line=...,col=...::message` lines for the problems of a manifest."""
    lines = []
    for p in problems:
        where = f"file={escape(p.file, True)}" + (f",line={p.line},col={p.column}" if p.line else "")
        subject = ": ".join(part for part in (p.subject, p.field) if part)
        lines.append(f"::error {where}::{escape((subject + ': ' if subject else '') + p.message)}")
    return lines


def conflict_annotations(plan: Plan) -> list[str]:
    """`::warning` lines for the changes authentik's blueprints will set back, on the manifest
    describing the object. A warning, not an error: the plan is valid and may be meant (the
    instance is disabled by hand); `plan --fail-on-blueprint-conflict` makes it fail the job."""
    files = {owned.address: owned.file for owned in plan.owns if owned.file}
    lines = []
    for change in plan.changes:
        for conflict in change.blueprint_conflicts:
            where = f"file={escape(files[change.address], True)}," if change.address in files else ""
            lines.append(f"::warning {where}title=blueprint conflict::"
                         f"{escape(f'{change.address}: {conflict.blueprint} ({conflict.instance}) sets back ')}"
                         f"{escape(', '.join(conflict.fields) or 'the object')}")
    return lines


def annotate(lines: list[str], fmt: str) -> None:
    """Workflow commands, on GitHub Actions only: on stdout, unless it carries the JSON report."""
    if on_github():
        for line in lines:
            click.echo(line, err=fmt == "json")


def job_summary(markdown: str) -> None:
    """Append to the job summary on GitHub Actions (`$GITHUB_STEP_SUMMARY`)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not (on_github() and path):
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except OSError as exc:
        click.echo(f"warning: cannot write the job summary {path}: {exc.strerror or exc}", err=True)
