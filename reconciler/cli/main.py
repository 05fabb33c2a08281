"""The command line's entry point: the `reconciler` group, and `main`, which returns the exit
code of a run (the console script and `python -m reconciler` exit with it).

A run ends in one place: whatever a command returns or raises leaves the group as
`click.exceptions.Exit(code)`, which click's `main` returns (`standalone_mode=False`, as `main`
calls it) or exits with (standalone mode, as `cli()` and click's test runner call it)."""
from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from reconciler.cli.commands import COMMANDS
from reconciler.cli.options import FORMAT, VERBOSE, ReconcilerCommand, server_options
from reconciler.cli.outcomes import REPORTER_KEY, Reporter
from reconciler.model.versions import known_versions

__all__ = ["main", "cli"]


class ReconcilerGroup(click.Group):
    """Click's group, with the contract's exit codes: every error is settled here (`settled`),
    a usage error included, which exits 1 (click's 2 means "changes" to `--detailed-exitcode`
    users), Ctrl-C 130.

    Its options are copies of the commands' (`ReconcilerCommand`) that read no environment
    variable: the command's own option reads it, so `AUTHENTIK_INSECURE=maybe` is an error for
    `plan` and nothing to `validate`, which does not take `--insecure`."""

    command_class = ReconcilerCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            param.envvar = None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """The group's own options. A failure before the command has parsed its own is reported
        in the format the command line asks for."""
        ctx.meta[REPORTER_KEY] = Reporter.guessed(args)
        with settled(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> NoReturn:
        """Run the command; its exit code leaves as `Exit`, as a failure's does."""
        with settled(ctx):
            code = super().invoke(ctx)
        ctx.exit(code)


@contextmanager
def settled(ctx: click.Context) -> Iterator[None]:
    """The one place an error becomes its exit code: written by the run's reporter (the
    command's, once it has parsed its options), then raised as click's `Exit`."""
    try:
        yield
    except click.exceptions.Exit:
        raise
    except BaseException as exc:  # every outcome gets its exit code and message
        reporter: Reporter = ctx.meta[REPORTER_KEY]
        raise click.exceptions.Exit(reporter.settle(exc)) from None


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="These options may also follow the command (`reconciler plan config/ --sandbox -v`); "
                    "written there, they win. Each command's --help lists the options it takes.")
@click.version_option(package_name="authentik-reconciler",
                      message=f"%(prog)s %(version)s (authentik API {', '.join(known_versions())})")
@VERBOSE
@server_options
@FORMAT
def cli(**_options: Any) -> None:
    """GitOps for authentik: validate, plan and apply manifests of stages, flows and policies."""


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's arguments); its exit code."""
    # A short-lived process that builds large trees of plain objects (manifests, live state, the
    # plan) and makes few reference cycles: at the default thresholds the collector walks those
    # trees again and again (a third of the CPU of validating 10,000 objects), so it runs rarely.
    gc.set_threshold(50_000, 20, 50)
    with _terminated_as_interrupted():
        code: int = cli.main(argv, prog_name="reconciler", standalone_mode=False)
    return code


@contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """SIGTERM (a cancelled CI job's second signal, `docker stop`, a Kubernetes pod's end) stops a
    run as Ctrl-C does: an apply cancels what is in flight and reports what was applied, what was
    not and what is unknown, saves the state, and exits 130. Without this the process died at
    once, its report and state lost. Outside the main thread (a test's runner) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    """Hand SIGTERM to whatever takes Ctrl-C now: asyncio's runner while a run's event loop turns
    (it cancels the run, which then reports). Where SIGINT is ignored (a background command of a
    script) asyncio installs no such handler: cancel the loop's tasks the same way (a change
    cancelled mid-call ends unknown, one not started stays not attempted), else raise
    KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise KeyboardInterrupt from None
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.call_soon_threadsafe(lambda: None)  # wake the loop if it waits in select()
