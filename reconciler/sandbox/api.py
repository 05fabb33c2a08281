"""The `/api/v3` endpoints: one set of handlers for every kind of the model (found by their URL
field: a flow by its slug), the polymorphic family lists (`/stages/all/`, `/policies/all/`), the
read-only lists references point at, and the few fixed endpoints."""
from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import Json, JsonObject, ObjectId

from .accounts import Accounts, has_accounts
from .listing import BAD_JSON, InvalidFilter, InvalidJsonFilter, InvalidPage, order, paginate, select
from .middleware import API_PREFIX
from .profile import Profile
from .quirks import creation_defaults, json_error_text, server_error_fields
from .rbac import CATALOGUE, RoleGrants, ServerFailure
from .representation import Renderer
from .responses import bad_request_page, detail, not_found_page, server_error
from .rules import Rules, ServerFault
from .store import PTR_ID, Store, normal_uuid
from .validation import NOT_A_DICT, Validator

Handler = Callable[..., Awaitable[Response]]

NO_CREDENTIALS = "Authentication credentials were not provided."  # 88, 91
BAD_TOKEN = "Token invalid/expired"  # 89
UNSUPPORTED_SCHEME = "Unsupported authentication type"  # source reading: authentik/api/authentication.py
INVALID_PAGE = "Invalid page."  # 05
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
BACKGROUND_ACTION = "set_background_url/"


