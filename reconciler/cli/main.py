"""The command line: parses options and calls one engine function per command. Every outcome maps
to one exit code (0 ok, 1 an error the user can act on, 2 changes with --detailed-exitcode, 3 an
internal error, 130 interrupted) and one message, as JSON too with `--format json`; nothing
prints a traceback at a user."""
from __future__ import annotations

import gc
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource

from reconciler.errors import (
    ApiError,
    ApplyError,
    ManifestError,
    PlanError,
    PlanFileError,
    Problem,
    ReconcilerError,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.model.versions import known_sections, known_versions

if TYPE_CHECKING:
    from reconciler.applying.result import ApplyResult, ChangeOutcome
    from reconciler.engine import PlanOptions
    from reconciler.planning.changes import Plan
    from reconciler.server.client import Connection

# What a command needs is imported when it runs (the engine, httpx, jsonschema, the sandbox):
# `reconciler --help` loads click and this module only (tests/test_cli_contract.py pins it).

__all__ = ["main", "cli", "EXIT_OK", "EXIT_ERROR", "EXIT_CHANGES", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
SANDBOX_TOKEN = "sandbox-token"


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def _on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape(text: str, prop: bool = False) -> str:
    """Workflow-command escaping, as GitHub's own toolkit does it."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotations(problems: list[Problem]) -> list[str]:
    """`::error file=...,line=...,col=...::message` lines for the problems of a manifest."""
    lines = []
    for p in problems:
        where = f"file={_escape(p.file, True)}" + (f",line={p.line},col={p.column}" if p.line else "")
        subject = ": ".join(part for part in (p.subject, p.field) if part)
        lines.append(f"::error {where}::{_escape((subject + ': ' if subject else '') + p.message)}")
    return lines


def _summary(markdown: str) -> None:
    """Append to the job summary on GitHub Actions (`$GITHUB_STEP_SUMMARY`)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not (_on_github() and path):
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except OSError as exc:
        click.echo(f"warning: cannot write the job summary {path}: {exc.strerror or exc}", err=True)


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code, the message for people, and the same for machines."""

    code: int
    message: str
    data: dict[str, Any]
    problems: tuple[Problem, ...] = ()
    report: dict[str, Any] | None = None
    """An apply's plan and result, printed beside the error (the report goes to stdout)."""


def _internal_error() -> Outcome:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="reconciler-crash-", suffix=".log", delete=False) as log:
        log.write(traceback.format_exc())
    return Outcome(EXIT_INTERNAL, f"error: unexpected internal error; details in {log.name}",
                   {"type": "internal", "message": "unexpected internal error", "traceback_file": log.name})


def _apply_failed(exc: ApplyError) -> Outcome:
    """An apply that did not make every change: the exact report, and the exit code of what ended
    it (130 interrupted, 3 an internal error, with its traceback file, 1 otherwise)."""
    from reconciler.cli.rendering import render_apply
    from reconciler.planning.changes import Plan

    report = {"plan": exc.plan.data if isinstance(exc.plan, Plan) else None, "result": exc.result.data}
    if exc.internal:
        internal = _internal_error()
        return Outcome(EXIT_INTERNAL, render_apply(exc.result) + "\n" + internal.message,
                       {**internal.data, "result": exc.result.data}, report=report)
    code = EXIT_INTERRUPTED if exc.interrupted else EXIT_ERROR
    return Outcome(code, render_apply(exc.result, error=str(exc)),
                   {"type": "interrupted" if exc.interrupted else "apply", "message": str(exc),
                    "result": exc.result.data}, report=report)


def outcome_of(exc: BaseException) -> Outcome:
    """The one place exceptions become exit codes and messages."""
    from reconciler.cli.rendering import render_validation

    if isinstance(exc, ManifestError):
        kind = "plan" if isinstance(exc, PlanError) else "manifest"
        text = render_validation("", 0, exc.problems, "text").rstrip("\n")
        return Outcome(EXIT_ERROR, text, {"type": kind, "message": f"{len(exc.problems)} problem(s)",
                                          "problems": [p.__dict__ for p in exc.problems]}, tuple(exc.problems))
    if isinstance(exc, ApplyError):
        return _apply_failed(exc)
    if isinstance(exc, UnsafePlanError):
        return Outcome(EXIT_ERROR, f"error: {exc}", {"type": "unsafe_plan", "message": "the plan is unsafe",
                                                     "reasons": exc.reasons, "changes": exc.changes})
    if isinstance(exc, StalePlanError):
        return Outcome(EXIT_ERROR, f"error: {exc}", {"type": "stale_plan", "message": "the saved plan is stale",
                                                     "reasons": exc.reasons})
    if isinstance(exc, ApiError):
        return Outcome(EXIT_ERROR, f"error: {exc}", {"type": "api", "message": str(exc), "method": exc.method,
                                                     "path": exc.path, "status": exc.status})
    if isinstance(exc, PlanFileError):
        return Outcome(EXIT_ERROR, f"error: {exc}", {"type": "plan_file", "message": str(exc)})
    if isinstance(exc, ReconcilerError):
        return Outcome(EXIT_ERROR, f"error: {exc}", {"type": "error", "message": str(exc)})
    if isinstance(exc, click.UsageError):
        return Outcome(EXIT_ERROR, f"error: {exc.format_message()}" if exc.ctx is None else
                       f"{exc.ctx.get_usage()}\nTry '{exc.ctx.command_path} --help' for help.\n\n"
                       f"Error: {exc.format_message()}", {"type": "usage", "message": exc.format_message()})
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        return Outcome(EXIT_INTERRUPTED, "interrupted", {"type": "interrupted", "message": "interrupted"})
    return _internal_error()


class Reporter:
    """Writes a command's failure in its output format: text on stderr, or JSON on stdout (so a
    cron job can parse every outcome), plus GitHub annotations on GitHub Actions. `keys`: the
    top-level keys of the command's JSON report, null when the failure came before them (apply's
    `plan`, `result`, `verified`), so a failure has the shape of a success plus `error`. An
    apply's report goes to stdout, as it does on success."""

    def __init__(self, fmt: str = "text", keys: tuple[str, ...] = ()) -> None:
        self.fmt = fmt
        self.keys = keys

    def annotate(self, lines: list[str]) -> None:
        """GitHub workflow commands, on GitHub Actions only: on stdout, unless it carries JSON."""
        if _on_github():
            for line in lines:
                click.echo(line, err=self.fmt == "json")

    def fail(self, outcome: Outcome) -> NoReturn:
        self.annotate(github_annotations(list(outcome.problems)) if outcome.problems else
                      [f"::error::{_escape(reason)}" for reason in outcome.data.get("reasons", [])] or
                      [f"::error::{_escape(outcome.message.splitlines()[0])}"])
        if self.fmt == "json":
            shape: dict[str, Any] = {**dict.fromkeys(self.keys), **(outcome.report or {})} if self.keys else {}
            click.echo(json.dumps({**shape, "error": outcome.data}, indent=2, ensure_ascii=False))
        else:
            click.echo(outcome.message, err=outcome.report is None)
        sys.exit(outcome.code)

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except (click.exceptions.Exit, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every outcome gets its exit code and message
            self.fail(outcome_of(exc))


def _connection(url: str | None, token: str | None, insecure: bool, sandbox: bool,
                api_version: str | None) -> Connection:
    from reconciler.planning import pipeline
    from reconciler.server.client import Connection

    context = click.get_current_context(silent=True)
    meta = context.meta if context is not None else {}
    policy: dict[str, Any] = {"timeout": meta.get(TIMEOUT_KEY) or 30.0, "retries": meta.get(RETRIES_KEY, 3),
                              "on_wait": _announce_wait}
    if sandbox:
        from reconciler.sandbox import Sandbox  # the emulator only loads when asked for

        emulator = Sandbox(api_version=api_version or pipeline.latest_version(), token=SANDBOX_TOKEN)
        return Connection(url="http://sandbox", token=SANDBOX_TOKEN, transport=emulator.transport(), **policy)
    if not url:
        raise ReconcilerError("no server: set AUTHENTIK_URL or --url (or use --sandbox)")
    if not token:
        raise ReconcilerError("no API token: set AUTHENTIK_TOKEN or --token")
    scrubber = meta.get(SCRUBBER_KEY)
    if isinstance(scrubber, LogScrubber):
        scrubber.secrets.add(token.strip())
    return Connection(url=url, token=token, insecure=insecure, **policy)


def _announce_wait(message: str) -> None:
    click.echo(message, err=True)


TIMEOUT_KEY = "reconciler.timeout"
RETRIES_KEY = "reconciler.retries"
SCRUBBER_KEY = "reconciler.log_scrubber"
POLICY_OPTIONS = {"timeout": TIMEOUT_KEY, "retries": RETRIES_KEY}
"""Options `ReconcilerCommand` moves from the parameters into the context for `_connection`, so
each command's signature stays as it is."""


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where authentik is: the options every command that talks to a server takes."""
    options = [
        click.option("--url", envvar="AUTHENTIK_URL", help="authentik base URL [env AUTHENTIK_URL]"),
        click.option("--token", envvar="AUTHENTIK_TOKEN", help="API token [env AUTHENTIK_TOKEN]"),
        click.option("--insecure", envvar="AUTHENTIK_INSECURE", is_flag=True,
                     help="skip TLS verification [env AUTHENTIK_INSECURE]"),
        click.option("--sandbox", is_flag=True, help="run against the embedded authentik emulator"),
        click.option("--api-version", type=click.Choice(known_versions()),
                     help="API model to use (default: the server's version)"),
        click.option("--timeout", envvar="AUTHENTIK_TIMEOUT", metavar="SECONDS",
                     type=click.FloatRange(min=0, min_open=True),
                     help="give up on a call after SECONDS, its answer read in full (default 30) "
                          "[env AUTHENTIK_TIMEOUT]"),
        click.option("--retries", envvar="AUTHENTIK_RETRIES", metavar="N", type=click.IntRange(0, 10),
                     help="send a call that failed on throttling, a gateway error or no connection again, up "
                          "to N times, where that is safe; apply also makes good a write whose answer was lost "
                          "up to N times (0: never, it is reported unknown) (default 3) [env AUTHENTIK_RETRIES]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The connection, and the state file (secret fingerprints and owned objects)."""
    func = click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="the state file: secret fingerprints and owned objects (default: the nearest "
                             "reconciler.state.json, up to the repository root)")(func)
    return connection_options(func)


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--resend-secrets", is_flag=True, help="send every write-only secret again"),
        click.option("--ignore-changes", multiple=True, metavar="FIELD",
                     help="never plan changes to FIELD (repeatable)"),
        click.option("--prune/--no-prune", default=None,
                     help="plan deletes of owned objects that left the manifests (default: reconciler.toml's "
                          "prune, else no)"),
        click.option("--force", is_flag=True, help="accept a plan over the safety thresholds"),
        click.option("--allow-file-outside", multiple=True, metavar="DIR",
                     type=click.Path(file_okay=False, path_type=Path),
                     help="read {file: PATH} secrets from DIR too, outside the repository (repeatable)"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class ReadProgress:
    """The live reads, on a terminal only: one status line on stderr counting the lists read,
    rewritten in place and erased once planning is done (off a terminal, nothing: CI logs get the
    changes as they are made)."""

    def __init__(self) -> None:
        self.count = 0
        self.shown = sys.stderr.isatty()

    def __call__(self, path: str) -> None:
        if self.shown:
            self.count += 1
            click.echo(f"\r\033[K  reading live state: {self.count} list{'s' * (self.count != 1)} read ({path})",
                       nl=False, err=True)

    def finish(self) -> None:
        if self.shown and self.count:
            click.echo("\r\033[K", nl=False, err=True)
            self.count = 0


def _options(paths: list[Path], sandbox: bool, api_version: str | None, state_path: Path | None, *,
             recorded: str | None = None, resend_secrets: bool = False, ignore_changes: tuple[str, ...] = (),
             prune: bool | None = None, force: bool = False, allow_file_outside: tuple[Path, ...] = (),
             reads: ReadProgress | None = None) -> tuple[PlanOptions, StateLine]:
    """The options of a run over `paths` (or a saved plan's file, whose state file is `recorded`),
    with the state file it uses settled (`pipeline.state_path`), so what is said is what is used."""
    from reconciler.engine import PlanOptions
    from reconciler.planning import pipeline

    options = PlanOptions(api_version=api_version, state_path=state_path,
                          keep_state=not sandbox or state_path is not None,
                          resend_secrets=resend_secrets, ignore_changes=frozenset(ignore_changes),
                          prune=prune, force=force, allow_file_outside=allow_file_outside, progress=reads)
    settled = pipeline.state_path(options, list(paths), recorded)
    return replace(options, state_path=settled), StateLine(pipeline.shown_path(settled))


@dataclass
class StateLine:
    """The state file a run uses, as the JSON output shows it (None: kept in memory), said once
    on stderr when the run has used it: a run that fails before (an invalid manifest, an
    unreachable server) says nothing of it."""

    shown: str | None
    said: bool = False

    def say(self) -> None:
        if self.said:
            return
        self.said = True
        if self.shown is None:
            click.echo("state: none (sandbox)", err=True)
        else:
            click.echo(f"state: {self.shown if Path(self.shown).is_absolute() else os.path.join('.', self.shown)}",
                       err=True)


class ReconcilerGroup(click.Group):
    """Click's group, with the contract's exit codes: a usage error exits 1 (click's 2 means
    "changes" to `--detailed-exitcode` users), Ctrl-C at a prompt 130.

    Its options are copies of the commands' (`ReconcilerCommand`) that read no environment
    variable: the command's own option reads it, so `AUTHENTIK_INSECURE=maybe` is an error for
    `plan` and nothing to `validate`, which does not take `--insecure`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            param.envvar = None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            if not isinstance(exc, click.UsageError):
                exc.show()
                sys.exit(EXIT_ERROR)
            Reporter("json" if _wants_json(sys.argv[1:] if args is None else list(args)) else "text").fail(
                outcome_of(exc))
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asked for JSON, read before click could parse it (a usage error)."""
    return any(arg == "--format=json" or (arg == "--format" and args[i + 1:i + 2] == ["json"])
               for i, arg in enumerate(args))


VERBOSE = click.option("-v", "--verbose", count=True, help="log what the tool does (to stderr; -vv: more)")


class LogScrubber(logging.Filter):
    """Removes credentials from every log record: the userinfo of any URL (`https://user:pass@`)
    and the API token (`secrets`, added once known)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        from reconciler.values import REDACTED

        text = USERINFO.sub(r"\1", text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


USERINFO = re.compile(r"(\w://)[^/\s@]+@")


class ReconcilerCommand(click.Command):
    """A command that also takes the options the group takes, like kubectl's global flags: given
    before the command (`reconciler --sandbox -v plan x`) they count as the command's own, given
    after it they win. Each is checked against the command's own option (its choices), and one
    the command does not take is a usage error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        VERBOSE(self)  # every command takes -v, wherever it is written

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:
            _take_group_options(ctx, ctx.parent)
        _log_to_stderr(ctx, ctx.params.pop("verbose"))
        for name, key in POLICY_OPTIONS.items():
            value = ctx.params.pop(name, None)
            if value is not None:
                ctx.meta[key] = value
        return super().invoke(ctx)


def _log_to_stderr(ctx: click.Context, verbose: int) -> None:
    """Our own handler on the stderr this run has (basicConfig does nothing once the root logger
    has a handler, so a second run in one process, as under tests, would log nowhere), removed
    when the command ends, and scrubbing every record: httpx's own included."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    scrubber = LogScrubber()
    handler.addFilter(scrubber)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))
    ctx.meta[SCRUBBER_KEY] = scrubber

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(level)

    ctx.call_on_close(restore)


def _take_group_options(ctx: click.Context, group: click.Context) -> None:
    """Fill `ctx`'s parameters from the options written before the command name."""
    own = {param.name: param for param in ctx.command.params}
    for param in group.command.params:
        name = param.name
        if name is None or group.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        if name not in own:
            raise click.UsageError(f"'{ctx.command_path}' does not take {param.opts[-1]}", ctx)
        if name == "verbose":
            ctx.params[name] += group.params[name]
        elif ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            ctx.params[name] = own[name].type_cast_value(ctx, group.params[name])


ReconcilerGroup.command_class = ReconcilerCommand

FAMILIES = tuple(known_sections())  # the model's sections, without loading a model
PARALLELISM = 8  # reconciler.apply.DEFAULT_PARALLELISM, pinned by a test

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                      show_default=True, help="output format")



@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="These options may also follow the command (`reconciler plan config/ --sandbox -v`); "
                    "written there, they win. Each command's --help lists the options it takes.")
