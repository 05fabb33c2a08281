"""Writing an export into a folder, so that the folder is the export: the files it produces, the
manifest schema they point at, and (after a whole-server export) nothing the tool wrote earlier
that this export no longer produces (an object deleted on the server). The tool only ever replaces
or removes files it wrote itself and nobody edited since: each ends with a digest of its content.
It refuses to write beside other YAML, which `reconciler plan DIR` would read together with the
export, or over edited files, unless forced; and it never writes or removes through a symlink in the
folder (forced or not): a linked `stages` folder or file could point anywhere."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.exporting.entries import MARK, Export, schema_file
from reconciler.files import write_atomically
from reconciler.manifests.reading import discover
from reconciler.model.kinds import schema_dir
from reconciler.model.versions import known_sections

__all__ = ["Written", "write_export"]

SCHEMA_ID = "https://authentik-reconciler.invalid/schemas/manifest-"
"""How the published manifest schemas start their `$id`: a schema copy the tool wrote."""
DIGEST = "# content sha256:"
"""The last line of an exported file: the digest of everything above it, so an edited file is told
apart from one the tool can replace."""


def with_digest(text: str) -> str:
    return f"{text}{DIGEST}{hashlib.sha256(text.encode()).hexdigest()}\n"


def _edited(path: Path) -> bool:
    """Whether an exported file was changed since the tool wrote it (or carries no digest)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    body, _, last = text.rstrip("\n").rpartition("\n")
    return not last.startswith(DIGEST) or with_digest(body + "\n") != text


@dataclass(frozen=True)
class Written:
    """What writing an export did: files written (new or changed), left as they were (same bytes),
    and removed (written by an earlier export, not produced now)."""

    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    removed: tuple[Path, ...]


def _ours(path: Path, directory: Path) -> bool:
    """A file an export wrote: in one of the layout's folders, its mark in the first lines."""
    if path.parent.parent != directory or path.parent.name not in known_sections() or path.suffix != ".yaml":
        return False
    try:
        with path.open(encoding="utf-8") as file:
            head = [file.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(MARK) for line in head)


def _our_schema(path: Path) -> bool:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("$id", "")).startswith(SCHEMA_ID)
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def _listing(paths: list[Path], directory: Path) -> str:
    shown = [str(p.relative_to(directory)) for p in paths[:3]]
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(shown) + more


def write_export(export: Export, directory: Path, *, force: bool = False) -> Written:
    """Write `export.files` under `directory`, with a copy of the manifest schema they point at;
    remove the files of an earlier export that this one does not produce. Refuse, writing
    nothing, when `directory` holds YAML the tool did not write, unless `force` (then that YAML is
    left alone, or overwritten where the export writes the same path). A symlink where it would
    write or remove (a file, or a folder of the layout) is refused, forced or not."""
    contents = {_inside(directory, file.path): with_digest(file.text).encode() for file in export.files}
    schema = directory / schema_file(export.api_version)
    _refuse_links(directory, [*contents, schema])
    ours, foreign = _existing(directory, force)
    schema_bytes = (schema_dir() / schema.name).read_bytes()
    # Replaced or removed: only files this export produces, or (after a whole-server export) the
    # ones it no longer produces; never a file edited since it was written.
    stale = [path for path in ours if path not in contents] if export.complete else []
    removed = [*stale, *_stale_schemas(directory, {**contents, schema: schema_bytes})]
    _refuse_links(directory, removed)
    _refuse_edited(directory, [*ours, *foreign], contents, stale, force)
    contents[schema] = schema_bytes
    changes = _Changes()
    try:
        changes.write(contents)
        changes.remove(removed)
        changes.tidy(directory)
    except OSError as exc:
        raise ReconcilerError(f"cannot write {changes.current}: {exc.strerror or exc}") from exc
    return Written(tuple(changes.written), tuple(changes.unchanged), tuple(changes.removed))


