"""The commands: each parses its options, calls one engine function, prints what it returns, and
returns its exit code. A failure is raised; the group (`reconciler.cli.main`) settles it."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.github import annotate, conflict_annotations, github_annotations, job_summary
from reconciler.cli.options import (
    FORMAT,
    SANDBOX_TOKEN,
    ReconcilerCommand,
    StateLine,
    complete_kind,
    connection,
    connection_options,
    plan_options,
    run_options,
    server_options,
    variables_given,
    variables_options,
)
from reconciler.cli.outcomes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, ArgumentError
from reconciler.cli.progress import ApplyProgress, ReadProgress
from reconciler.errors import ApplyError, ManifestError, ReconcilerError
from reconciler.model.versions import known_sections, known_versions, latest_version

if TYPE_CHECKING:
    from reconciler.applying.result import ApplyResult
    from reconciler.engine import ApplyOutcome
    from reconciler.exporting.entries import Export
    from reconciler.planning.changes import Plan

# What a command needs is imported when it runs (the engine, httpx, jsonschema, the sandbox):
# `reconciler --help` loads click and the cli's own light modules only (tests/test_cli_contract.py
# pins which).

__all__ = ["COMMANDS", "FAMILIES", "PARALLELISM", "PARALLELISM_RANGE"]

FAMILIES = tuple(known_sections())  # the models' sections, without loading a model
PARALLELISM = 8  # applying.runner.DEFAULT_PARALLELISM (not imported: --help stays light), pinned by a test
PARALLELISM_RANGE = (1, 64)  # applying.runner.PARALLELISM_RANGE, the same way
APPLY_REPORT = ("plan", "result", "verified", "state_file")
"""The top-level keys of apply's JSON report, besides `error`."""


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


@click.command("validate", cls=ReconcilerCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--api-version", type=click.Choice(known_versions()), help="API model (default: newest)")
@variables_options
@FORMAT
def validate_command(paths: tuple[Path, ...], api_version: str | None, fmt: str) -> int:
    """Validate manifests offline against the JSON Schema of an API version."""
    from reconciler import engine
    from reconciler.cli.options import command_variables
    from reconciler.cli.rendering import render_validation

    version = api_version or latest_version()
    try:
        objects = engine.validate_paths(list(paths), version, command_variables(list(paths)))
    except ManifestError as exc:
        annotate(github_annotations(exc.problems), fmt)
        # Text problems are errors (stderr); JSON and Markdown are the command's report (stdout).
        click.echo(render_validation(version, 0, exc.problems, fmt), nl=False, err=fmt == "text")
        return EXIT_ERROR
    click.echo(render_validation(version, len(objects), [], fmt), nl=False)
    return EXIT_OK


@click.command("plan", cls=ReconcilerCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@plan_options
@variables_options
@FORMAT
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="save the plan as JSON for `apply --plan` (no secret value is written)")
@click.option("--detailed-exitcode", is_flag=True, help="exit 2 when the plan has changes")
@click.option("--fail-on-blueprint-conflict", is_flag=True,
              help="exit 1 when a change conflicts with an enabled authentik blueprint instance")
def plan_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                 api_version: str | None, state_path: Path | None, resend_secrets: bool,
                 ignore_changes: tuple[str, ...], prune: bool | None, prune_kinds: tuple[str, ...], force: bool,
                 allow_file_outside: tuple[Path, ...], fmt: str, out: Path | None, detailed_exitcode: bool,
                 fail_on_blueprint_conflict: bool) -> int:
    """Fetch live state and show what apply would change (and what is not in the manifests)."""
    from reconciler import engine
    from reconciler.cli.rendering import render_markdown, render_plan
    from reconciler.planning.planfile import save_plan

    if not paths:
        raise ArgumentError("give at least one manifest file or directory")
    server = connection(url, token, insecure, sandbox, api_version)
    reads = ReadProgress()
    options, state = run_options(list(paths), sandbox, api_version, state_path, resend_secrets=resend_secrets,
                                 ignore_changes=ignore_changes, prune=prune, force=force,
                                 allow_file_outside=allow_file_outside, reads=reads, prune_kinds=prune_kinds)
    try:
        plan = engine.plan(list(paths), server, options)
    finally:
        reads.finish()
    state.say()
    if out is not None:
        save_plan(plan, out)
    click.echo(render_plan(plan, fmt, color=_color(sys.stdout)), nl=False)
    job_summary(render_markdown(plan))
    annotate(conflict_annotations(plan), fmt)
    conflicting = [change.address for change in plan.changes if change.blueprint_conflicts]
    if fail_on_blueprint_conflict and conflicting:
        many = len(conflicting) != 1
        click.echo(f"error: {len(conflicting)} change{'s conflict' if many else ' conflicts'} with enabled "
                   f"authentik blueprint instances ({', '.join(conflicting)}); --fail-on-blueprint-conflict",
                   err=True)
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and plan.has_changes else EXIT_OK