@click.version_option(package_name="authentik-reconciler")
@VERBOSE
@server_options
@FORMAT
def cli(**_options: Any) -> None:
    """GitOps for authentik: validate, plan and apply manifests of stages, flows and policies."""


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--api-version", type=click.Choice(known_versions()), help="API model (default: newest)")
@FORMAT
def validate_command(paths: tuple[Path, ...], api_version: str | None, fmt: str) -> None:
    """Validate manifests offline against the JSON Schema of an API version."""
    from reconciler import engine
    from reconciler.cli.rendering import render_validation
    from reconciler.planning import pipeline

    version = api_version or pipeline.latest_version()
    reporter = Reporter(fmt)
    with reporter.errors():
        try:
            objects = engine.validate_paths(list(paths), version)
        except ManifestError as exc:
            reporter.annotate(github_annotations(exc.problems))
            # Text problems are errors (stderr); JSON and Markdown are the command's report (stdout).
            click.echo(render_validation(version, 0, exc.problems, fmt), nl=False, err=fmt == "text")
            sys.exit(EXIT_ERROR)
        click.echo(render_validation(version, len(objects), [], fmt), nl=False)


@cli.command("plan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@plan_options
@FORMAT
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="save the plan as JSON for `apply --plan` (no secret value is written)")
@click.option("--detailed-exitcode", is_flag=True, help="exit 2 when the plan has changes")
def plan_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                 api_version: str | None, state_path: Path | None, resend_secrets: bool,
                 ignore_changes: tuple[str, ...], prune: bool | None, force: bool,
                 allow_file_outside: tuple[Path, ...], fmt: str, out: Path | None, detailed_exitcode: bool) -> None:
    """Fetch live state and show what apply would change (and what is not in the manifests)."""
    from reconciler import engine
    from reconciler.cli.rendering import render_markdown, render_plan
    from reconciler.planning.planfile import save_plan

    reporter = Reporter(fmt)
    with reporter.errors():
        if not paths:
            raise click.UsageError("give at least one manifest file or directory")
        connection = _connection(url, token, insecure, sandbox, api_version)
        reads = ReadProgress()
        options, state = _options(list(paths), sandbox, api_version, state_path, resend_secrets=resend_secrets,
                                  ignore_changes=ignore_changes, prune=prune, force=force,
                                  allow_file_outside=allow_file_outside, reads=reads)
        try:
            plan = engine.plan(list(paths), connection, options)
        finally:
            reads.finish()
        state.say()
        if out is not None:
            save_plan(plan, out)
        click.echo(render_plan(plan, fmt, color=_color(sys.stdout)), nl=False)
        _summary(render_markdown(plan))
    if detailed_exitcode and plan.has_changes:
        sys.exit(EXIT_CHANGES)


