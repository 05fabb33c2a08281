"""How a run ends. Every outcome maps to one exit code (0 ok, 1 an error the user can act on,
2 changes with --detailed-exitcode, 3 an internal error, 130 interrupted) and one message, as
JSON too with `--format json`; nothing prints a traceback at a user."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click

from reconciler.cli.github import annotate, escape, github_annotations
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
from reconciler.values import JsonObject

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_CHANGES", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "Outcome", "outcome_of",
           "crash_report", "ArgumentError", "Reporter", "REPORTER_KEY"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

REPORTER_KEY = "reconciler.reporter"
"""Where the context keeps the `Reporter` a failure is written with: guessed from the command
line until the command has parsed its own options, then the command's."""


class ArgumentError(ReconcilerError):
    """Arguments that do not go together, found by a command rather than by click's parser: said
    in one line, without the usage, and as a usage error in JSON. (A `click.UsageError` raised in
    a command would be given the command's context by click, and so its usage.)"""


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code, the message for people, and the same for machines."""

    code: int
    message: str
    data: JsonObject
    problems: tuple[Problem, ...] = ()
    report: JsonObject | None = None
    """An apply's plan and result, printed beside the error (the report goes to stdout)."""


def crash_report() -> Outcome:
    """An unexpected error (called while it is handled): its traceback goes to a log file, not at
    the user, who gets one line naming the file (pre-commit's error handler does the same)."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="reconciler-crash-", suffix=".log", delete=False) as log:
        log.write(traceback.format_exc())
    return Outcome(EXIT_INTERNAL, f"error: unexpected internal error; details in {log.name}",
                   {"type": "internal", "message": "unexpected internal error", "traceback_file": log.name})


@functools.singledispatch
def outcome_of(exc: BaseException) -> Outcome:
    """The one place exceptions become exit codes and messages, by the exception's class (the
    functions registered below); a run SIGTERM cancelled is interrupted (cli/main.py
    `_interrupt`); anything else is an internal error."""
    asyncio = sys.modules.get("asyncio")  # not imported for `--help`: 17 ms of start-up
    if asyncio is not None and isinstance(exc, asyncio.CancelledError):
        return _interrupted(exc)
    return crash_report()


@outcome_of.register
def _manifest_problems(exc: ManifestError) -> Outcome:
    from reconciler.cli.rendering import render_validation

    kind = "plan" if isinstance(exc, PlanError) else "manifest"
    text = render_validation("", 0, exc.problems, "text").rstrip("\n")
    return Outcome(EXIT_ERROR, text, {"type": kind, "message": f"{len(exc.problems)} problem(s)",
                                      "problems": [p.__dict__ for p in exc.problems]}, tuple(exc.problems))


@outcome_of.register
def _apply_failed(exc: ApplyError) -> Outcome:
    """An apply that did not make every change: the exact report, and the exit code of what ended
    it (130 interrupted, 3 an internal error, with its traceback file, 1 otherwise)."""
    from reconciler.cli.rendering import render_apply
    from reconciler.planning.changes import Plan

    report = {"plan": exc.plan.data if isinstance(exc.plan, Plan) else None, "result": exc.result.data}
    if exc.internal:
        internal = crash_report()
        return Outcome(EXIT_INTERNAL, render_apply(exc.result) + "\n" + internal.message,
                       {**internal.data, "result": exc.result.data}, report=report)
    code = EXIT_INTERRUPTED if exc.interrupted else EXIT_ERROR
    return Outcome(code, render_apply(exc.result, error=str(exc)),
                   {"type": "interrupted" if exc.interrupted else "apply", "message": str(exc),
                    "result": exc.result.data}, report=report)


def _error(exc: BaseException, data: JsonObject) -> Outcome:
    return Outcome(EXIT_ERROR, f"error: {exc}", data)


@outcome_of.register
def _unsafe_plan(exc: UnsafePlanError) -> Outcome:
    return _error(exc, {"type": "unsafe_plan", "message": "the plan is unsafe", "reasons": exc.reasons,
                        "changes": exc.changes})


@outcome_of.register
def _stale_plan(exc: StalePlanError) -> Outcome:
    return _error(exc, {"type": "stale_plan", "message": "the saved plan is stale", "reasons": exc.reasons})


@outcome_of.register
def _api_failed(exc: ApiError) -> Outcome:
    return _error(exc, {"type": "api", "message": str(exc), "method": exc.method, "path": exc.path,
                        "status": exc.status})


@outcome_of.register
def _bad_plan_file(exc: PlanFileError) -> Outcome:
    return _error(exc, {"type": "plan_file", "message": str(exc)})


@outcome_of.register
def _argument_error(exc: ArgumentError) -> Outcome:
    return _error(exc, {"type": "usage", "message": str(exc)})


@outcome_of.register
def _reconciler_error(exc: ReconcilerError) -> Outcome:
    return _error(exc, {"type": "error", "message": str(exc)})


@outcome_of.register
def _usage_error(exc: click.UsageError) -> Outcome:
    """Click's own wording: the usage, where to find help, the error."""
    message = exc.format_message()
    text = f"error: {message}" if exc.ctx is None else (
        f"{exc.ctx.get_usage()}\nTry '{exc.ctx.command_path} --help' for help.\n\nError: {message}")
    return Outcome(EXIT_ERROR, text, {"type": "usage", "message": message})


