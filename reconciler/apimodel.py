"""The compact model of one authentik API version, generated into `schemas/` by
`scripts/generate_model.py`. The validator, the diff, the client and the sandbox all read it, so a
new authentik version is data, not code."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["ApiModel", "Field", "Kind", "Target", "load_model", "schema_dir", "known_versions"]


def schema_dir() -> Path:
    """`reconciler/schemas` in an installed wheel, the repository's `schemas/` in a checkout."""
    packaged = Path(__file__).parent / "schemas"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "schemas"


def known_versions() -> list[str]:
    """API versions with a model, oldest first."""
    versions = [p.name[len("api-"):-len(".json")] for p in schema_dir().glob("api-*.json")]
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")))


@dataclass(frozen=True)
class Field:
    """One writable field: its JSON type and constraints as the request schema gives them."""

    name: str
    spec: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.spec.get("type", "string"))

    @property
    def nullable(self) -> bool:
        return bool(self.spec.get("nullable"))

    @property
    def write_only(self) -> bool:
        return bool(self.spec.get("write_only"))

    @property
    def sensitive(self) -> bool:
        """Write-only fields and the known secrets the server returns in clear."""
        return self.write_only or bool(self.spec.get("sensitive"))

    @property
    def reference(self) -> str | None:
        """The target kind (`flow`, `stage`, ...) when the field holds ids of other objects."""
        ref = self.spec.get("reference")
        return str(ref) if ref else None

    @property
    def reference_kind(self) -> str | None:
        """The one kind a stage reference accepts (`password_stage`: `password`), if restricted."""
        kind = self.spec.get("reference_kind")
        return str(kind) if kind else None

    @property
    def is_list(self) -> bool:
        return self.type == "array"

    @property
    def items(self) -> dict[str, Any]:
        return dict(self.spec.get("items", {}))


@dataclass(frozen=True)
class Kind:
    """An object kind under `/stages/`: where it lives and what its fields are."""

    name: str
    path: str
    model: str
    family: str
    fields: dict[str, Field]
    required: tuple[str, ...]
    read_only: tuple[str, ...]
    response_order: tuple[str, ...]
    defaults: dict[str, Any]
    no_default: tuple[str, ...]
    constants: dict[str, Any]
    patch_companions: tuple[str, ...]

    def detail_path(self, pk: str) -> str:
        return f"{self.path}{pk}/"

    @property
    def sensitive_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.fields.items() if f.sensitive)

    @property
    def write_only_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.fields.items() if f.write_only)


@dataclass(frozen=True)
class Target:
    """Objects a reference can point at, listed read-only: `{flow: SLUG}` looks up `slug`."""

    name: str
    path: str
    key: str
    id: str


@dataclass(frozen=True)
class ApiModel:
    version: str
    kinds: dict[str, Kind]
    targets: dict[str, Target]
    raw: dict[str, Any] = field(repr=False, compare=False)

    def target_of(self, kind: Kind) -> str | None:
        """The reference target a kind's objects are (`stage` for every stage kind, `prompt_field`),
        if references can point at them."""
        return kind.family if kind.family in self.targets else None

    def kind_for_path(self, path: str) -> Kind | None:
        for kind in self.kinds.values():
            if kind.path == path:
                return kind
        return None


@cache
def load_model(version: str) -> ApiModel:
    """Load the model of `version`; raises `KeyError` naming the versions that exist."""
    path = schema_dir() / f"api-{version}.json"
    if not path.exists():
        raise KeyError(f"no API model for authentik {version} (known: {', '.join(known_versions())})")
    raw = json.loads(path.read_text())
    kinds = {
        name: Kind(
            name=name,
            path=spec["path"],
            model=spec["model"],
            family=spec["family"],
            fields={fname: Field(fname, fspec) for fname, fspec in spec["fields"].items()},
            required=tuple(spec["required"]),
            read_only=tuple(spec["read_only"]),
            response_order=tuple(spec["response_order"]),
            defaults=dict(spec["defaults"]),
            no_default=tuple(spec.get("no_default", [])),
            constants=dict(spec["constants"]),
            patch_companions=tuple(spec["patch_companions"]),
        )
        for name, spec in raw["kinds"].items()
    }
    targets = {name: Target(name=name, **spec) for name, spec in raw["targets"].items()}
    return ApiModel(version=raw["api_version"], kinds=kinds, targets=targets, raw=raw)
