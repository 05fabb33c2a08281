"""The command line: parses options and calls one engine function per command. Every
`ReconcilerError` becomes one message and exit 1; nothing prints a traceback at a user."""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import engine
from reconciler.apimodel import known_versions
from reconciler.apply import ApplyResult
from reconciler.client import Connection
from reconciler.errors import ApplyError, ManifestError, ReconcilerError
from reconciler.plan import Change, Plan
from reconciler.render import render_plan, render_validation

__all__ = ["main", "cli"]

EXIT_CHANGES = 2
SANDBOX_TOKEN = "sandbox-token"


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """The one place errors become messages and exit codes."""
    try:
        yield
    except ManifestError as exc:
        _fail(render_validation("", 0, exc.problems, "text").rstrip("\n"))
    except ApplyError as exc:
        _fail(_apply_report(exc.result, failed_message=str(exc)))
    except ReconcilerError as exc:
        _fail(f"error: {exc}")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception:  # noqa: BLE001 - the last resort: a short message, the traceback in a file
        with tempfile.NamedTemporaryFile("w", prefix="reconciler-crash-", suffix=".log", delete=False) as log:
            log.write(traceback.format_exc())
        _fail(f"error: unexpected internal error; details in {log.name}")


def _connection(url: str | None, token: str | None, insecure: bool, sandbox: bool,
                api_version: str | None) -> Connection:
    if sandbox:
        from reconciler.sandbox import Sandbox  # the emulator only loads when asked for

        emulator = Sandbox(api_version=api_version or engine.latest_version(), token=SANDBOX_TOKEN)
        return Connection(url="http://sandbox", token=SANDBOX_TOKEN, transport=emulator.transport())
    if not url:
        raise ReconcilerError("no server: set AUTHENTIK_URL or --url (or use --sandbox)")
    if not token:
        raise ReconcilerError("no API token: set AUTHENTIK_TOKEN or --token")
    return Connection(url=url, token=token, insecure=insecure)


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--url", envvar="AUTHENTIK_URL", help="authentik base URL [env AUTHENTIK_URL]"),
        click.option("--token", envvar="AUTHENTIK_TOKEN", help="API token [env AUTHENTIK_TOKEN]"),
        click.option("--insecure", envvar="AUTHENTIK_INSECURE", is_flag=True,
                     help="skip TLS verification [env AUTHENTIK_INSECURE]"),
        click.option("--sandbox", is_flag=True, help="run against the embedded authentik emulator"),
        click.option("--api-version", type=click.Choice(known_versions()),
                     help="API model to use (default: the server's version)"),
        click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="secret fingerprint file (default: the nearest reconciler.state.json, "
                          "up to the repository root)"),
        click.option("--resend-secrets", is_flag=True, help="send every write-only secret again"),
        click.option("--ignore-changes", multiple=True, metavar="FIELD",
                     help="never plan changes to FIELD (repeatable)"),
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _plan_options(sandbox: bool, api_version: str | None, state_path: Path | None, resend_secrets: bool,
                  ignore_changes: tuple[str, ...]) -> engine.PlanOptions:
    progress = None
    if sys.stderr.isatty():
        def progress(name: str) -> None:
            click.echo(f"  fetched {name}", err=True)
    return engine.PlanOptions(api_version=api_version, state_path=state_path,
                              keep_state=not sandbox or state_path is not None,
                              resend_secrets=resend_secrets, ignore_changes=frozenset(ignore_changes),
                              progress=progress)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="authentik-reconciler")
