"""Writing a file so that a reader (another run, git, an editor) sees the old one or the new one,
never part of one: the saved plan, the state file and every exported file."""
from __future__ import annotations

import os
import secrets
from contextlib import suppress
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a new file beside `path` (hidden, so never read as a manifest), synced, then
    rename it over `path` and sync the folder: after a crash the new file is on disk or the old one
    is. A rename replaces a link at `path` rather than following it; callers that mean to write
    through a link pass its target."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # A new name, never a link: O_EXCL refuses whatever is there; the umask sets the mode as usual.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:  # Ctrl-C too: no temporary file is left behind
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        with suppress(OSError):  # some file systems refuse to sync a folder: the rename is as durable as they make it
            os.fsync(folder)
    finally:
        os.close(folder)
