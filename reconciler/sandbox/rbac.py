"""A role's permissions (directory recordings 162-177 of both versions): assigned and unassigned
through `/rbac/permissions/assigned_by_roles/{role}/…`, globally or on one object, and listed from
the permission catalogue of the fresh install (`/rbac/permissions/`)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.values import Json, JsonObject

from .store import Store

CATALOGUE = "/rbac/permissions/"
ROLE = "role"
REQUIRED = "This field is required."
NOT_A_CHOICE = '"{value}" is not a valid choice.'
GLOBAL_CODENAME = "When assigning global permissions, codename must be given as app_label.codename"  # 165


class ServerFailure(Exception):
    """The server's own code fails (405 server-error quirk): a bare codename with a model in 2026
    (163, ValueError), an unknown permission (166, Permission.DoesNotExist)."""


@dataclass
class Grant:
    permission: int
    model: str | None = None
    object_pk: str | None = None


@dataclass
class RoleGrants:
    store: Store
    bare_object_codenames: bool
    """2023 takes `view_group` with a model (163); 2026 fails on it."""
    grants: dict[str, list[Grant]] = field(default_factory=dict)
    rows: dict[bool, int] = field(default_factory=dict)
    """The last row id of the global and the per-object permission tables: an assign answers the
    ids of the rows it wrote, not the permissions' (162: 303, 304; 164: 97 on the lab's tables)."""

    @property
    def catalogue(self) -> list[JsonObject]:
        return self.store.lists.get(CATALOGUE, [])

    def models(self) -> set[str]:
        return {f"{row['app_label']}.{row['model']}" for row in self.catalogue}

    def find(self, codename: str, model: str | None) -> JsonObject:
        """The catalogue row a codename names (`app_label.codename`, or bare with a model)."""
        app_label, _, name = codename.rpartition(".")
        if not app_label:
            if model is None:
                raise ValueError(GLOBAL_CODENAME)
            if not self.bare_object_codenames:
                raise ServerFailure(codename)
            app_label = model.split(".")[0]
        row = next((row for row in self.catalogue if row["app_label"] == app_label and row["codename"] == name), None)
        if row is None:
            raise ServerFailure(codename)
        return row

    def errors(self, body: Mapping[str, Json]) -> JsonObject:
        """Field errors of an assign or unassign body, as DRF lists them (165, 169, 170)."""
        errors: JsonObject = {}
        permissions = body.get("permissions")
        if not isinstance(permissions, list):
            errors["permissions"] = [REQUIRED]
        model = body.get("model")
        if model is not None and model not in self.models():
            errors["model"] = [NOT_A_CHOICE.format(value=model)]
        if not errors and model is None and any("." not in str(p) for p in permissions or []):
            errors["permissions"] = [GLOBAL_CODENAME]
        return errors

    def assign(self, role: str, body: Mapping[str, Json]) -> list[int]:
        """Grant each permission; an object_pk that names no object grants it globally (168)."""
        model = body.get("model")
        object_pk = body.get("object_pk")
        rows = [self.find(str(codename), str(model) if model else None) for codename in body["permissions"] or []]
        on_object = model is not None and object_pk is not None and self.object_exists(str(object_pk))
        held = self.grants.setdefault(role, [])
        added = []
        for row in rows:
            grant = Grant(int(row["id"]), str(model) if on_object else None, str(object_pk) if on_object else None)
            if grant not in held:
                held.append(grant)
            self.rows[on_object] = self.rows.get(on_object, 0) + 1
            added.append(self.rows[on_object])
        self.store.generation += 1
        return added

    def unassign(self, role: str, body: Mapping[str, Json]) -> None:
        model = str(body["model"]) if body.get("model") else None
        object_pk = str(body["object_pk"]) if body.get("object_pk") is not None else None
        ids = {int(self.find(str(codename), model)["id"]) for codename in body["permissions"] or []}
        self.grants[role] = [g for g in self.grants.get(role, [])
                             if not (g.permission in ids and g.object_pk == object_pk)]
        self.store.generation += 1

    def object_exists(self, pk: str) -> bool:
        return any(str(key) == pk for key in self.store.kind_of)

    def global_rows(self, role: str) -> list[JsonObject]:
        """The catalogue rows a role holds globally, by id (172)."""
        ids = {g.permission for g in self.grants.get(role, []) if g.object_pk is None}
        return [row for row in self.catalogue if int(row["id"]) in ids]

    def forget(self, role: str) -> None:
        """A deleted role's grants go with it (2026 192-197)."""
        self.grants.pop(role, None)