@click.command("show", cls=ReconcilerCommand)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@FORMAT
def show_command(file: Path, fmt: str) -> int:
    """Render a saved plan (from `plan --out`), offline, saying whether its digest verifies (with
    RECONCILER_PLAN_KEY, else RECONCILER_STATE_KEY or AUTHENTIK_TOKEN, when set)."""
    from reconciler.cli.rendering import render_saved
    from reconciler.planning.planfile import check_digest, load_plan, plan_key

    saved = load_plan(file)
    check = check_digest(saved, plan_key(os.environ, os.environ.get("AUTHENTIK_TOKEN", "").strip(" \t\r\n")))
    click.echo(render_saved(saved, check, fmt, color=_color(sys.stdout)), nl=False)
    return EXIT_OK


@click.command("apply", cls=ReconcilerCommand, report_keys=APPLY_REPORT)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@plan_options
@variables_options
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path),
              help="apply exactly this saved plan (from `plan --out`), after checking it is not stale")
@click.option("--auto-approve", is_flag=True, help="apply without asking")
@click.option("--verify", is_flag=True, help="plan again after applying and fail unless it shows no changes")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="output format of the apply report")
@click.option("--parallelism", type=click.IntRange(*PARALLELISM_RANGE), default=PARALLELISM, show_default=True,
              envvar="RECONCILER_PARALLELISM",
              help="changes made at once (1: one after the other, in the plan's order) [env RECONCILER_PARALLELISM]")
def apply_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                  api_version: str | None, state_path: Path | None, resend_secrets: bool,
                  ignore_changes: tuple[str, ...], prune: bool | None, prune_kinds: tuple[str, ...], force: bool,
                  allow_file_outside: tuple[Path, ...], plan_file: Path | None,
                  auto_approve: bool, verify: bool, fmt: str, parallelism: int) -> int:
    """Plan, confirm, and make the calls; or apply a saved plan with --plan. Each change is printed
    on stderr as it ends; the report (every change in the plan's order) on stdout."""
    from reconciler import engine
    from reconciler.planning.planfile import load_plan

    _check_apply_arguments(paths, plan_file, auto_approve,
                           replanning=any((verify, resend_secrets, ignore_changes, prune is not None, prune_kinds,
                                           force, variables_given())))
    server = connection(url, token, insecure, sandbox, api_version)
    saved = None if plan_file is None else load_plan(plan_file)
    reads = ReadProgress()
    options, state = run_options(list(paths) if plan_file is None else [plan_file], sandbox, api_version,
                                 state_path, recorded=None if saved is None else saved.state_file,
                                 resend_secrets=resend_secrets, ignore_changes=ignore_changes, prune=prune,
                                 force=force, allow_file_outside=allow_file_outside, reads=reads,
                                 prune_kinds=prune_kinds, saved=saved is not None)
    view = ApplyView(fmt, auto_approve, state, reads)
    with view.applying():
        if saved is not None:
            outcome = engine.apply_saved(saved, server, options, confirm=view.confirm, on_change=view.progress,
                                         plan_file=plan_file, parallelism=parallelism)
        else:
            outcome = engine.apply(list(paths), server, options, confirm=view.confirm, on_change=view.progress,
                                   verify=verify, parallelism=parallelism)
    return view.report(outcome)