@cli.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@FORMAT
def show_command(file: Path, fmt: str) -> None:
    """Render a saved plan (from `plan --out`), offline."""
    from reconciler.cli.rendering import render_plan
    from reconciler.planning.planfile import load_plan

    with Reporter(fmt).errors():
        click.echo(render_plan(load_plan(file), fmt, color=_color(sys.stdout)), nl=False)


PROGRESS_BAR_MIN = 20
"""From this many changes, an apply on a terminal shows a progress bar instead of a line each."""


class ApplyProgress:
    """What the user sees while an apply runs, on stderr: a line per change as it ends (also off a
    terminal, for CI logs), or on a terminal a progress bar for an apply of many changes."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, plan: Plan) -> None:
        if sys.stderr.isatty() and len(plan.changes) >= PROGRESS_BAR_MIN:
            self.bar = click.progressbar(length=len(plan.changes), label="Applying", file=sys.stderr)

    def __call__(self, outcome: ChangeOutcome) -> None:
        if self.bar is not None:
            self.bar.update(1)
        else:
            from reconciler.cli.rendering import render_change_done

            click.echo(render_change_done(outcome), err=True)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


def _apply_summary(result: ApplyResult, error: str = "") -> None:
    """The apply report in the job summary, whether the apply made every change or not."""
    from reconciler.cli.rendering import render_apply

    _summary(f"### authentik-reconciler apply\n\n```\n{render_apply(result, error)}\n```")


def _declined(plan: Plan, result: ApplyResult) -> bool:
    from reconciler.applying.result import NOT_ATTEMPTED

    return plan.has_changes and all(o.status == NOT_ATTEMPTED for o in result.outcomes)


@cli.command("apply")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
@plan_options
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path),
              help="apply exactly this saved plan (from `plan --out`), after checking it is not stale")
@click.option("--auto-approve", is_flag=True, help="apply without asking")
@click.option("--verify", is_flag=True, help="plan again after applying and fail unless it shows no changes")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="output format of the apply report")
@click.option("--parallelism", type=click.IntRange(1, 64), default=PARALLELISM, show_default=True,
              envvar="RECONCILER_PARALLELISM",
              help="changes made at once (1: one after the other, in the plan's order) [env RECONCILER_PARALLELISM]")
def apply_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                  api_version: str | None, state_path: Path | None, resend_secrets: bool,
                  ignore_changes: tuple[str, ...], prune: bool | None, force: bool,
                  allow_file_outside: tuple[Path, ...], plan_file: Path | None,
                  auto_approve: bool, verify: bool, fmt: str, parallelism: int) -> None:
    """Plan, confirm, and make the calls; or apply a saved plan with --plan. Each change is printed
    on stderr as it ends; the report (every change in the plan's order) on stdout."""
    from reconciler import engine
    from reconciler.cli.rendering import render_apply, render_plan
    from reconciler.planning.planfile import load_plan

    reporter = Reporter(fmt, keys=("plan", "result", "verified", "state_file"))
    color = _color(sys.stdout)
    progress = ApplyProgress()
    reads = ReadProgress()

    def confirm(plan: Plan) -> bool:
        reads.finish()
        state.say()
        progress.start(plan)
        if fmt == "text":
            click.echo(render_plan(plan, "text", color=color), nl=False)
        if auto_approve:
            return True
        answer: str = click.prompt("Apply these changes? Only 'yes' is accepted", default="", show_default=False,
                                   err=fmt == "json")  # stdout carries only the JSON report
        return answer.strip() == "yes"

    with reporter.errors():
        if plan_file is not None and (paths or verify or resend_secrets or ignore_changes or prune is not None
                                      or force):
            raise click.UsageError("--plan applies a saved plan as it is: give no manifests, --verify, "
                                   "--resend-secrets, --ignore-changes, --prune or --force with it")
        if plan_file is None and not paths:
            raise click.UsageError("give at least one manifest file or directory, or --plan FILE")
        if not auto_approve and not sys.stdin.isatty():
            raise ReconcilerError("not on a terminal: pass --auto-approve to apply without a confirmation")
        connection = _connection(url, token, insecure, sandbox, api_version)
        saved = None if plan_file is None else load_plan(plan_file)
        options, state = _options(list(paths) if plan_file is None else [plan_file], sandbox, api_version,
                                  state_path, recorded=None if saved is None else saved.state_file,
                                  resend_secrets=resend_secrets, ignore_changes=ignore_changes, prune=prune,
                                  force=force, allow_file_outside=allow_file_outside, reads=reads)
        try:
            if saved is not None:
                outcome = engine.apply_saved(saved, connection, options, confirm=confirm, on_change=progress,
                                             plan_file=plan_file, parallelism=parallelism)
            else:
                outcome = engine.apply(list(paths), connection, options, confirm=confirm, on_change=progress,
                                       verify=verify, parallelism=parallelism)
        except ApplyError as exc:  # raised only once confirmed: the state line is said
            progress.finish()
            _apply_summary(exc.result, str(exc))
            raise
        finally:
            reads.finish()
            progress.finish()
        state.say()
        plan, result = outcome.plan, outcome.result
        if fmt == "text" and _declined(plan, result):
            raise ReconcilerError("Apply cancelled.")
        if fmt == "json":
            click.echo(json.dumps({"plan": plan.data, "result": result.data,
                                   "verified": outcome.verified.data if outcome.verified else None,
                                   "state_file": state.shown, "error": None},
                                  indent=2, ensure_ascii=False))
        elif not plan.has_changes:
            click.echo(render_plan(plan, "text", color=color), nl=False)
        else:
            click.echo("\n" + render_apply(result))
        _apply_summary(result)
        if outcome.verified is not None:
            if fmt == "text":
                click.echo("\nVerifying: planning again.")
                click.echo(render_plan(outcome.verified, "text", color=color), nl=False)
            if outcome.verified.has_changes:
                raise ReconcilerError("the plan after apply is not empty")


@cli.command("adopt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@server_options
def adopt_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                  api_version: str | None, state_path: Path | None) -> None:
    """Record the live objects the manifests describe as owned by this repository (no write to
    authentik): from then on `--prune` deletes them once the manifests leave them out."""
    from reconciler import engine

    with Reporter().errors():
        if not paths:
            raise click.UsageError("give at least one manifest file or directory")
        connection = _connection(url, token, insecure, sandbox, api_version)
        options, state = _options(list(paths), sandbox, api_version, state_path)
        adoption = engine.adopt(list(paths), connection, options)
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


@cli.command("export")
@connection_options
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="write one file per kind and per flow into this folder (default: one document on stdout)")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
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
                   all_fields: bool, exclude_defaults: bool, force: bool) -> None:
    """Write live objects as manifests that plan back to no changes (secrets as {env: VAR})."""
    from reconciler import engine
    from reconciler.exporting.folder import write_export

    with Reporter().errors():
        connection = _connection(url, token, insecure, sandbox, api_version)
        exported = engine.export(connection, engine.ExportOptions(
            api_version=api_version, kinds=kinds, families=families, names=names, all_fields=all_fields,
            exclude_defaults=exclude_defaults))
        if out is None:
            click.echo(exported.document, nl=False)
        else:
            written = write_export(exported, out, force=force)
            objects, files = len(exported.addresses), len(written.written)
            click.echo(f"Exported {objects} object{'s' * (objects != 1)} to {out}: {files} file{'s' * (files != 1)} "
                       f"written, {len(written.unchanged)} unchanged, {len(written.removed)} removed.", err=True)
            for path in written.removed:
                click.echo(f"  removed {path} (not in this export)", err=True)
        if exported.variables:
            click.echo("Set these variables before planning the export (secrets the server returned; "
                       "their values are not written):", err=True)
            for variable in exported.variables:
                click.echo(f"  {variable.name}: {variable.address} {variable.field}", err=True)


