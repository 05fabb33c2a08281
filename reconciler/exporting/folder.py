"""Writing an export into a folder, so that the folder is the export: the files it produces, the
manifest schema they point at, and (after a whole-server export) nothing the tool wrote earlier
that this export no longer produces (an object deleted on the server). The tool only ever replaces
or removes files it wrote itself and nobody edited since: each ends with a digest of its content.
It refuses to write beside other YAML, which `reconciler plan DIR` would read together with the
export, or over edited files, unless forced."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.exporting.entries import MARK, Export, schema_file
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
    left alone, or overwritten where the export writes the same path)."""
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
    contents = {directory / file.path: with_digest(file.text).encode() for file in export.files}
    # Replaced or removed: only files this export produces, or (after a whole-server export) the
    # ones it no longer produces; never a file edited since it was written.
    stale = [path for path in ours if path not in contents] if export.complete else []
    edited = [path for path in [*ours, *foreign] if (path in contents or path in stale) and _edited(path)
              and not (path.is_file() and path.read_bytes() == contents.get(path))]
    if edited and not force:
        raise ReconcilerError(f"{directory} has files edited since they were exported ({_listing(edited, directory)}):"
                              " commit or move them first, or pass --force to replace them")
    schema = directory / schema_file(export.api_version)
    contents[schema] = (schema_dir() / schema.name).read_bytes()
    written: list[Path] = []
    unchanged: list[Path] = []
    removed: list[Path] = []
    current = None
    try:
        for path, data in sorted(contents.items()):
            current = path
            if path.is_file() and path.read_bytes() == data:
                unchanged.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
        stale += [path for path in sorted(directory.glob("manifest-*.schema.json"))
                  if path not in contents and _our_schema(path)]
        for path in stale:
            current = path
            path.unlink()
            removed.append(path)
        for family in known_sections():
            folder = current = directory / family
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    except OSError as exc:
        raise ReconcilerError(f"cannot write {current}: {exc.strerror or exc}") from exc
    return Written(tuple(written), tuple(unchanged), tuple(removed))
