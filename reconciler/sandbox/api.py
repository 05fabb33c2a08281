"""The `/api/v3` endpoints: one set of handlers for every kind of the model (found by their URL
field: a flow by its slug), the polymorphic family lists (`/stages/all/`, `/policies/all/`), the
read-only lists references point at, and the few fixed endpoints."""
from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.model.kinds import ApiModel, Field, Kind
from reconciler.values import Json, JsonObject, ObjectId

from . import brands, certificates
from .accounts import Accounts, has_accounts
from .applications import BASE_URL
from .blueprints import FILES_PATH, KIND, TASKS_PATH, Importer, WorkerTimeout, created_state
from .directory import MEMBER_LOOKUPS
from .discovery import Discovery
from .listing import BAD_JSON, InvalidFilter, InvalidJsonFilter, InvalidPage, order, paginate, select
from .middleware import API_PREFIX
from .profile import Profile
from .quirks import creation_defaults, json_error_text, jsonb_order, server_error_fields
from .rbac import ROLE, RoleGrants
from .representation import Renderer
from .responses import PLAIN_NOT_FOUND, SERVER_ERROR_PAGE, bad_request_page, detail, not_found_page, server_error
from .roles import Roles, has_roles
from .rules import Rules, ServerFault
from .sources import saml_metadata, user_settings_entry
from .store import PTR_ID, Store, normal_uuid
from .validation import NOT_A_DICT, Validator

Handler = Callable[..., Awaitable[Response]]

NO_CREDENTIALS = "Authentication credentials were not provided."  # 88, 91
BAD_TOKEN = "Token invalid/expired"  # 89
UNSUPPORTED_SCHEME = "Unsupported authentication type"  # source reading: authentik/api/authentication.py
INVALID_PAGE = "Invalid page."  # 05
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
READ_METHODS = ("GET", "HEAD", "OPTIONS")
FILE_ACTIONS = (("flow", "set_background_url/", "background"), ("application", "set_icon_url/", "meta_icon"))
"""(kind, action, the value it holds) of the 2023 actions that set a read-only file URL."""