class Api:
    def __init__(self, *, model: ApiModel, profile: Profile, store: Store, token: str,
                 enterprise: bool) -> None:
        self.model = model
        self.profile = profile
        self.store = store
        self.token = token
        self.renderer = Renderer(model, profile, store)
        self.rules = Rules(store, profile, enterprise)
        self.validator = Validator(store, profile, self.rules)
        self.grants = RoleGrants(store, bare_object_codenames=profile.version.startswith("2023"))
        self._rendered: dict[str, tuple[int, list[JsonObject]]] = {}

    # -- routing --------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        routes = [
            self.route("/admin/version/", {"GET": self.fixed(self.profile.admin_version)}),
            self.route("/root/config/", {"GET": self.fixed(self.profile.root_config)}),
            *self.account_routes(),
            *(self.route(path, {"GET": self.fixed(body)}) for path, body in self.profile.fixed.items()),
        ]
        for target, path in self.family_paths().items():
            types = self.profile.types.get(target) or self.model_types(target)
            routes += [
                self.route(path, {"GET": partial(self.list_family, target, path)}),
                self.route(path + "types/", {"GET": self.fixed(types)}),
                self.route(path + "{ident}/", {"GET": partial(self.get_member, target),
                                               "DELETE": partial(self.delete_member, target)}),
                self.route(path + "{ident}/used_by/", {"GET": partial(self.member_used_by, target)}),
            ]
        for kind in self.model.kinds.values():
            routes += [
                self.route(kind.path, {"GET": partial(self.list_kind, kind), "POST": partial(self.create, kind)}),
                self.route(kind.path + "{ident}/", {
                    "GET": partial(self.retrieve, kind),
                    "PUT": partial(self.update, kind, partial_update=False),
                    "PATCH": partial(self.update, kind, partial_update=True),
                    "DELETE": partial(self.destroy, kind),
                }),
                self.route(kind.path + "{ident}/used_by/", {"GET": partial(self.used_by, kind)}),
            ]
        routes.append(self.background_route())
        routes += self.role_routes()
        for path in self.listed_paths():
            routes += [self.route(path, {"GET": partial(self.list_listed, path)}),
                       self.route(path + "{ident}/", {"GET": partial(self.get_listed, path)})]
        routes.append(Route("/{rest:path}", unrouted, methods=ALL_METHODS))
        return routes

    def model_types(self, target: str) -> list[JsonObject]:
        """A family's `types/` list where no recording shows it: each member kind as the model
        describes it (the recorded lists have the same shape, 07-stages-all-types)."""
        return [{"name": kind.constants.get("verbose_name", kind.name), "description": "",
                 "component": kind.constants.get("component", ""),
                 "model_name": str(kind.constants.get("meta_model_name", kind.name)).rsplit(".", 1)[-1],
                 "icon_url": None, "requires_enterprise": False, "deprecated": False}
                for kind in self.model.kinds_of(target)]

    def family_paths(self) -> dict[str, str]:
        """Targets listing several kinds at a path of their own (`/stages/all/`, `/policies/all/`)."""
        kind_paths = {kind.path for kind in self.model.kinds.values()}
        return {name: t.path for name, t in self.model.targets.items()
                if t.path and t.path not in kind_paths and len(self.model.kinds_of(name)) > 1}

    def listed_paths(self) -> list[str]:
        """The read-only lists: every reference target that is no kind or family, and the seed's
        other lists."""
        taken = {kind.path for kind in self.model.kinds.values()} | set(self.family_paths().values())
        paths = [t.path for t in self.model.targets.values() if t.path] + list(self.store.lists)
        return [path for path in dict.fromkeys(paths) if path not in taken]

    def route(self, path: str, handlers: Mapping[str, Handler]) -> Route:
        """A DRF view: authentication first (a 403 even for a method the view lacks), then the
        method; every answer carries the view's `Allow` header as authentik's do (HEAD only
        where GET is: flows 46)."""
        allow = ", ".join([*handlers, *(["HEAD"] if "GET" in handlers else []), "OPTIONS"])

        async def endpoint(request: Request) -> Response:
            response = self.authenticate(request) or await dispatch(request, handlers)
            response.headers.setdefault("Allow", allow)
            return response

        return Route(API_PREFIX + path, endpoint, methods=ALL_METHODS)

    def authenticate(self, request: Request) -> Response | None:
        """The token check of authentik's API authentication (source reading:
        authentik/api/authentication.py): no header, or one without a space, is no credentials;
        a scheme other than Bearer is refused; the rest after the first space is the token."""
        header = request.headers.get("authorization", "").strip()
        if header == "" or " " not in header:
            return detail(NO_CREDENTIALS, 403)
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return detail(UNSUPPORTED_SCHEME, 403)
        if not secrets.compare_digest(credentials.encode(), self.token.encode()):
            return detail(BAD_TOKEN, 403)
        return None

    @staticmethod
    def fixed(body: Json) -> Handler:
        async def handler(request: Request) -> Response:
            return JSONResponse(body)

        return handler

    # -- kinds ----------------------------------------------------------------------------------
    async def list_kind(self, kind: Kind, request: Request) -> Response:
        objects = self.rendered(kind.path, lambda: [self.renderer.render(kind, pk)
                                                    for pk in self.store.values[kind.name]])
        query = request.query_params
        shown = [self.renderer.directory.with_query(kind, dict(obj), query) for obj in objects]
        return self.page(shown, request, kind.path, kind)

    async def retrieve(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.not_found(kind.model)
        return JSONResponse(self.renderer.directory.with_query(kind, self.renderer.render(kind, found),
                                                               request.query_params))

    async def create(self, kind: Kind, request: Request) -> Response:
        cleaned = await self.accepted(kind, request, instance=None, partial=False)
        if isinstance(cleaned, Response):
            return cleaned
        pk = self.store.new_pk(kind)
        self.store.insert(kind, pk, {**creation_defaults(kind), **cleaned})
        self.renderer.directory.created(kind, pk, cleaned)
        return JSONResponse(self.renderer.render(kind, pk, frozenset(cleaned)), 201)

    async def update(self, kind: Kind, request: Request, ident: str, *, partial_update: bool) -> Response:
        """PUT and PATCH differ only in required fields: a PUT keeps the optional fields it
        leaves out (2023.10.7 32, 35, 38; KINDS.md "PUT keeps"; flows 54, 135, 181, 190)."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.not_found(kind.model)
        cleaned = await self.accepted(kind, request, instance=found, partial=partial_update)
        if isinstance(cleaned, Response):
            return cleaned
        self.store.update(kind, found, cleaned)
        self.renderer.directory.written(kind, found, cleaned, full=not partial_update)
        return JSONResponse(self.renderer.render(kind, found, frozenset(cleaned)))

    async def destroy(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.not_found(kind.model)
        self.store.delete(found)
        self.grants.forget(str(found))
        return Response(status_code=204)

    async def used_by(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        return JSONResponse(self.usages(kind, found)) if found else self.not_found(kind.model)

    async def accepted(self, kind: Kind, request: Request, *, instance: ObjectId | None,
                       partial: bool) -> JsonObject | Response:
        """The cleaned values of a write, or the answer refusing it, in DRF's order: field errors,
        unique-together validators, the serializer's validate(), then what fails in the server."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        cleaned, errors = self.validator.validate(kind, body, partial=partial, instance=instance)
        if errors:
            return JSONResponse(errors, 400)
        together = self.rules.together_errors(kind, cleaned, instance)
        if together:
            return JSONResponse({"non_field_errors": together}, 400)
        try:
            message = self.rules.validate(kind, cleaned, instance)
        except ServerFault:
            return server_error()
        if message:
            return JSONResponse({"non_field_errors": [message]}, 400)
        if server_error_fields(kind, body, self.profile, creating=instance is None):
            return server_error()
        return cleaned

    # -- /stages/all/, /policies/all/ -----------------------------------------------------------
    async def list_family(self, target: str, path: str, request: Request) -> Response:
        objects = self.rendered(path, lambda: [*self.store.lists.get(path, []),
                                               *(self.renderer.family_view(kind, pk)
                                                 for kind, pk in self.store.members(target))])
        return self.page(objects, request, path, None)

    def rendered(self, path: str, render: Callable[[], list[JsonObject]]) -> list[JsonObject]:
        """A list's objects as rendered, kept until the next write: a client walks a list page by
        page, and rendering every object for every page made reading N objects cost N² (a plan of
        10,000 objects spent minutes in the sandbox; python -m bench)."""
        kept = self._rendered.get(path)
        if kept is None or kept[0] != self.store.generation:
            with self.store.reading():
                kept = (self.store.generation, render())
            self._rendered[path] = kept
        return kept[1]

    async def get_member(self, target: str, request: Request, ident: str) -> Response:
        found = self.store.member(target, ident)
        if found is not None:
            return JSONResponse(self.renderer.family_view(*found))
        listed = self.store.listed_object(target, ident) or self.store.listed_by_url(target, ident)
        return JSONResponse(listed) if listed else self.not_found(target.capitalize())

    async def delete_member(self, target: str, request: Request, ident: str) -> Response:
        kind = self.member_at(target, ident)
        return await self.destroy(kind, request, ident) if kind else self.not_found(target.capitalize())

    async def member_used_by(self, target: str, request: Request, ident: str) -> Response:
        kind = self.member_at(target, ident)
        return await self.used_by(kind, request, ident) if kind else self.not_found(target.capitalize())

    def member_at(self, target: str, ident: str) -> Kind | None:
        found = self.store.member(target, ident)
        return found[0] if found is not None else None

    # -- flow backgrounds -----------------------------------------------------------------------
    def background_route(self) -> Route:
        """`set_background_url`: the 2023 way to set a flow's read-only background (flows 46-49);
        2026 has no such route and its web server answers the request itself (flows 46, 48)."""
        flow = next(kind for kind in self.model.kinds.values() if kind.url_field == "slug")
        path = flow.path + "{ident}/" + BACKGROUND_ACTION
        if self.profile.flow_background["action"] == "server_error":
            async def no_route(request: Request) -> Response:
                return server_error()
            return Route(API_PREFIX + path, no_route, methods=ALL_METHODS)
        return self.route(path, {"POST": partial(self.set_background_url, flow)})

    async def set_background_url(self, flow: Kind, request: Request, ident: str) -> Response:
        read = await self.found_with_body(flow, request, ident)
        if isinstance(read, Response):
            return read
        found, body = read
        if body.get("url") is None:  # source reading: set_file_url answers HttpResponseBadRequest
            return bad_request_page()
        self.store.hold(found, "background", str(body["url"]))
        return JSONResponse({})

    # -- user and group actions (accounts.py) ----------------------------------------------------
    def account_routes(self) -> list[Route]:
        """Before the kinds' routes: `/core/users/paths/` is no user's detail path."""
        if not has_accounts(self.model.kinds):
            return []
        accounts = Accounts(self.profile, self.store, self.renderer.directory, self.body, self.found_with_body)
        return [self.route(path, {method: handler}) for path, (method, handler) in accounts.handlers().items()]

    # -- role permissions (rbac.py) --------------------------------------------------------------
    def role_routes(self) -> list[Route]:
        role = self.model.kinds.get("role")
        if role is None:
            return []
        grants = CATALOGUE + "assigned_by_roles/{ident}/"
        return [self.route(grants + "assign/", {"POST": partial(self.grant, role, assign=True)}),
                self.route(grants + "unassign/", {"PATCH": partial(self.grant, role, assign=False)}),
                self.route(CATALOGUE, {"GET": partial(self.list_permissions, role)})]

    async def grant(self, role: Kind, request: Request, ident: str, *, assign: bool) -> Response:
        """Assign (2026: 200 with one `{"id"}` per permission, 2023: 204; 162) or unassign (204; 176)."""
        read = await self.found_with_body(role, request, ident)
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
        if self.profile.version.startswith("2023"):
            return Response(status_code=204)
        return JSONResponse([{"id": str(pk)} for pk in ids])

    async def list_permissions(self, role: Kind, request: Request) -> Response:
        """The catalogue, or with `?role=` the role's global permissions (172)."""
        wanted = request.query_params.get("role")
        if wanted is None:
            return self.page(self.store.lists.get(CATALOGUE, []), request, CATALOGUE, None)
        found = self.store.find(role, wanted)
        return self.page(self.grants.global_rows(str(found)) if found else [], request, CATALOGUE, None)

    # -- read-only lists ------------------------------------------------------------------------
    async def list_listed(self, path: str, request: Request) -> Response:
        return self.page(self.store.lists.get(path, []), request, path, None)

    async def get_listed(self, path: str, request: Request, ident: str) -> Response:
        target = next((t for t in self.model.targets.values() if t.path == path), None)
        keys = {"pk", target.id, *target.key} if target else {"pk"}
        found = next((o for o in self.store.lists.get(path, []) if any(str(o.get(k)) == ident for k in keys)),
                     None)
        return JSONResponse(found) if found else self.not_found(model_name(path, target.name if target else None))

    # -- helpers --------------------------------------------------------------------------------
    def page(self, objects: list[JsonObject], request: Request, path: str, kind: Kind | None) -> Response:
        """A page of a list, filtered, searched and ordered as the profile says for it."""
        query = dict(request.query_params)
        spec = self.profile.list_spec(*([kind.name] if kind else []), path)
        try:
            selected = select(objects, query, spec, partial(self.filter_value, kind))
            envelope = paginate(order(selected, spec.ordering, query, self.sort_value), query,
                                self.profile.page_size, self.profile.max_page_size)
        except InvalidFilter as exc:
            return JSONResponse(exc.errors, 400)
        except InvalidJsonFilter:
            return JSONResponse([BAD_JSON], 400)
        except InvalidPage:
            return detail(INVALID_PAGE, 404)
        return JSONResponse({**envelope, **self.profile.extra_for(path)})

    def filter_value(self, kind: Kind | None, how: str, param: str, value: str) -> Json:
        """What a filter value names: the object a reference filter wants, by pk (a policy
        binding's target only by its binding-model UUID, flows 264, 265), or whether a policy has
        no bindings (flows 220)."""
        if how == "unbound":
            return not self.store.referring("policy_binding", "policy", value)
        if how == "group_name":
            return next((pk for pk, v in self.store.values["group"].items() if v.get("name") == value), None)
        if how == "binding_model":
            return next((pk for pk, held in self.store.held.items() if held.get(PTR_ID) == normal_uuid(value)), None)
        field = kind.fields.get(param) if kind else None
        ident = normal_uuid(value)
        if field is None or field.reference is None or ident is None:
            return None
        return self.store.resolve(field.reference, ident)

    def sort_value(self, obj: JsonObject, key: str) -> Json:
        """Sort keys that are no field of the object: a policy binding's target sorts by its
        binding-model UUID in 2023 (flows 224)."""
        if key == "target_ptr":
            return self.store.target_sort_key(str(obj.get("target")))
        return None

    async def found_with_body(self, kind: Kind, request: Request, ident: str) -> tuple[ObjectId, JsonObject] | Response:
        """The object a URL names and the request's body, or the answer refusing either."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.not_found(kind.model)
        body = await self.body(request)
        return body if isinstance(body, Response) else (found, body)

    def not_found(self, model: str) -> Response:
        return detail(self.profile.not_found_detail(model), 404)  # 83-85, 108; flows 64, 117, 137, 223, 275

    async def body(self, request: Request) -> JsonObject | Response:
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

    def usages(self, kind: Kind, pk: ObjectId) -> list[JsonObject]:
        """What else a delete would touch (106): the objects of this one's many-to-many fields, and
        the objects that reference it, with what the delete does to each."""
        values = self.store.values[kind.name][pk]
        entries = [usage(self.renderer.target_object(str(field.reference), ident), str(field.reference), ident,
                         self.profile.used_by_many)
                   for field in kind.fields.values() if field.reference and field.is_list
                   for ident in values.get(field.name) or []]
        target = self.model.target_of(kind)
        for other, other_pk, field in self.store.referrers(target, pk) if target else ():
            if field.is_list:
                action = self.profile.used_by_many
            elif field.name in other.cascade or not field.nullable:
                action = self.profile.used_by_cascade
            else:
                action = self.profile.used_by_set_null
            entries.append(usage(self.renderer.render(other, other_pk), model_label(other), other_pk, action))
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


def usage(obj: JsonObject | None, label: str, ident: Json, action: str) -> JsonObject:
    """One `used_by` entry; objects without `meta_model_name` (flows, bindings, ...) are named by
    the label given (`app.model`, or a target name)."""
    found = obj or {}
    fallback = label if "." in label else f"authentik_{label}.{label}"
    app, _, model = str(found.get("meta_model_name") or fallback).partition(".")
    return {"app": app, "model_name": model, "pk": ident, "name": found.get("name", ident), "action": action}


def model_label(kind: Kind) -> str:
    """Django's `app.model` of a kind without `meta_model_name`: the app of its path's first
    segment (`/flows/bindings/`: authentik_flows), the model class in lower case."""
    return f"authentik_{kind.path.strip('/').split('/')[0]}.{kind.model.lower()}"


def model_name(path: str, target: str | None) -> str:
    """A model name for the 2026 404 text of a read-only list (`flow` -> `Flow`)."""
    words = (target or path.strip("/").split("/")[-1]).split("_")
    return "".join(word.capitalize() for word in words)