def _check_apply_arguments(paths: tuple[Path, ...], plan_file: Path | None, auto_approve: bool, *,
                           replanning: bool) -> None:
    """Manifests or a saved plan, not both; and a way to confirm. `replanning`: an option given
    that only planning uses."""
    if plan_file is not None and (paths or replanning):
        raise ArgumentError("--plan applies a saved plan as it is: give no manifests, --verify, "
                            "--resend-secrets, --ignore-changes, --prune, --force, --vars or --env with it")
    if plan_file is None and not paths:
        raise ArgumentError("give at least one manifest file or directory, or --plan FILE")
    if not auto_approve and not sys.stdin.isatty():
        raise ReconcilerError("not on a terminal: pass --auto-approve to apply without a confirmation")


@dataclass
class ApplyView:
    """What the user sees of an apply: the live reads, the plan and the question, each change as
    it ends, then the report (stdout) and the job summary. The state line is said once the plan
    is confirmed, or once the apply is done."""

    fmt: str
    auto_approve: bool
    state: StateLine
    reads: ReadProgress
    progress: ApplyProgress = field(default_factory=ApplyProgress)
    color: bool = field(default_factory=lambda: _color(sys.stdout))

    def confirm(self, plan: Plan) -> bool:
        self.reads.finish()
        self.state.say()
        self.progress.start(plan)
        if self.fmt == "text":
            from reconciler.cli.rendering import render_plan

            click.echo(render_plan(plan, "text", color=self.color), nl=False)
        if self.auto_approve:
            return True
        answer: str = click.prompt("Apply these changes? Only 'yes' is accepted", default="", show_default=False,
                                   err=self.fmt == "json")  # stdout carries only the JSON report
        return answer.strip() == "yes"

    @contextmanager
    def applying(self) -> Iterator[None]:
        """Around the engine's apply: an apply that did not make every change still gets its job
        summary (its report is the error's, `outcome_of`); the displays end either way."""
        try:
            yield
        except ApplyError as exc:  # raised only once confirmed: the state line is said
            self.progress.finish()
            _apply_summary(exc.result, str(exc))
            raise
        finally:
            self.reads.finish()
            self.progress.finish()

    def report(self, outcome: ApplyOutcome) -> int:
        """The report of an apply that made every change (or had none to make)."""
        self.state.say()
        plan, result = outcome.plan, outcome.result
        if self.fmt == "text" and _declined(plan, result):
            raise ReconcilerError("Apply cancelled.")
        if self.fmt == "json":
            click.echo(json.dumps({"plan": plan.data, "result": result.data,
                                   "verified": outcome.verified.data if outcome.verified else None,
                                   "state_file": self.state.shown, "error": None},
                                  indent=2, ensure_ascii=False))
        else:
            self._show(plan, result)
        _apply_summary(result)
        return self._verified(outcome.verified)

    def _show(self, plan: Plan, result: ApplyResult) -> None:
        from reconciler.cli.rendering import render_apply, render_plan

        if not plan.has_changes:
            click.echo(render_plan(plan, "text", color=self.color), nl=False)
        else:
            click.echo("\n" + render_apply(result))

    def _verified(self, verified: Plan | None) -> int:
        """With --verify: the plan made again after the apply, which must have no changes."""
        if verified is None:
            return EXIT_OK
        if self.fmt == "text":
            from reconciler.cli.rendering import render_plan

            click.echo("\nVerifying: planning again.")
            click.echo(render_plan(verified, "text", color=self.color), nl=False)
        if verified.has_changes:
            raise ReconcilerError("the plan after apply is not empty")
        return EXIT_OK