class Api:
    def __init__(self, *, model: ApiModel, profile: Profile, store: Store, token: str,
                 enterprise: bool, documents: Mapping[str, Json] | None = None,
                 rbac_seed: Mapping[str, Json] | None = None, stalled_worker: bool = False) -> None:
        self.model = model
        self.profile = profile
        self.store = store
        self.token = token
        self.renderer = Renderer(model, profile, store)
        self.rules = Rules(store, profile, enterprise)
        self.validator = Validator(store, profile, self.rules)
        self.importer = Importer(model, store, profile.blueprints, self.insert_new, stalled=stalled_worker)
        self.discovery = Discovery(profile.discovery, documents or {})
        self.grants = RoleGrants(store, bare_object_codenames=bool(profile.rbac.get("bare_object_codenames")),
                                 by_name=bool(profile.rbac.get("grants_by_role_name")))
        self.grants.seed(rbac_seed)
        self._rendered: dict[str, tuple[int, list[JsonObject]]] = {}
        self._cached: dict[str, tuple[int, dict[int, list[ObjectId]]]] = {}

    # -- routing --------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        routes = [
            self.route("/admin/version/", {"GET": self.fixed(self.profile.admin_version)}),
            self.route("/root/config/", {"GET": self.fixed(self.profile.root_config)}),
            *self.account_routes(),
            *(self.route(path, {"GET": self.fixed(body)}) for path, body in self.profile.fixed.items()),
            *self.current_brand_routes(),
        ]
        routes += self.source_routes()
        for target, path in self.family_paths().items():
            types = self.profile.types.get(target) or self.model_types(target)
            routes += [
                self.route(path, {"GET": partial(self.list_family, target, path)}),
                self.route(path + "types/", {"GET": self.fixed(types)}),
                self.route(path + "{ident}/", {"GET": partial(self.get_member, target),
                                               "DELETE": partial(self.delete_member, target)}),
                self.route(path + "{ident}/used_by/", {"GET": partial(self.member_used_by, target)}),
            ]
        routes += self.key_pair_routes() + self.outpost_routes() + self.action_routes() + self.blueprint_routes()
        for kind in self.model.kinds.values():
            if kind.singleton:
                routes.append(self.route(kind.path, {
                    "GET": partial(self.singleton_get, kind),
                    "PUT": partial(self.singleton_update, kind, partial_update=False),
                    "PATCH": partial(self.singleton_update, kind, partial_update=True)}))
                continue
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
        routes += self.file_url_routes()
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
        return [path for path in dict.fromkeys(paths) if path not in taken and path not in (FILES_PATH, TASKS_PATH)]

    def route(self, path: str, handlers: Mapping[str, Handler]) -> Route:
        """A DRF view: authentication first (a 403 even for a method the view lacks), then the
        method; every answer carries the view's `Allow` header as authentik's do (HEAD only
        where GET is: flows 46)."""
        allow = ", ".join([*handlers, *(["HEAD"] if "GET" in handlers else []), "OPTIONS"])

        async def endpoint(request: Request) -> Response:
            BASE_URL.set(str(request.base_url).rstrip("/"))
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
        objects = self.rendered(kind.path, lambda: [
            *(self.renderer.render(kind, pk) for pk in self.store.values[kind.name]),
            *(self.renderer.as_base(kind, sub, pk) for sub in kind.lists_also for pk in self.store.values[sub]),
        ])
        return self.page(objects, request, kind.path, kind)

    async def retrieve(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        return JSONResponse(self.renderer.directory.with_query(kind, self.renderer.render(kind, found),
                                                               request.query_params))

    async def singleton_get(self, kind: Kind, request: Request) -> Response:
        """`GET /admin/settings/`: the one object, no list (directory 237)."""
        return JSONResponse(self.renderer.render(kind, self.the_one(kind)))

    async def singleton_update(self, kind: Kind, request: Request, *, partial_update: bool) -> Response:
        """PUT and PATCH of the one object at the path itself (directory 238, 245); its JSON
        fields are kept as the database orders them (`jsonb_order`)."""
        pk = self.the_one(kind)
        answer = await self.update(kind, request, str(pk), partial_update=partial_update)
        stored = self.store.values[kind.name][pk]
        self.store.update(kind, pk, {name: jsonb_order(stored[name]) for name, field in kind.fields.items()
                                     if field.type in ("any", "object") and name in stored})
        return answer

    def the_one(self, kind: Kind) -> ObjectId:
        """A singleton's object, seeded from the fresh install (or made from its defaults)."""
        if not self.store.values[kind.name]:
            self.store.insert(kind, self.store.new_pk(kind), creation_defaults(kind))
        return next(iter(self.store.values[kind.name]))

    async def create(self, kind: Kind, request: Request) -> Response:
        cleaned = await self.accepted(kind, request, instance=None, partial=False)
        if isinstance(cleaned, Response):
            return cleaned
        pk = self.insert_new(kind, cleaned)
        answer = self.renderer.render(kind, pk, frozenset(cleaned))
        if text := stored_as_text(kind, cleaned):
            self.store.update(kind, pk, text)
        return JSONResponse(answer, 201)

    async def update(self, kind: Kind, request: Request, ident: str, *, partial_update: bool) -> Response:
        """PUT and PATCH differ only in required fields: a PUT keeps the optional fields it
        leaves out (2023.10.7 32, 35, 38; KINDS.md "PUT keeps"; flows 54, 135, 181, 190)."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        cleaned = await self.accepted(kind, request, instance=found, partial=partial_update)
        if isinstance(cleaned, Response):
            return cleaned
        stale = self.profile.apps.stale_answers.get(kind.name, {})  # shown as before the write (apps 405)
        before = self.renderer.render(kind, found) if stale else {}
        self.store.update(kind, found, cleaned)
        self.claim(kind, found, cleaned)
        self.renderer.directory.written(kind, found, cleaned, full=not partial_update)
        self.renderer.scim.written(kind, found)
        answer = self.renderer.render(kind, found, frozenset(cleaned))
        answer.update({name: before[name] for name, source in stale.items()
                       if source not in cleaned and name in before})
        if text := stored_as_text(kind, cleaned):
            self.store.update(kind, found, text)
        return JSONResponse(answer)

    async def destroy(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        for owned in self.owned(kind, found):
            self.store.delete(owned)
        self.store.delete(found)
        self.grants.forget(str(found))
        return Response(status_code=204)

    def owned(self, kind: Kind, pk: ObjectId) -> list[ObjectId]:
        """Objects deleted with this one although it points at them: an application's
        backchannel providers (apps 529, 549), a SCIM source's service account (358)."""
        values = self.store.values[kind.name][pk]
        return [*(item for name in self.profile.apps.owned_lists.get(kind.name, ())
                  for item in values.get(name) or [] if self.store.kind_at(item) is not None),
                *self.renderer.scim.deleted(kind, pk)]

    def claim(self, kind: Kind, pk: ObjectId, cleaned: Mapping[str, Json]) -> None:
        """A list that is a foreign key on the other side: the objects it takes leave the lists of
        the others (a backchannel provider moves to the application that names it, apps 405)."""
        for name in self.profile.apps.owned_lists.get(kind.name, ()):
            taken = set(cleaned.get(name) or [])
            for other, values in self.store.values[kind.name].items():
                if other != pk and taken & set(values.get(name) or []):
                    self.store.update(kind, other, {name: [item for item in values[name] if item not in taken]})

    def blueprint_routes(self) -> list[Route]:
        """A blueprint instance's `apply/` and the worker's file list (`available/`, routed before
        the instance's own `{ident}/`)."""
        if KIND not in self.model.kinds:
            return []
        blueprints = self.model.kinds[KIND]
        return [self.route(FILES_PATH, {"GET": self.blueprint_files}),
                self.route(blueprints.path + "{ident}/apply/", {"POST": partial(self.apply_blueprint, blueprints)})]

    async def blueprint_files(self, request: Request) -> Response:
        """The worker's blueprint files, a plain list (2023 directory 25); a stalled worker's
        answer times out into a 500 page (2026 directory 25, 437)."""
        try:
            return JSONResponse(self.importer.files())
        except WorkerTimeout:
            return Response(SERVER_ERROR_PAGE, 500, media_type="text/html")

    async def apply_blueprint(self, kind: Kind, request: Request, ident: str) -> Response:
        """`POST .../apply/`: import the instance's blueprint (see `blueprints.Importer`)."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        before = self.renderer.render(kind, found)
        try:
            self.importer.apply(found)
        except WorkerTimeout:
            return server_error()
        return JSONResponse(before if self.importer.answers_before_import else self.renderer.render(kind, found))

    def insert_new(self, kind: Kind, cleaned: JsonObject) -> ObjectId:
        """Store a new object of `kind` from its accepted values, as a create does."""
        pk = self.store.new_pk(kind)
        generated = self.renderer.computed.generated(kind)
        drawn = {k: v for k, v in generated.items() if k in kind.fields}
        self.store.insert(kind, pk, {**creation_defaults(kind), **drawn, **cleaned},
                          {**{k: v for k, v in generated.items() if k not in kind.fields}, **created_state(kind)})
        self.claim(kind, pk, cleaned)
        self.renderer.directory.created(kind, pk, cleaned)
        self.renderer.scim.created(kind, pk)
        return pk

    async def used_by(self, kind: Kind, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        return JSONResponse([*self.usages(kind, found), *(self.importer.task_rows(found) if kind.name == KIND else [])])

    async def accepted(self, kind: Kind, request: Request, *, instance: ObjectId | None,
                       partial: bool) -> JsonObject | Response:
        """The cleaned values of a write, or the answer refusing it, in DRF's order: field errors,
        unique-together validators, the serializer's validate(), then what fails in the server."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        if self.rules.server_fault(kind, body, creating=instance is None):
            return server_error()
        cleaned, errors = self.validator.validate(kind, body, partial=partial, instance=instance)
        if errors:
            return JSONResponse(errors, 400)
        if not partial and instance is not None:  # DRF's defaults of a PUT's omitted fields (directory 470)
            cleaned = {**self.profile.put_defaults.get(kind.name, {}), **cleaned}
        together = self.rules.together_errors(kind, cleaned, instance)
        if together:
            return JSONResponse({"non_field_errors": together}, 400)
        cleaned, fetch_errors = self.discovery.fetched(kind, cleaned)
        field_errors = fetch_errors or self.rules.body_errors(kind, cleaned, instance)
        if field_errors:
            return JSONResponse(field_errors, 400)
        try:
            message = self.rules.validate(kind, cleaned, instance)
            refused = self.importer.refused(kind, cleaned)
        except (ServerFault, WorkerTimeout):
            return server_error()
        if refused:
            return JSONResponse(refused, 400)
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
        if kind is None and (refused := self.undeletable(target, ident)):
            return detail(refused, 400)
        return await self.destroy(kind, request, ident) if kind else self.not_found(target.capitalize())

    def undeletable(self, target: str, ident: str) -> str | None:
        """The refusal of deleting a listed object the profile protects (2026 built-in source, 373)."""
        listed = self.store.listed_object(target, ident) or self.store.listed_by_url(target, ident)
        rule = self.profile.sources.get("undeletable", {}) if target == "source" else {}
        if listed and rule and listed.get("managed") == rule.get("managed"):
            return str(rule["detail"])
        return None

    async def member_used_by(self, target: str, request: Request, ident: str) -> Response:
        kind = self.member_at(target, ident)
        return await self.used_by(kind, request, ident) if kind else self.not_found(target.capitalize())

    def member_at(self, target: str, ident: str) -> Kind | None:
        found = self.store.member(target, ident)
        return found[0] if found is not None else None

    # -- /core/brands/current/ (brands.py) --------------------------------------------------------
    def current_brand_routes(self) -> list[Route]:
        spec = self.profile.current_brand
        if str(spec.get("of")) not in self.model.kinds:
            return []
        return [self.route(str(spec["path"]), {"GET": self.current_brand})]

    async def current_brand(self, request: Request) -> Response:
        spec = self.profile.current_brand
        kind = self.model.kinds[str(spec["of"])]
        brand = brands.serving(self.store.values[kind.name], request.headers.get("host", ""))
        if brand is None:
            return self.not_found(kind.model)
        body = spec["body"]
        return JSONResponse(brands.current(body if isinstance(body, dict) else {}, brand,
                                           self.store.values[brands.FLOW]))

    # -- read-only actions of one object (apps 242, 444, 487, 506) ------------------------------
    def action_routes(self) -> list[Route]:
        """Answers no state changes: an application's `check_access/`, an outpost's `health/`,
        a service connection's `state/`, an OAuth2 provider's `setup_urls/` (`{base}` is this
        server's address; the URLs of a provider without application)."""
        routes = []
        for action in self.profile.apps.actions:
            target = str(action["of"])
            kind = self.model.kinds.get(target)
            path = kind.path if kind else self.model.targets[target].path if target in self.model.targets else None
            if path:
                routes.append(self.route(path + "{ident}/" + str(action["action"]),
                                         {"GET": partial(self.fixed_action, target, action["body"])}))
        return routes

    async def fixed_action(self, target: str, body: Json, request: Request, ident: str) -> Response:
        kind = self.model.kinds.get(target)
        found = self.store.find(kind, ident) if kind else self.store.member(target, ident)
        if found is None:
            return self.not_found(kind.model if kind else target.capitalize())
        return JSONResponse(json.loads(json.dumps(body).replace("{base}", BASE_URL.get())))

    # -- /sources/all/ actions (profile `sources`) ------------------------------------------------
    def source_routes(self) -> list[Route]:
        """`user_settings/` (the enabled sources a user may connect, 372) and, where the version
        has it, `{slug}/set_icon_url/` (2023 269)."""
        spec = self.profile.sources
        if not spec:
            return []
        routes = [self.route(f"{SOURCES}user_settings/", {"GET": self.source_user_settings})]
        if spec.get("set_icon_url"):
            routes.append(self.route(SOURCES + "{ident}/set_icon_url/", {"POST": self.set_source_icon}))
        saml = self.model.kinds.get("saml_source")
        if spec.get("saml_metadata") and saml:
            routes.append(self.route(saml.path + "{ident}/metadata/", {"GET": partial(self.source_metadata, saml)}))
        return routes

    async def source_metadata(self, kind: Kind, request: Request, ident: str) -> Response:
        """`{"metadata": <SP metadata XML>, "download_url": <its page>}` (303)."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.not_found(kind.model)
        values = self.store.values[kind.name][found]
        return JSONResponse({"metadata": saml_metadata(self.profile.sources["saml_metadata"], values, BASE_URL.get()),
                             "download_url": f"/source/saml/{values.get('slug')}/metadata/"})

    async def source_user_settings(self, request: Request) -> Response:
        """By title, ties in the order last written (372)."""
        kinds = self.profile.sources.get("user_settings", {})
        found = [(kind, pk, values) for kind, pk in self.store.members("source") if kind.name in kinds
                 for values in [self.store.values[kind.name][pk]] if values.get("enabled", True)]
        found.sort(key=lambda item: self.store.written.get(str(item[1]), 0))
        found.sort(key=lambda item: str(item[2].get("name")))
        return JSONResponse([user_settings_entry(kinds[kind.name], values,
                                                 self.renderer.sources.value(kind, pk, values, "icon_url"))
                             for kind, pk, values in found])

    async def set_source_icon(self, request: Request, ident: str) -> Response:
        """Stores the URL as the source's icon, which 2023 shows only in user_settings (269, 372)."""
        found = self.store.member("source", ident)
        if found is None:
            return self.not_found("Source")
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        self.store.update(found[0], found[1], {"icon": body.get("url", "")})
        return JSONResponse({})

    # -- outposts --------------------------------------------------------------------------------
    def outpost_routes(self) -> list[Route]:
        kind = self.model.kinds.get("outpost")
        if kind is None or not self.profile.apps.outpost_defaults:
            return []
        return [self.route(kind.path + "default_settings/", {"GET": self.outpost_defaults})]

    async def outpost_defaults(self, request: Request) -> Response:
        """The config a new outpost gets, pointing at this server (apps 20)."""
        body = copy.deepcopy(self.profile.apps.outpost_defaults)
        body["config"]["authentik_host"] = BASE_URL.get() + "/"
        return JSONResponse(body)

    # -- certificate-key pairs (certificates.py) ------------------------------------------------
    def key_pair_routes(self) -> list[Route]:
        kind = self.model.kind_for_path(certificates.KEY_PAIRS)
        if kind is None:
            return []
        return [self.route(kind.path + "generate/", {"POST": partial(self.generate_key_pair, kind)}),
                self.route(kind.path + "{ident}/view_certificate/",
                           {"GET": partial(self.view_pem, kind, "certificate_data", "certificate")}),
                self.route(kind.path + "{ident}/view_private_key/",
                           {"GET": partial(self.view_pem, kind, "key_data", "private_key")})]

    async def generate_key_pair(self, kind: Kind, request: Request) -> Response:
        """A generated key pair is answered with 200, not 201 (apps 26); a version without `alg`
        choices makes an RSA key whatever `alg` says (2023 apps 29)."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        request_errors = certificates.generate_errors(body, self.profile.generate_algs)
        if request_errors:
            return JSONResponse(request_errors, 400)
        name = str(body["common_name"]).strip()
        certificate, key = certificates.generate(
            name, [alt.strip() for alt in str(body.get("subject_alt_name") or "").split(",") if alt.strip()],
            int(body["validity_days"]), str(body.get("alg", "rsa")) if self.profile.generate_algs else "rsa")
        pk = self.store.new_pk(kind)
        self.store.insert(kind, pk, {**creation_defaults(kind), "name": name, "certificate_data": certificate,
                                     "key_data": key})
        return JSONResponse(self.renderer.render(kind, pk))

    async def view_pem(self, kind: Kind, field: str, file_part: str, request: Request, ident: str) -> Response:
        """`{"data": PEM}`, empty without one (apps 38, 39, 41); `?download` the file (40)."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        values = self.store.values[kind.name][found]
        pem = str(values.get(field) or "")
        if "download" not in request.query_params:
            return JSONResponse({"data": pem})
        filename = f"{values.get('name')}_{file_part}.pem"
        return Response(pem, media_type="application/x-pem-file",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    # -- flow backgrounds and application icons -------------------------------------------------
    def file_url_routes(self) -> list[Route]:
        """`set_background_url` and `set_icon_url`: the 2023 way to set a flow's background and
        an application's icon, read-only fields there (flows 46-49, apps 427, 428); 2026 has no
        such routes and its web server answers the request itself (flows 46, 48; apps 427)."""
        routes = []
        for kind_name, action, held in FILE_ACTIONS:
            kind = self.model.kinds.get(kind_name)
            if kind is None:
                continue
            path = kind.path + "{ident}/" + action
            if self.profile.flow_background["action"] == "server_error":
                routes.append(Route(API_PREFIX + path, no_route, methods=ALL_METHODS))
            else:
                routes.append(self.route(path, {"POST": partial(self.set_file_url, kind, held)}))
        return routes

    async def set_file_url(self, kind: Kind, held: str, request: Request, ident: str) -> Response:
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        if body.get("url") is None:  # source reading: set_file_url answers HttpResponseBadRequest
            return bad_request_page()
        self.store.hold(found, held, str(body["url"]))
        return JSONResponse({})

    # -- user and group actions (accounts.py) ----------------------------------------------------
    def account_routes(self) -> list[Route]:
        """Before the kinds' routes: `/core/users/paths/` is no user's detail path."""
        if not has_accounts(self.model.kinds):
            return []
        accounts = Accounts(self.profile, self.store, self.renderer.directory, self.body, self.found_with_body)
        return [self.route(path, {method: handler}) for path, (method, handler) in accounts.handlers().items()]

    # -- roles and their permissions (roles.py, rbac.py) -----------------------------------------
    def role_routes(self) -> list[Route]:
        if not has_roles(self.model.kinds):
            return []
        roles = Roles(self.profile, self.store, self.grants, self.body, self.found_with_body,
                      lambda objects, request, path: self.page(objects, request, path, None), self.not_found)
        return [self.route(path, {method: handler}) for path, (method, handler) in roles.handlers().items()]

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
            selected = select(objects, query, spec, partial(self.filter_value, kind, query=query))
            if spec.last_written:
                selected = sorted(selected, key=lambda obj: self.store.written.get(str(obj.get("pk")), 0))
            envelope = paginate(order(selected, spec.ordering, query, self.sort_value), query,
                                self.profile.page_size, self.profile.max_page_size)
        except InvalidFilter as exc:
            return JSONResponse(exc.errors, 400)
        except InvalidJsonFilter:
            return JSONResponse([BAD_JSON], 400)
        except InvalidPage:
            return detail(INVALID_PAGE, 404)
        if kind is not None:
            envelope["results"] = self.kind_page(kind, query, envelope)
        return JSONResponse({**envelope, **self.profile.extra_for(path)})

    def kind_page(self, kind: Kind, query: Mapping[str, str], envelope: JsonObject) -> list[JsonObject]:
        """A kind's page as the query shows it: the `include_*` switches, applied to the page's
        objects only (the kept list is every object's, `rendered`), `?include_details=false`'s
        nulls, or the cached page (`cached_page`)."""
        if kind.name in self.profile.apps.cached_lists:
            return self.cached_page(kind, query, envelope)
        results = [self.renderer.directory.with_query(kind, dict(obj), query) for obj in envelope["results"]]
        hidden = self.profile.apps.detail_fields.get(kind.name, ())
        if hidden and query.get("include_details", "").lower() == "false":
            return [{k: None if k in hidden else v for k, v in obj.items()} for obj in results]
        return results

    def cached_page(self, kind: Kind, query: Mapping[str, str], envelope: JsonObject) -> list[JsonObject]:
        """The application list's per-user cache (apps 433-441): without `superuser_full_list`
        or `search`, a page holds the objects the first list since the last write found for that
        page number, whatever the filters are now; the count is the filtered one. (The server
        clears it on application writes; the sandbox on any write.)"""
        if query.get("superuser_full_list", "").lower() in ("true", "1") or "search" in query:
            return list(envelope["results"])
        number = envelope["pagination"]["current"]
        generation, pages = self._cached.get(kind.name, (-1, {}))
        if generation != self.store.generation:
            generation, pages = self.store.generation, {}
            self._cached[kind.name] = (generation, pages)
        if number not in pages:
            pages[number] = [obj["pk"] for obj in envelope["results"]]
        return [self.renderer.render(kind, pk) for pk in pages[number] if pk in self.store.values[kind.name]]

    def filter_value(self, kind: Kind | None, how: str, param: str, value: str,
                     query: Mapping[str, str] | None = None) -> Json:
        """What a filter value names: the object a reference filter wants, by pk (a policy
        binding's target only by its binding-model UUID, flows 264, 265), whether a policy has
        no bindings (flows 220), the roles a user or group holds, a value held unshown."""
        if how == "related":
            return self.renderer.directory.roles_held(param, value, (query or {}).get("inherited", "") == "true")
        if how == "held_isnull":
            return self.store.held.get(value, {}).get(param.removesuffix("__isnull"))
        if how == "unbound":
            return not self.store.referring("policy_binding", "policy", value)
        if how == "backchannel":
            return any(self.model.kinds[name].constants.get("meta_model_name") == value
                       for name in self.profile.apps.backchannel_kinds if name in self.model.kinds)
        if how in MEMBER_LOOKUPS:
            return self.renderer.directory.named(how, value)
        if how == "binding_model":
            return next((pk for pk, held in self.store.held.items() if held.get(PTR_ID) == normal_uuid(value)), None)
        field = kind.fields.get(param) if kind else None
        return self.referenced(field, value) if field is not None and field.reference else None

    def referenced(self, field: Field, value: str) -> Json:
        """The object a reference filter's value names, by integer pk (a RAC endpoint's provider,
        apps 354) or UUID."""
        ident: Json = int(value) if field.type == "integer" and value.strip().isdigit() else normal_uuid(value)
        return self.store.resolve(str(field.reference), ident) if ident is not None else None

    def sort_value(self, obj: JsonObject, key: str) -> Json:
        """Sort keys that are no field of the object: a policy binding's target sorts by its
        binding-model UUID in 2023 (flows 224); `written` by the object's last write."""
        if key == "target_ptr":
            return self.store.target_sort_key(str(obj.get("target")))
        pk = obj.get("pk")
        if key == "written" and isinstance(pk, str | int):  # ties in table order, the last written last (56)
            return self.store.written.get(pk, 0)
        return None

    async def found_with_body(self, kind: Kind, request: Request, ident: str) -> tuple[ObjectId, JsonObject] | Response:
        """The object a URL names and the request's body, or the answer refusing either."""
        found = self.store.find(kind, ident)
        if found is None:
            return self.missing(kind, ident)
        body = await self.body(request)
        return body if isinstance(body, Response) else (found, body)

    def not_found(self, model: str) -> Response:
        return detail(self.profile.not_found_detail(model), 404)  # 83-85, 108; flows 64, 117, 137, 223, 275

    def missing(self, kind: Kind, ident: str) -> Response:
        """The 404 of an object URL: an ident that cannot be a pk of the kind fails the lookup
        itself, which DRF answers with the plain "Not found." in both versions (2026 directory 34:
        a group's num_pk); a pk that names nothing gets the version's text."""
        if kind.url_field in ("pk", kind.id_field) and self.store.pk_for(kind, ident) is None:
            return detail(PLAIN_NOT_FOUND, 404)
        return self.not_found(kind.model)

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
        entries = [self.base_named(str(field.reference), usage(self.renderer.target_object(str(field.reference), ident),
                                                               str(field.reference), ident, self.profile.used_by_many))
                   for name, field in kind.fields.items() if field.reference and field.is_list
                   and name not in kind.mirrored  # a group's members are the users' `groups` (147)
                   for ident in values.get(field.name) or []]
        target = self.model.target_of(kind)
        for other, other_pk, field in self.referrers_in_order(target, pk) if target else ():
            if f"{other.name}.{field.name}" not in self.profile.used_by_unlisted:
                entries.append(self.labelled(other, usage(self.renderer.render(other, other_pk), model_label(other),
                                                          other_pk, self.delete_action(other, field))))
        if kind.name == ROLE and self.profile.rbac.get("used_by_rows"):
            entries = self.with_grant_rows(str(pk), entries)
        return [{**entry, "pk": str(entry["pk"])} for entry in entries]  # Django's str(obj.pk) (147)

    def delete_action(self, other: Kind, field: Field) -> str:
        """What deleting the object does to one that refers to it by `field` (106)."""
        if field.is_list:
            return self.profile.used_by_many
        if field.name in other.cascade or not field.nullable:
            return self.profile.used_by_cascade
        return self.profile.used_by_set_null

    def with_grant_rows(self, role: str, entries: list[JsonObject]) -> list[JsonObject]:
        """A 2026 role's permission rows (`cascade`), listed after the groups holding the role and
        before its users, as Django orders the role's relations (187)."""
        rows = self.grants.usages(role, self.profile.used_by_cascade, self.object_text)
        first_user = next((i for i, entry in enumerate(entries) if entry["model_name"] == "user"), len(entries))
        return [*entries[:first_user], *rows, *entries[first_user:]]

    def object_text(self, pk: str) -> str:
        """An object as Django prints it (`Group rec3-group-child-ps`, 187), by its `used_by` label."""
        kind = self.store.kind_at(pk)
        if kind is None:
            return pk
        return str(self.labelled(kind, usage(self.renderer.render(kind, pk), model_label(kind), pk, ""))["name"])

    def referrers_in_order(self, target: str, pk: ObjectId) -> list[tuple[Kind, ObjectId, Field]]:
        """The objects referring to `pk`, those by a many-to-many field the profile reads in storage
        order last, in that order (directory 434)."""
        found = list(self.store.referrers(target, pk))
        stored = [entry for entry in found if f"{entry[0].name}.{entry[2].name}" in self.profile.heap_ordered]
        written = self.store.written
        return [entry for entry in found if entry not in stored] + sorted(stored, key=lambda e: written.get(e[1], 0))

    def base_named(self, target: str, entry: JsonObject) -> JsonObject:
        """A many-to-many entry whose relation points at a base class, named as that class's object
        (a source's mappings: `Property Mapping <name>` of authentik_core, directory 371, apps 443)."""
        base = self.profile.used_by_bases.get(target)
        if base is None:
            return entry
        return {**entry, "app": base["app"], "model_name": base["model_name"],
                "name": str(base["name"]).format(name=entry["name"])}

    def labelled(self, kind: Kind, entry: JsonObject) -> JsonObject:
        """A `used_by` entry with the app and name the profile gives the kind (directory 231)."""
        label = self.profile.used_by_labels.get(kind.name)
        if label is None:
            return entry
        values = self.store.values[kind.name][entry["pk"]]
        return {**entry, "app": label["app"], "name": str(label["name"]).format_map(values)}


async def dispatch(request: Request, handlers: Mapping[str, Handler]) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    if method == "OPTIONS":
        return JSONResponse({})
    if method not in handlers:
        return detail(f'Method "{request.method}" not allowed.', 405)  # 93
    return await handlers[method](request, **request.path_params)


async def no_route(request: Request) -> Response:
    return server_error()


def unrouted(request: Request) -> Response:
    """Django's 404 page for a read of an address no route matches (94; directory 27); authentik's
    404 handler is a view that only allows reads, so any other method gets its 405 with an empty
    page, like a server error (2023 directory 238: a PATCH of the 2023 unrouted /admin/settings/;
    2026 apps 427: a POST to an action 2026 does not have)."""
    return not_found_page() if request.method in READ_METHODS else server_error()


SOURCES = "/sources/all/"


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


def stored_as_text(kind: Kind, cleaned: Mapping[str, Json]) -> JsonObject:
    """The values a text column keeps as Python's text of what the serializer put there: the
    write's answer shows a list, later reads its text (2026 `pkce` filled from a discovery
    document's list: directory 280 answers ["S256"], 283 reads "['S256']")."""
    return {name: str(value) for name, value in cleaned.items()
            if isinstance(value, list) and name in kind.fields and kind.fields[name].type == "string"}
