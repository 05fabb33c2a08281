"""The `/api/v3` endpoints: one set of handlers for every kind of the model, the polymorphic
`/stages/all/`, the read-only lists references point at, and the few fixed endpoints."""
from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.apimodel import ApiModel, Kind

from .listing import InvalidPage, order, paginate, select
from .middleware import API_PREFIX
from .profile import Profile
from .quirks import creation_defaults, json_error_text, object_errors, server_error_fields
from .representation import Renderer
from .responses import detail, not_found_page, server_error
from .store import STAGE_FAMILY, Store
from .validation import NOT_A_DICT, Validator

Handler = Callable[..., Awaitable[Response]]

NO_CREDENTIALS = "Authentication credentials were not provided."  # 88, 91
BAD_TOKEN = "Token invalid/expired"  # 89
INVALID_PAGE = "Invalid page."  # 05
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
STAGES = "/stages/all/"
STAGE_MODEL = "Stage"


class Api:
    def __init__(self, *, model: ApiModel, profile: Profile, store: Store, token: str,
                 enterprise: bool) -> None:
        self.model = model
        self.profile = profile
        self.store = store
        self.token = token
        self.enterprise = enterprise
        self.renderer = Renderer(model, profile, store)
        self.validator = Validator(store, profile)

    # -- routing --------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        routes = [
            self.route("/admin/version/", {"GET": self.fixed(self.profile.admin_version)}),
            self.route("/root/config/", {"GET": self.fixed(self.profile.root_config)}),
            self.route(STAGES, {"GET": self.list_stages}),
            self.route(STAGES + "types/", {"GET": self.fixed(self.profile.stage_types)}),
            self.route(STAGES + "{pk}/", {"GET": self.get_stage, "DELETE": self.delete_stage}),
            self.route(STAGES + "{pk}/used_by/", {"GET": self.stage_used_by}),
        ]
        for kind in self.model.kinds.values():
            routes += [
                self.route(kind.path, {"GET": partial(self.list_kind, kind), "POST": partial(self.create, kind)}),
                self.route(kind.path + "{pk}/", {
                    "GET": partial(self.retrieve, kind),
                    "PUT": partial(self.update, kind, partial_update=False),
                    "PATCH": partial(self.update, kind, partial_update=True),
                    "DELETE": partial(self.destroy, kind),
                }),
                self.route(kind.path + "{pk}/used_by/", {"GET": partial(self.used_by, kind)}),
            ]
        for path in self.listed_paths():
            routes += [self.route(path, {"GET": partial(self.list_listed, path)}),
                       self.route(path + "{ident}/", {"GET": partial(self.get_listed, path)})]
        routes.append(Route("/{rest:path}", unrouted, methods=ALL_METHODS))
        return routes

    def listed_paths(self) -> list[str]:
        """The read-only lists: every reference target that is not a kind, and the seed's other
        lists (`/flows/bindings/`)."""
        kind_paths = {kind.path for kind in self.model.kinds.values()} | {STAGES}
        paths = [t.path for t in self.model.targets.values()] + list(self.store.lists)
        return [path for path in dict.fromkeys(paths) if path not in kind_paths]

    def route(self, path: str, handlers: Mapping[str, Handler]) -> Route:
        """A DRF view: authentication first (a 403 even for a method the view lacks), then the
        method; every answer carries the view's `Allow` header as authentik's do."""
        allow = ", ".join([*handlers, "HEAD", "OPTIONS"])

        async def endpoint(request: Request) -> Response:
            response = self.authenticate(request) or await dispatch(request, handlers)
            response.headers.setdefault("Allow", allow)
            return response

        return Route(API_PREFIX + path, endpoint, methods=ALL_METHODS)

    def authenticate(self, request: Request) -> Response | None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return detail(NO_CREDENTIALS, 403)
        if not secrets.compare_digest(credentials.strip().encode(), self.token.encode()):
            return detail(BAD_TOKEN, 403)
        return None

    @staticmethod
    def fixed(body: Any) -> Handler:
        async def handler(request: Request) -> Response:
            return JSONResponse(body)

        return handler

    # -- kinds ----------------------------------------------------------------------------------
    async def list_kind(self, kind: Kind, request: Request) -> Response:
        objects = [self.renderer.render(kind, pk) for pk in self.store.values[kind.name]]
        return self.page(objects, request, self.profile.ordering(kind.name))

    async def retrieve(self, kind: Kind, request: Request, pk: str) -> Response:
        found = self.find(kind, pk)
        return JSONResponse(self.renderer.render(kind, found)) if found else self.not_found(kind.model)

    async def create(self, kind: Kind, request: Request) -> Response:
        cleaned = await self.accepted(kind, request, instance=None, partial=False)
        if isinstance(cleaned, Response):
            return cleaned
        pk = str(uuid.uuid4())
        self.store.insert(kind, pk, {**creation_defaults(kind), **cleaned})
        return JSONResponse(self.renderer.render(kind, pk), 201)

    async def update(self, kind: Kind, request: Request, pk: str, *, partial_update: bool) -> Response:
        """PUT and PATCH differ only in required fields: a PUT keeps the optional fields it
        leaves out (2023.10.7 32, 35, 38; KINDS.md "PUT keeps")."""
        found = self.find(kind, pk)
        if found is None:
            return self.not_found(kind.model)
        cleaned = await self.accepted(kind, request, instance=found, partial=partial_update)
        if isinstance(cleaned, Response):
            return cleaned
        self.store.values[kind.name][found].update(cleaned)
        return JSONResponse(self.renderer.render(kind, found))

    async def destroy(self, kind: Kind, request: Request, pk: str) -> Response:
        found = self.find(kind, pk)
        if found is None:
            return self.not_found(kind.model)
        self.store.delete(found)
        return Response(status_code=204)

    async def used_by(self, kind: Kind, request: Request, pk: str) -> Response:
        found = self.find(kind, pk)
        return JSONResponse(self.usages(kind, found)) if found else self.not_found(kind.model)

    async def accepted(self, kind: Kind, request: Request, *, instance: str | None,
                       partial: bool) -> dict[str, Any] | Response:
        """The cleaned values of a write, or the answer refusing it: field errors first, then the
        serializer's validate(), then what would fail in the server."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        cleaned, errors = self.validator.validate(kind, body, partial=partial, instance=instance)
        if errors:
            return JSONResponse(errors, 400)
        messages = object_errors(kind, cleaned, self.profile, self.enterprise)
        if messages:
            return JSONResponse({"non_field_errors": messages}, 400)
        if server_error_fields(kind, body, self.profile, creating=instance is None):
            return server_error()
        return cleaned

    # -- /stages/all/ ---------------------------------------------------------------------------
    async def list_stages(self, request: Request) -> Response:
        """Insertion order: the real list is unordered (105)."""
        objects = [self.renderer.render_base(kind, pk) for kind, pk in self.store.members(STAGE_FAMILY)]
        return self.page(objects, request, ())

    async def get_stage(self, request: Request, pk: str) -> Response:
        kind = self.stage_at(pk)
        if kind is None:
            return self.not_found(STAGE_MODEL)
        return JSONResponse(self.renderer.render_base(kind, normal_uuid(pk) or pk))

    async def delete_stage(self, request: Request, pk: str) -> Response:
        kind = self.stage_at(pk)
        return await self.destroy(kind, request, pk) if kind else self.not_found(STAGE_MODEL)

    async def stage_used_by(self, request: Request, pk: str) -> Response:
        kind = self.stage_at(pk)
        return await self.used_by(kind, request, pk) if kind else self.not_found(STAGE_MODEL)

    def stage_at(self, pk: str) -> Kind | None:
        kind = self.store.kind_at(normal_uuid(pk) or "")
        return kind if kind is not None and kind.family == STAGE_FAMILY else None

    # -- read-only lists ------------------------------------------------------------------------
    async def list_listed(self, path: str, request: Request) -> Response:
        return self.page(self.store.lists.get(path, []), request, ())

    async def get_listed(self, path: str, request: Request, ident: str) -> Response:
        target = next((t for t in self.model.targets.values() if t.path == path), None)
        keys = {"pk", target.id, target.key} if target else {"pk"}
        found = next((o for o in self.store.lists.get(path, []) if any(str(o.get(k)) == ident for k in keys)),
                     None)
        return JSONResponse(found) if found else self.not_found(model_name(path, target.name if target else None))

    # -- helpers --------------------------------------------------------------------------------
    def page(self, objects: list[dict[str, Any]], request: Request, ordering: tuple[str, ...]) -> Response:
        """A page of a list; 2026.2.2 adds an empty `autocomplete` to the envelope (03, 06)."""
        query = dict(request.query_params)
        try:
            envelope = paginate(order(select(objects, query), ordering, query), query)
        except InvalidPage:
            return detail(INVALID_PAGE, 404)
        return JSONResponse({**envelope, **self.profile.list_extra})

    def find(self, kind: Kind, pk: str) -> str | None:
        ident = normal_uuid(pk)
        return ident if ident and self.store.get(kind, ident) is not None else None

    def not_found(self, model: str) -> Response:
        return detail(self.profile.not_found_detail(model), 404)  # 83-85, 108

    async def body(self, request: Request) -> dict[str, Any] | Response:
        """The request body as DRF parses it: no content type means no data, invalid JSON a
        `detail` (92), anything but an object a `non_field_errors`."""
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if not raw or not media_type:
            return {}
        if not media_type.endswith("json"):
            return detail(f'Unsupported media type "{content_type}" in request.', 415)
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as error:
            return detail(f"JSON parse error - {json_error_text(error, self.profile.json_parser)}", 400)
        if not isinstance(data, dict):
            return JSONResponse({"non_field_errors": [NOT_A_DICT.format(datatype=type(data).__name__)]}, 400)
        return data

    def usages(self, kind: Kind, pk: str) -> list[dict[str, Any]]:
        """What else a delete would touch (106): the objects of this one's many-to-many fields, and
        the objects that reference it."""
        values = self.store.values[kind.name][pk]
        entries = [usage(self.renderer.target_object(field.reference, ident), field.reference, ident,
                         self.profile.used_by_many)
                   for field in kind.fields.values() if field.reference and field.is_list
                   for ident in values.get(field.name) or []]
        target = self.store.target_of(kind)
        for other, other_pk, field in self.store.referrers(target, pk) if target else ():
            action = self.profile.used_by_many if field.is_list else self.profile.used_by_set_null
            entries.append(usage(self.renderer.render(other, other_pk), other.name, other_pk, action))
        return entries


async def dispatch(request: Request, handlers: Mapping[str, Handler]) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    if method == "OPTIONS":
        return JSONResponse({})
    if method not in handlers:
        return detail(f'Method "{request.method}" not allowed.', 405)  # 93
    return await handlers[method](request, **request.path_params)


async def unrouted(request: Request) -> Response:
    return not_found_page()


def normal_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def usage(obj: dict[str, Any] | None, target: str, ident: str, action: str) -> dict[str, Any]:
    """One `used_by` entry; objects without `meta_model_name` (flows, ...) are named by target."""
    found = obj or {}
    app, _, model = str(found.get("meta_model_name") or f"authentik_{target}.{target}").partition(".")
    return {"app": app, "model_name": model, "pk": ident, "name": found.get("name", ident), "action": action}


def model_name(path: str, target: str | None) -> str:
    """A model name for the 2026 404 text of a read-only list (`flow` -> `Flow`)."""
    words = (target or path.strip("/").split("/")[-1]).split("_")
    return "".join(word.capitalize() for word in words)
