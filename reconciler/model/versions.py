"""Which API versions the tool has a model of: a listing of the schema folder, kept apart from
the model itself so the command line can offer the versions without loading a model."""
from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

__all__ = ["schema_dir", "known_versions", "known_sections", "latest_version"]


MODEL_DIR_VARIABLE = "RECONCILER_MODEL_DIR"
"""Names a folder of generated model files to use instead of the packaged ones: a generator change
tried without reinstalling, or a test's own family (tests/test_synthetic_family.py)."""


def schema_dir() -> Path:
    """`reconciler/schemas` in an installed wheel, the repository's `schemas/` in a checkout, or
    the folder `RECONCILER_MODEL_DIR` names."""
    override = os.environ.get(MODEL_DIR_VARIABLE)
    if override:
        return Path(override)
    packaged = Path(__file__).parent.parent / "schemas"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent.parent / "schemas"


def known_versions() -> list[str]:
    """API versions with a model, oldest first."""
    return list(_versions())


def latest_version() -> str:
    """The newest API version with a model: what a run uses when neither the server nor the user
    says."""
    return known_versions()[-1]


@cache
def _versions() -> tuple[str, ...]:
    """The packaged models are fixed for a process: the folder is listed once."""
    versions = [p.name[len("api-"):-len(".json")] for p in schema_dir().glob("api-*.json")]
    return tuple(sorted(versions, key=lambda v: tuple(int(x) for x in v.split("."))))


@cache
def known_sections() -> dict[str, tuple[str, str]]:
    """Every manifest section some known version has, in export order, with its noun (singular,
    plural): generated beside the models (`families.json`) so the command line and messages name
    the families without loading a model."""
    raw = json.loads((schema_dir() / "families.json").read_text())
    return {section: (str(nouns[0]), str(nouns[1])) for section, nouns in raw["sections"].items()}
