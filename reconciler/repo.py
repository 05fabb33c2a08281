"""Where a config repository's own files are: the nearest one from the manifests up to the
repository root (the folder holding `.git`), so `plan repo/` and `plan repo/sub/` share them."""
from __future__ import annotations

from pathlib import Path

__all__ = ["folders_up", "named_path", "nearest", "repository_root"]


def folders_up(paths: list[str | Path]) -> list[Path]:
    """The folder of the first path, then each parent up to the repository root (all of them when
    there is no repository)."""
    first = Path(paths[0]).resolve() if paths else Path.cwd()
    start = first if first.is_dir() else first.parent
    folders = []
    for folder in (start, *start.parents):
        folders.append(folder)
        if (folder / ".git").exists():
            break
    return folders


def nearest(paths: list[str | Path], name: str) -> Path | None:
    """The nearest existing `name` on the way up, or None."""
    return next((folder / name for folder in folders_up(paths) if (folder / name).exists()), None)


def repository_root(paths: list[str | Path]) -> Path:
    """The config repository of the manifests: the folder holding `.git` above the first path,
    else the folder of the first path. What manifests and `{file}` secrets are read within."""
    folders = folders_up(paths)
    return folders[-1] if (folders[-1] / ".git").exists() else folders[0]


def named_path(path: str | Path) -> Path:
    """A manifest's path as the user named it, made absolute: the folders on the way resolved, the
    file itself not (a symlinked manifest is known by the link, not by its target); a folder
    resolved whole. Ownership records are compared in this form."""
    absolute = Path(path).absolute()
    if absolute.is_dir():
        return absolute.resolve()
    return absolute.parent.resolve() / absolute.name
