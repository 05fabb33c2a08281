"""The repository's own settings, in `reconciler.toml` (TOML, so a manifest folder's `*.yaml` never
picks it up): the nearest one from the manifests up to the repository root, like the state file.

    prune = false              # plan deletes of owned objects that left the manifests (--prune)

    [safety]                   # octoDNS's "unsafe plan" thresholds; --force accepts a plan over them
    max_delete_share = 0.3     # refuse deleting or replacing more than this share of owned objects
    min_owned = 10             # ... when the repository owns at least this many
    protect_brand_flows = true # refuse deleting what another object guards (a flow a brand uses)
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.repo import nearest
from reconciler.values import JsonObject

__all__ = ["CONFIG_FILE", "RepoConfig", "Safety", "find_config", "load_config"]

CONFIG_FILE = "reconciler.toml"


@dataclass(frozen=True, kw_only=True)
class Safety:
    max_delete_share: float = 0.3
    min_owned: int = 10
    protect_brand_flows: bool = True


@dataclass(frozen=True, kw_only=True)
class RepoConfig:
    prune: bool = False
    safety: Safety = Safety()
    path: Path | None = None


def find_config(paths: list[str | Path]) -> Path | None:
    """The nearest `reconciler.toml` from the first path up to the repository root."""
    return nearest(paths, CONFIG_FILE)


TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number"}


def _typed(where: str, data: JsonObject, name: str, kind: type, default: Any, prefix: str = "") -> Any:
    value = data.get(name, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ReconcilerError(f"{where}: {prefix}{name} must be {TYPE_NAMES[kind]}, not {value!r}")
    return value


def load_config(path: Path | None) -> RepoConfig:
    """The settings in `path` (defaults without one); a wrong key or type is an error naming it."""
    if path is None:
        return RepoConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReconcilerError(f"cannot read {path}: {exc}") from exc
    unknown = sorted(set(data) - {"prune", "safety"})
    safety = data.get("safety", {})
    if not isinstance(safety, dict):
        raise ReconcilerError(f"{path}: [safety] must be a table")
    known = {"max_delete_share", "min_owned", "protect_brand_flows"}
    unknown += [f"safety.{key}" for key in sorted(set(safety) - known)]
    if unknown:
        raise ReconcilerError(f"{path}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    share = _typed(str(path), safety, "max_delete_share", float, 0.3, "safety.")
    if not 0 <= share <= 1:
        raise ReconcilerError(f"{path}: safety.max_delete_share must be between 0 and 1, not {share}")
    min_owned = _typed(str(path), safety, "min_owned", int, 10, "safety.")
    if min_owned < 0:
        raise ReconcilerError(f"{path}: safety.min_owned must be 0 or more, not {min_owned}")
    return RepoConfig(
        prune=_typed(str(path), data, "prune", bool, False),
        safety=Safety(max_delete_share=share, min_owned=min_owned,
                      protect_brand_flows=_typed(str(path), safety, "protect_brand_flows", bool, True, "safety.")),
        path=path)