def _inside(directory: Path, relative: str) -> Path:
    """Where an exported file goes: a relative path that stays inside `directory`."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ReconcilerError(f"cannot export {relative!r}: not a path inside {directory}")
    return directory / path


def _link_in(directory: Path, path: Path) -> Path | None:
    """The first symlink on the way from `directory` (which the user named: it may be one) to
    `path`, the file itself included."""
    for depth in range(1, len(path.relative_to(directory).parts) + 1):
        step = directory.joinpath(*path.relative_to(directory).parts[:depth])
        if step.is_symlink():
            return step
    return None


def _refuse_links(directory: Path, paths: list[Path]) -> None:
    """Refuse, writing nothing and forced or not, when a file the export would write or remove, or
    a folder of the layout, is a symlink: writing through it would change a file elsewhere."""
    links = dict.fromkeys(link for path in [*paths, *(directory / name for name in known_sections())]
                          if (link := _link_in(directory, path)) is not None)
    if links:
        shown = "; ".join(f"{link} links to {os.readlink(link)}" for link in links)
        raise ReconcilerError(f"cannot export into {directory}: the export never writes through a symlink ({shown}):"
                              " remove the link, or export into another folder")


def _existing(directory: Path, force: bool) -> tuple[list[Path], list[Path]]:
    """The YAML already in `directory`: the files an export wrote, and the rest (refused unless
    `force`, since `reconciler plan DIR` would read it together with the export)."""
    if directory.exists() and not directory.is_dir():
        raise ReconcilerError(f"cannot export into {directory}: not a folder")
    existing = discover([directory]) if directory.is_dir() else []
    ours = [path for path in existing if _ours(path, directory)]
    mine = set(ours)
    foreign = [path for path in existing if path not in mine]
    if foreign and not force:
        raise ReconcilerError(f"{directory} holds YAML that is not an export of this tool "
                              f"({_listing(foreign, directory)}): export into an empty folder, or pass --force to "
                              "write beside it")
    return ours, foreign


def _refuse_edited(directory: Path, existing: list[Path], contents: dict[Path, bytes], stale: list[Path],
                   force: bool) -> None:
    """Refuse, unless `force`, to replace or remove a file edited since it was exported (one
    that already holds the bytes it would get is no loss)."""
    edited = [path for path in existing if (path in contents or path in stale) and _edited(path)
              and not (path.is_file() and path.read_bytes() == contents.get(path))]
    if edited and not force:
        raise ReconcilerError(f"{directory} has files edited since they were exported ({_listing(edited, directory)}):"
                              " commit or move them first, or pass --force to replace them")


def _stale_schemas(directory: Path, contents: dict[Path, bytes]) -> list[Path]:
    """Schema copies an earlier export wrote for another API version."""
    return [path for path in sorted(directory.glob("manifest-*.schema.json"))
            if path not in contents and _our_schema(path)]


class _Changes:
    """What writing an export has done so far, and the path it is at (for the error that stops it)."""

    def __init__(self) -> None:
        self.written: list[Path] = []
        self.unchanged: list[Path] = []
        self.removed: list[Path] = []
        self.current: Path | None = None

    def write(self, contents: dict[Path, bytes]) -> None:
        """Each file in path order, left alone when it already holds its bytes."""
        for path, data in sorted(contents.items()):
            self.current = path
            _not_a_link(path)
            if path.is_file() and path.read_bytes() == data:
                self.unchanged.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            _not_a_link(path.parent)
            write_atomically(path, data)
            self.written.append(path)

    def remove(self, stale: list[Path]) -> None:
        for path in stale:
            self.current = path
            _not_a_link(path)
            path.unlink()
            self.removed.append(path)

    def tidy(self, directory: Path) -> None:
        """Remove the layout's folders the removals left empty."""
        for family in known_sections():
            folder = self.current = directory / family
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _not_a_link(path: Path) -> None:
    """Checked again right before each write: a link made since the first check is refused too."""
    if path.is_symlink():
        raise ReconcilerError(f"cannot write {path}: it is a symlink (to {os.readlink(path)}), never written through")