@cli.command("explain")
@click.argument("kind", required=False)
@click.option("--api-version", type=click.Choice(known_versions()), help="API model (default: newest)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="output format")
def explain_command(kind: str | None, api_version: str | None, fmt: str) -> None:
    """List the kinds of an API version, or a kind's fields (a manifest kind such as `expression`,
    or a model kind such as `expression_policy`), offline."""
    from reconciler.cli.rendering import render_kind, render_kinds
    from reconciler.model.explain import explain_kind, list_kinds
    from reconciler.model.kinds import load_model
    from reconciler.planning import pipeline

    with Reporter(fmt).errors():
        model = load_model(api_version or pipeline.latest_version())
        if kind is None:
            click.echo(render_kinds(model.version, list_kinds(model), fmt), nl=False)
        else:
            click.echo(render_kind(explain_kind(model, kind), fmt), nl=False)


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-version", type=click.Choice(known_versions()), default=None,
              help="authentik version to emulate (default: newest)")
@click.option("--token", default=SANDBOX_TOKEN, show_default=True, help="the bearer token it accepts")
@click.option("--seed", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='a JSON file of objects to start from ({"version": ..., "lists": {path: [objects]}})')
def sandbox_command(host: str, port: int, api_version: str | None, token: str, seed: Path | None) -> None:
    """Serve the authentik emulator until stopped (Ctrl-C)."""
    from reconciler.planning import pipeline
    from reconciler.sandbox import serve

    version = api_version or pipeline.latest_version()

    def ready(url: str) -> None:
        click.echo(f"authentik {version} sandbox on {url}  (token: {token})")
        click.echo(f"  export AUTHENTIK_URL={url} AUTHENTIK_TOKEN={token}")
        click.echo("Press Ctrl-C to stop.")

    with Reporter().errors():
        try:
            serve(host=host, port=port, api_version=version, token=token, seed=seed, on_ready=ready)
        except OSError as exc:
            raise ReconcilerError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ReconcilerError(str(exc)) from exc


def main() -> None:
    # A short-lived process that builds large trees of plain objects (manifests, live state, the
    # plan) and makes few reference cycles: at the default thresholds the collector walks those
    # trees again and again (a third of the CPU of validating 10,000 objects), so it runs rarely.
    gc.set_threshold(50_000, 20, 50)
    cli.main(prog_name="reconciler")
