"""A role's permissions (directory recordings 162-197 of both versions): assigned and unassigned
through `/rbac/permissions/assigned_by_roles/{role}/…`, globally or on one object, listed per role
(`?role=`, `assigned_by_roles/?model=`), and listed from the permission catalogue of the fresh
install (`/rbac/permissions/`). Each grant is a row of one of two tables, the global (model) and
the per-object permissions, numbered by that table's own sequence."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reconciler.values import Json, JsonObject

from .store import Store

CATALOGUE = "/rbac/permissions/"
ROLE = "role"
REQUIRED = "This field is required."
NOT_A_CHOICE = '"{value}" is not a valid choice.'
GLOBAL_CODENAME = "When assigning global permissions, codename must be given as app_label.codename"  # 165
MODEL_ROWS = "model"
OBJECT_ROWS = "object"


class ServerFailure(Exception):
    """The server's own code fails (405 server-error quirk): a bare codename with a model in 2026
    (163, ValueError), an unknown permission (166, Permission.DoesNotExist)."""


@dataclass
class Grant:
    permission: int
    model: str | None = None
    object_pk: str | None = None
    row: int = field(default=0, compare=False)
    """Its row's id in its table: what an assign answers (2026 162: 303, 304; 164: 97) and the
    listings show (173)."""
    described: JsonObject | None = field(default=None, compare=False)
    """A seeded permission the catalogue does not list (Django's own `auth.view_group`, which the
    2026 read-only role holds: 173): its codename, model, app label and name."""

    @property
    def table(self) -> str:
        return MODEL_ROWS if self.object_pk is None else OBJECT_ROWS


@dataclass
class RoleGrants:
    """The grants of every role, by owner: the role's pk, or in 2023 its name, since 2023 keeps a
    Django group per role name with its permissions after the role is deleted and gives them to
    a new role of that name (196)."""

    store: Store
    bare_object_codenames: bool
    """2023 takes `view_group` with a model (163); 2026 fails on it."""
    by_name: bool = False
    grants: dict[str, list[Grant]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    """The last row id of each table; a seed may start them where its install's were."""

    def seed(self, data: Mapping[str, Json] | None) -> None:
        """Grants and table sequences of the install (a seed's `rbac`: `{"rows": {"model": N,
        "object": N}, "grants": [{"role", "id", "permission", "model", "object_pk"}]}`; a grant
        of a permission the catalogue lacks has no `permission` but its `codename`, `model_name`,
        `app_label` and `name`)."""
        rows = (data or {}).get("rows")
        if isinstance(rows, dict):
            self.rows.update({str(k): v for k, v in rows.items() if isinstance(v, int)})
        grants = (data or {}).get("grants")
        for item in grants if isinstance(grants, list) else []:
            if isinstance(item, dict):
                permission = item.get("permission")
                grant = Grant(int(str(permission)) if permission is not None else 0, optional(item.get("model")),
                              optional(item.get("object_pk")), int(str(item["id"])),
                              None if permission is not None else
                              {key: item.get(key) for key in ("codename", "model_name", "app_label", "name")})
                self.grants.setdefault(self.owner(str(item["role"])), []).append(grant)
                self.rows[grant.table] = max(self.rows.get(grant.table, 0), grant.row)

    @property
    def catalogue(self) -> list[JsonObject]:
        return self.store.lists.get(CATALOGUE, [])

    def owner(self, role: str) -> str:
        values = self.store.values.get(ROLE, {}).get(role)
        return str(values.get("name")) if self.by_name and values is not None else role

    def held(self, role: str) -> list[Grant]:
        return self.grants.get(self.owner(role), [])

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
        """Grant each permission; an object_pk that names no object grants it globally (168). A
        grant held already keeps its row (guardian's get_or_create)."""
        model = body.get("model")
        object_pk = body.get("object_pk")
        rows = [self.find(str(codename), str(model) if model else None) for codename in body["permissions"] or []]
        on_object = model is not None and object_pk is not None and self.object_exists(str(object_pk))
        held = self.grants.setdefault(self.owner(role), [])
        added = []
        for row in rows:
            grant = Grant(int(row["id"]), str(model) if on_object else None, str(object_pk) if on_object else None)
            same = next((g for g in held if g == grant), None)
            if same is None:
                self.rows[grant.table] = grant.row = self.rows.get(grant.table, 0) + 1
                held.append(grant)
            added.append((same or grant).row)
        self.store.generation += 1
        return added

    def unassign(self, role: str, body: Mapping[str, Json]) -> None:
        model = str(body["model"]) if body.get("model") else None
        object_pk = str(body["object_pk"]) if body.get("object_pk") is not None else None
        ids = {int(self.find(str(codename), model)["id"]) for codename in body["permissions"] or []}
        owner = self.owner(role)
        self.grants[owner] = [g for g in self.grants.get(owner, [])
                              if not (g.permission in ids and g.object_pk == object_pk)]
        self.store.generation += 1

    def object_exists(self, pk: str) -> bool:
        return any(str(key) == pk for key in self.store.kind_of)

    def global_rows(self, role: str) -> list[JsonObject]:
        """The catalogue rows a role holds globally, by id (172)."""
        ids = {g.permission for g in self.held(role) if g.object_pk is None}
        return [row for row in self.catalogue if int(row["id"]) in ids]

    def forget(self, role: str) -> None:
        """A deleted role's grants go with it (2026 192-197); 2023 keeps them by name (196)."""
        if not self.by_name:
            self.grants.pop(role, None)

    # -- assigned_by_roles/?model= (173, 174) -----------------------------------------------------
    def concerns(self, role: str, model: str, object_pk: str | None) -> bool:
        """The role holds a permission on the model: globally, or on the object asked for (on any
        of the model's objects without one)."""
        return any(self.model_of(g) == model and (g.object_pk is None or object_pk in (None, g.object_pk))
                   for g in self.held(role))

    def model_of(self, grant: Grant) -> str:
        row = self.row(grant)
        return f"{row.get('app_label')}.{row.get('model')}"

    def row(self, grant: Grant) -> JsonObject:
        if grant.described is not None:
            return {**grant.described, "model": grant.described.get("model_name")}
        return next((row for row in self.catalogue if int(row["id"]) == grant.permission), {})

    def shown(self, grant: Grant) -> JsonObject:
        """A grant as the role listings show it: its row id, the permission, the object."""
        row = self.row(grant)
        item: JsonObject = {"id": grant.row, "codename": row.get("codename"), "model": row.get("model"),
                            "app_label": row.get("app_label")}
        if grant.object_pk is not None:
            item["object_pk"] = grant.object_pk
        item["name"] = row.get("name")
        return item

    def listed(self, role: str, split: bool) -> JsonObject:
        """A role's entry: 2026 its object and model permissions apart; 2023 only its object
        permissions, as one `permissions` list (173, 174)."""
        held = sorted(self.held(role), key=lambda g: g.row)
        objects = [self.shown(g) for g in held if g.object_pk is not None]
        if not split:
            return {"permissions": objects}
        return {"object_permissions": objects,
                "model_permissions": [self.shown(g) for g in held if g.object_pk is None]}

    def usages(self, role: str, action: str, object_text: Callable[[str], str]) -> list[JsonObject]:
        """The role's permission rows as its `used_by` lists them: model rows, then object rows,
        each by row id (2026 187)."""
        name = self.store.values.get(ROLE, {}).get(role, {}).get("name")
        held = sorted(self.held(role), key=lambda g: (g.table != MODEL_ROWS, g.row))
        return [{"app": "guardian", "model_name": f"role{g.table}permission", "pk": str(g.row),
                 "name": (f"RoleModelPermission with role {role} and permission {g.permission}" if g.object_pk is None
                          else f"{object_text(g.object_pk)} | Role {name} | {self.row(g).get('codename')}"),
                 "action": action} for g in held]


def optional(value: Json) -> str | None:
    return None if value is None else str(value)
