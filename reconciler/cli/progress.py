"""What the user sees on stderr while a command runs: the live reads, each change of an apply as
it ends, and the waits before a call is sent again."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from reconciler.applying.result import ChangeOutcome
    from reconciler.planning.changes import Plan

__all__ = ["ReadProgress", "ApplyProgress", "PROGRESS_BAR_MIN", "announce_wait"]

PROGRESS_BAR_MIN = 20
"""From this many changes, an apply on a terminal shows a progress bar instead of a line each."""


def announce_wait(message: str) -> None:
    """A wait before a retry, said so that a slow run is not taken for a hung one."""
    click.echo(message, err=True)


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