@outcome_of.register(KeyboardInterrupt)
@outcome_of.register(click.exceptions.Abort)
def _interrupted(exc: BaseException) -> Outcome:
    return Outcome(EXIT_INTERRUPTED, "interrupted", {"type": "interrupted", "message": "interrupted"})


@dataclass(frozen=True)
class Reporter:
    """Settles a failure: writes it in the output format asked for, text on stderr or JSON on
    stdout (so a cron job can parse every outcome), plus GitHub annotations on GitHub Actions.
    `keys`: the top-level keys of the command's JSON report, null when the failure came before
    them (apply's `plan`, `result`, `verified`), so a failure has the shape of a success plus
    `error`. An apply's report goes to stdout, as it does on success."""

    fmt: str = "text"
    keys: tuple[str, ...] = ()

    @classmethod
    def guessed(cls, args: Sequence[str]) -> Reporter:
        """The reporter of a command line click could not parse: JSON if it asked for JSON."""
        wants_json = any(arg == "--format=json" or (arg == "--format" and list(args[i + 1:i + 2]) == ["json"])
                         for i, arg in enumerate(args))
        return cls("json" if wants_json else "text")

    def settle(self, exc: BaseException) -> int:
        """The exit code `exc` ends the run with, its message written."""
        if isinstance(exc, BrokenPipeError):
            return self._unread()
        outcome = outcome_of(exc)
        annotate(_annotations(outcome), self.fmt)
        if self.fmt == "json":
            self._json(outcome)
        else:
            click.echo(outcome.message, err=outcome.report is None)
        return outcome.code

    def _json(self, outcome: Outcome) -> None:
        shape: JsonObject = {**dict.fromkeys(self.keys), **(outcome.report or {})} if self.keys else {}
        click.echo(json.dumps({**shape, "error": outcome.data}, indent=2, ensure_ascii=False))

    def _unread(self) -> int:
        """A pipe whose reader has gone. The error does not say which: with JSON asked for, the
        report of every outcome is still owed on stdout (stderr's reader may be the one that went:
        a log forwarder), so it is written if stdout takes it; else, or in text, quietly."""
        if self.fmt == "json":
            try:
                self._json(Outcome(EXIT_ERROR, OUTPUT_CLOSED, {"type": "output_closed", "message": OUTPUT_CLOSED}))
            except BrokenPipeError:
                pass
            else:
                return EXIT_ERROR
        elif self.keys:  # an apply: its changes are made and its state saved, report or not
            with contextlib.suppress(BrokenPipeError):
                click.echo(f"error: {APPLY_UNREPORTED}", err=True)
        return _unread()


APPLY_UNREPORTED = ("the apply ran, but its report could not be written (stdout's reader stopped); "
                    "the state file holds what was applied, and a plan shows what is left")
OUTPUT_CLOSED = "output closed: the reader of stdout or stderr stopped before the run's output was written"


def _unread() -> int:
    """Output whose reader has gone (`reconciler --help | true`, `reconciler export | head`): exit 1
    quietly, as click does for its help, and write nothing more to the closed pipe, not even at
    exit. No crash log: the reader stopping is not a bug. (An apply that loses its output midway
    still ends as its report says: `ApplyError` carries the outcome, not this.)"""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the process's stdout from now on
    return EXIT_ERROR


def _annotations(outcome: Outcome) -> list[str]:
    """One annotation per problem of a manifest, else per reason of an unsafe or stale plan, else
    the message's first line."""
    if outcome.problems:
        return github_annotations(list(outcome.problems))
    reasons = [f"::error::{escape(reason)}" for reason in outcome.data.get("reasons", [])]
    return reasons or [f"::error::{escape(outcome.message.splitlines()[0])}"]
