"""Logging for `-v`: to the stderr of this run, with every credential scrubbed from every record
(httpx's own included)."""
from __future__ import annotations

import logging
import re
import sys

import click

__all__ = ["LogScrubber", "SCRUBBER_KEY", "log_to_stderr"]

SCRUBBER_KEY = "reconciler.log_scrubber"
"""Where the context keeps the run's `LogScrubber`, so the connection can add its token."""

USERINFO = re.compile(r"(\w://)[^/\s@]+@")


class LogScrubber(logging.Filter):
    """Removes credentials from every log record: the userinfo of any URL (`https://user:pass@`)
    and the API token (`secrets`, added once known)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        from reconciler.values import scrubbed

        return scrubbed(USERINFO.sub(r"\1", text), self.secrets)

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


def log_to_stderr(ctx: click.Context, verbose: int) -> None:
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