def _apply_summary(result: ApplyResult, error: str = "") -> None:
    """The apply report in the job summary, whether the apply made every change or not."""
    from reconciler.cli.rendering import render_apply

    job_summary(f"### authentik-reconciler apply\n\n```\n{render_apply(result, error)}\n```")


def _declined(plan: Plan, result: ApplyResult) -> bool:
    from reconciler.applying.result import NOT_ATTEMPTED

    return plan.has_changes and all(o.status == NOT_ATTEMPTED for o in result.outcomes)


@click.command("adopt", cls=ReconcilerCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@variables_options
def adopt_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                  api_version: str | None, state_path: Path | None) -> int:
    """Record the live objects the manifests describe as owned by this repository (no write to
    authentik): from then on `--prune` deletes them once the manifests leave them out."""
    from reconciler import engine

    if not paths:
        raise ArgumentError("give at least one manifest file or directory")
    server = connection(url, token, insecure, sandbox, api_version)
    options, state = run_options(list(paths), sandbox, api_version, state_path)
    adoption = engine.adopt(list(paths), server, options)
    state.say()
    click.echo(f"Adopted {len(adoption.adopted)} object{'s' if len(adoption.adopted) != 1 else ''} "
               f"({sum(o.id is not None for o in adoption.plan.owns)} described objects owned in all).")
    for address in adoption.adopted:
        click.echo(f"  adopted: {address}")
    for address in adoption.missing:
        click.echo(f"  not there yet (apply creates it, then owns it): {address}")
    if adoption.plan.has_changes:
        click.echo(f"The live objects differ from the manifests: {len(adoption.plan.changes)} change(s) planned; "
                   "run plan to see them.")
    return EXIT_OK


@click.command("export", cls=ReconcilerCommand)
@connection_options
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="write one file per kind and per flow into this folder (default: one document on stdout)")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", shell_complete=complete_kind,
              help="export this kind only: a manifest kind (expression) or a model kind (expression_policy); "
                   "repeatable")
@click.option("--family", "families", multiple=True, type=click.Choice(FAMILIES),
              help="export this section (repeatable)")
@click.option("--name", "names", multiple=True, metavar="GLOB", help="export objects whose name or slug matches "
              "(repeatable)")
@click.option("--all-fields", is_flag=True, help="also write fields equal to the server's default")
@click.option("--exclude-defaults", is_flag=True, help="leave out the objects a fresh authentik install has")
@click.option("--force", is_flag=True, help="write into --out although it holds YAML the tool did not write")
def export_command(url: str | None, token: str | None, insecure: bool, sandbox: bool, api_version: str | None,
                   out: Path | None, kinds: tuple[str, ...], families: tuple[str, ...], names: tuple[str, ...],
                   all_fields: bool, exclude_defaults: bool, force: bool) -> int:
    """Write live objects as manifests that plan back to no changes (secrets as {env: VAR})."""
    from reconciler import engine

    server = connection(url, token, insecure, sandbox, api_version)
    exported = engine.export(server, engine.ExportOptions(
        api_version=api_version, kinds=kinds, families=families, names=names, all_fields=all_fields,
        exclude_defaults=exclude_defaults))
    if out is None:
        click.echo(exported.document, nl=False)
    else:
        _write_export(exported, out, force)
    if exported.variables:
        click.echo("Set these variables before planning the export (secrets the server returned; "
                   "their values are not written):", err=True)
        for variable in exported.variables:
            click.echo(f"  {variable.name}: {variable.address} {variable.field}", err=True)
    return EXIT_OK


def _write_export(exported: Export, out: Path, force: bool) -> None:
    """The export as a folder, and what changed in it, on stderr."""
    from reconciler.exporting.folder import write_export

    written = write_export(exported, out, force=force)
    objects, files = len(exported.addresses), len(written.written)
    click.echo(f"Exported {objects} object{'s' * (objects != 1)} to {out}: {files} file{'s' * (files != 1)} "
               f"written, {len(written.unchanged)} unchanged, {len(written.removed)} removed.", err=True)
    for path in written.removed:
        click.echo(f"  removed {path} (not in this export)", err=True)