@click.option("-v", "--verbose", count=True, help="log what the tool does (to stderr)")
def cli(verbose: int) -> None:
    """GitOps for authentik: validate, plan and apply stage manifests."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                      show_default=True, help="output format")


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--api-version", type=click.Choice(known_versions()), help="API model (default: newest)")
@FORMAT
def validate_command(paths: tuple[Path, ...], api_version: str | None, fmt: str) -> None:
    """Validate manifests offline against the JSON Schema of an API version."""
    version = api_version or engine.latest_version()
    with _errors():
        try:
            objects = engine.validate_paths(list(paths), version)
        except ManifestError as exc:
            # Text problems are errors (stderr); JSON and Markdown are the command's report (stdout).
            click.echo(render_validation(version, 0, exc.problems, fmt), nl=False, err=fmt == "text")
            sys.exit(1)
        click.echo(render_validation(version, len(objects), [], fmt), nl=False)


@cli.command("plan")
@connection_options
@FORMAT
@click.option("--detailed-exitcode", is_flag=True, help="exit 2 when the plan has changes")
def plan_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                 api_version: str | None, state_path: Path | None, resend_secrets: bool,
                 ignore_changes: tuple[str, ...], fmt: str, detailed_exitcode: bool) -> None:
    """Fetch live state and show what apply would change."""
    if not paths:
        _fail("error: give at least one manifest file or directory")
    with _errors():
        connection = _connection(url, token, insecure, sandbox, api_version)
        plan = engine.plan(list(paths), connection,
                           _plan_options(sandbox, api_version, state_path, resend_secrets, ignore_changes))
        click.echo(render_plan(plan, fmt, color=_color(sys.stdout)), nl=False)
    if detailed_exitcode and plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _apply_report(result: ApplyResult, failed_message: str = "") -> str:
    lines = []
    if failed_message:
        lines.append(f"error: {failed_message}")
    lines.append(f"Applied {len(result.applied)} of "
                 f"{len(result.applied) + len(result.not_applied) + (1 if result.failed else 0)} changes.")
    for change in result.applied:
        lines.append(f"  applied:     {change.action} {change.address}")
    if result.failed:
        lines.append(f"  failed:      {result.failed.action} {result.failed.address} "
                     f"({result.failed.method} /api/v3{result.failed.path})")
    for change in result.not_applied:
        lines.append(f"  not applied: {change.action} {change.address}")
    return "\n".join(lines)


@cli.command("apply")
@connection_options
@click.option("--auto-approve", is_flag=True, help="apply without asking")
@click.option("--verify", is_flag=True, help="plan again after applying and fail unless it shows no changes")
def apply_command(paths: tuple[Path, ...], url: str | None, token: str | None, insecure: bool, sandbox: bool,
                  api_version: str | None, state_path: Path | None, resend_secrets: bool,
                  ignore_changes: tuple[str, ...], auto_approve: bool, verify: bool) -> None:
    """Plan, confirm, and make the calls."""
    if not paths:
        _fail("error: give at least one manifest file or directory")
    interactive = sys.stdin.isatty()
    if not auto_approve and not interactive:
        _fail("error: not on a terminal: pass --auto-approve to apply without a confirmation")
    color = _color(sys.stdout)

    def confirm(plan: Plan) -> bool:
        click.echo(render_plan(plan, "text", color=color), nl=False)
        if auto_approve:
            return True
        answer: str = click.prompt("Apply these changes? Only 'yes' is accepted", default="",
                                   show_default=False)
        return answer.strip() == "yes"

    def on_change(change: Change) -> None:
        if sys.stderr.isatty():
            click.echo(f"  {change.action} {change.address} ...", err=True)

    with _errors():
        connection = _connection(url, token, insecure, sandbox, api_version)
        options = _plan_options(sandbox, api_version, state_path, resend_secrets, ignore_changes)
        outcome = engine.apply(list(paths), connection, options, confirm=confirm, on_change=on_change,
                               verify=verify)
        plan, result = outcome.plan, outcome.result
        if not plan.has_changes:
            click.echo(render_plan(plan, "text", color=color), nl=False)
        elif not result.applied and result.ok:
            _fail("Apply cancelled.")
        else:
            click.echo("\n" + _apply_report(result))
        if outcome.verified is not None:
            click.echo("\nVerifying: planning again.")
            click.echo(render_plan(outcome.verified, "text", color=color), nl=False)
            if outcome.verified.has_changes:
                _fail("error: the plan after apply is not empty")


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
    from reconciler.sandbox import serve

    version = api_version or engine.latest_version()

    def ready(url: str) -> None:
        click.echo(f"authentik {version} sandbox on {url}  (token: {token})")
        click.echo(f"  export AUTHENTIK_URL={url} AUTHENTIK_TOKEN={token}")
        click.echo("Press Ctrl-C to stop.")

    with _errors():
        try:
            serve(host=host, port=port, api_version=version, token=token, seed=seed, on_ready=ready)
        except OSError as exc:
            raise ReconcilerError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ReconcilerError(str(exc)) from exc


def main() -> None:
    cli(prog_name="reconciler")
