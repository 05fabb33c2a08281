"""The role endpoints beside the generic kind endpoints (directory recordings 162-202): assigning
and unassigning permissions, the permission catalogue and its per-role reads, and 2026's role
membership actions (`add_user`, `remove_user`). The grants themselves are `rbac.RoleGrants`."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.model.kinds import Kind
from reconciler.values import JsonObject

from .accounts import BodyReader, ObjectReader
from .profile import Profile
from .rbac import CATALOGUE, REQUIRED, RoleGrants, ServerFailure
from .responses import PLAIN_NOT_FOUND, detail, server_error
from .store import Store

ASSIGNED = CATALOGUE + "assigned_by_roles/"
Pager = Callable[[list[JsonObject], Request, str], Response]
"""A page of a list as the profile's list spec for the path says (`Api.page`)."""
Missing = Callable[[str], Response]
"""The version's 404 for a model name (`Api.not_found`)."""


class Roles:
    """The role endpoints beyond a kind's own: permissions assigned and unassigned, the listings by
    role and by object, and 2026's `add_user`/`remove_user` (directory 162-196)."""

    def __init__(self, profile: Profile, store: Store, grants: RoleGrants, read_body: BodyReader,
                 found_with_body: ObjectReader, page: Pager, not_found: Missing) -> None:
        self.profile = profile
        self.store = store
        self.grants = grants
        self.read_body = read_body
        self.found_with_body = found_with_body
        self.page = page
        self.not_found = not_found
        self.role = store.model.kinds["role"]
        self.user = store.model.kinds.get("user")

    def handlers(self) -> dict[str, tuple[str, Callable[..., Awaitable[Response]]]]:
        """Path -> (method, handler); the catalogue's `{ident}/` last, after the paths it would match."""
        found: dict[str, tuple[str, Callable[..., Awaitable[Response]]]] = {
            ASSIGNED + "{ident}/assign/": ("POST", self.assign),
            ASSIGNED + "{ident}/unassign/": ("PATCH", self.unassign),
            ASSIGNED: ("GET", self.assigned_by_roles),
            CATALOGUE: ("GET", self.list_permissions),
            CATALOGUE + "{ident}/": ("GET", self.get_permission),
        }
        if self.profile.rbac.get("role_members") and self.user is not None and "roles" in self.user.fields:
            found[f"{self.role.path}{{ident}}/add_user/"] = ("POST", self.add_user)
            found[f"{self.role.path}{{ident}}/remove_user/"] = ("POST", self.remove_user)
        return found

    # -- permissions ----------------------------------------------------------------------------
    async def assign(self, request: Request, ident: str) -> Response:
        return await self.grant(request, ident, assign=True)

    async def unassign(self, request: Request, ident: str) -> Response:
        return await self.grant(request, ident, assign=False)

    async def grant(self, request: Request, ident: str, *, assign: bool) -> Response:
        """Assign (2026: 200 with one `{"id"}` per permission, its row's id; 2023: 204; 162) or
        unassign (204; 176)."""
        read = await self.found_with_body(self.role, request, ident)
        if isinstance(read, Response):
            return read
        found, body = read
        errors = self.grants.errors(body)
        if errors:
            return JSONResponse(errors, 400)
        try:
            if not assign:
                self.grants.unassign(str(found), body)
                return Response(status_code=204)
            ids = self.grants.assign(str(found), body)
        except ServerFailure:
            return server_error()
        if not self.profile.rbac.get("assign_answers_rows"):
            return Response(status_code=204)
        return JSONResponse([{"id": str(pk)} for pk in ids])

    async def list_permissions(self, request: Request) -> Response:
        """The catalogue, or with `?role=` the role's global permissions (172, 196)."""
        wanted = request.query_params.get("role")
        if wanted is None:
            return self.page(self.grants.catalogue, request, CATALOGUE)
        found = self.store.find(self.role, wanted)
        return self.page(self.grants.global_rows(str(found)) if found else [], request, CATALOGUE)

    async def get_permission(self, request: Request, ident: str) -> Response:
        """One row of the catalogue by its integer id (202)."""
        found = next((row for row in self.grants.catalogue if str(row.get("id")) == ident), None)
        return JSONResponse(found) if found else self.not_found("Permission")

    async def assigned_by_roles(self, request: Request) -> Response:
        """The roles holding a permission on `?model=` (on `?object_pk=` or globally), each with
        its permissions (173, 174); `model` is required (175)."""
        model = request.query_params.get("model")
        if not model:
            return JSONResponse({"model": [REQUIRED]}, 400)
        object_pk = request.query_params.get("object_pk")
        split = bool(self.profile.rbac.get("split_listing"))
        roles = [{"role_pk": pk, "name": values.get("name"), **self.grants.listed(str(pk), split)}
                 for pk, values in self.store.values[self.role.name].items()
                 if self.grants.concerns(str(pk), model, object_pk)]
        return self.page(roles, request, ASSIGNED)

    # -- 2026 membership (181) ------------------------------------------------------------------
    async def add_user(self, request: Request, ident: str) -> Response:
        return await self.membership(request, ident, member=True)

    async def remove_user(self, request: Request, ident: str) -> Response:
        return await self.membership(request, ident, member=False)

    async def membership(self, request: Request, ident: str, *, member: bool) -> Response:
        """`{pk}` of a user: 204, the role added to (removed from) the user's `roles` (181). Checked
        on the 2026 lab: a pk that names no user, or none at all, is the plain 404; one that is no
        integer fails the server (its 405)."""
        read = await self.found_with_body(self.role, request, ident)
        if isinstance(read, Response):
            return read
        found, body = read
        raw = body.get("pk")
        if raw is not None and not str(raw).isdigit():
            return server_error()
        pk = int(str(raw)) if raw is not None else None
        values = self.store.values[self.user.name].get(pk) if self.user is not None and pk is not None else None
        if self.user is None or pk is None or values is None:
            return detail(PLAIN_NOT_FOUND, 404)
        held = [role for role in values.get("roles") or [] if role != found]
        self.store.update(self.user, pk, {"roles": [*held, found] if member else held})
        return Response(status_code=204)


def has_roles(kinds: dict[str, Kind]) -> bool:
    return "role" in kinds