@click.command("explain", cls=ReconcilerCommand)
@click.argument("kind", required=False, shell_complete=complete_kind)
@click.option("--api-version", type=click.Choice(known_versions()), help="API model (default: newest)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="output format")
def explain_command(kind: str | None, api_version: str | None, fmt: str) -> int:
    """List the kinds of an API version, or a kind's fields (a manifest kind such as `expression`,
    or a model kind such as `expression_policy`), offline."""
    from reconciler.cli.rendering import render_kind, render_kinds
    from reconciler.model.explain import explain_kind, list_kinds
    from reconciler.model.kinds import load_model

    model = load_model(api_version or latest_version())
    if kind is None:
        click.echo(render_kinds(model.version, list_kinds(model), fmt), nl=False)
    else:
        click.echo(render_kind(explain_kind(model, kind), fmt), nl=False)
    return EXIT_OK


@click.command("sandbox", cls=ReconcilerCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-version", type=click.Choice(known_versions()), default=None,
              help="authentik version to emulate (default: newest)")
@click.option("--token", default=SANDBOX_TOKEN, show_default=True, help="the bearer token it accepts")
@click.option("--seed", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='a JSON file of objects to start from ({"version": ..., "lists": {path: [objects]}}, '
                   'optionally "documents": {url: json} an OpenID Connect source fetches)')
def sandbox_command(host: str, port: int, api_version: str | None, token: str, seed: Path | None) -> int:
    """Serve the authentik emulator until stopped (Ctrl-C)."""
    from reconciler.sandbox import serve

    version = api_version or latest_version()

    def ready(url: str) -> None:
        click.echo(f"authentik {version} sandbox on {url}  (token: {token})")
        click.echo(f"  export AUTHENTIK_URL={url} AUTHENTIK_TOKEN={token}")
        click.echo("Press Ctrl-C to stop.")

    try:
        serve(host=host, port=port, api_version=version, token=token, seed=seed, on_ready=ready)
    except OSError as exc:
        raise ReconcilerError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ReconcilerError(str(exc)) from exc
    return EXIT_OK


@click.command("init", cls=ReconcilerCommand)
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@connection_options
@click.option("--example", is_flag=True, help="manifests of a small example login flow instead of the server's "
                                                "(offline)")
@click.option("--ci", type=click.Choice(["github", "gitlab"]), help="add the CI kit's workflows of this flavour")
def init_command(directory: Path, url: str | None, token: str | None, insecure: bool, sandbox: bool,
                 api_version: str | None, example: bool, ci: str | None) -> int:
    """Start a config repository in DIRECTORY (default: here): the server's login flow as manifests
    (or --example), the manifest schema for editors, .pre-commit-config.yaml, README.md,
    .gitignore and, with --ci, the CI workflows. An existing file is never overwritten."""
    from importlib.metadata import PackageNotFoundError, version

    from reconciler import engine
    from reconciler.exporting.scaffold import ScaffoldOptions, write_scaffold

    try:
        tool_version = version("authentik-reconciler")
    except PackageNotFoundError:  # run from a checkout that was never installed
        tool_version = ""
    server = None if example else connection(url, token, insecure, sandbox, api_version)
    scaffold = engine.new_repository(server, ScaffoldOptions(ci=ci, version=tool_version), api_version)
    written = write_scaffold(scaffold, directory)
    click.echo(f"Config repository in {directory}, its manifests {scaffold.manifests}:")
    for path in written.written:
        click.echo(f"  wrote {path}")
    for path in written.kept:
        click.echo(f"  kept  {path} (it exists: not overwritten)")
    config = directory / "config"
    click.echo(f"Next: `reconciler validate {config}`, then `reconciler plan {config}` against the server.")
    return EXIT_OK


COMMANDS = (init_command, validate_command, plan_command, show_command, apply_command, adopt_command, export_command,
            explain_command, sandbox_command)
