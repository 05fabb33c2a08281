"""The `Sandbox`: an in-memory authentik API of one version for tests, `--sandbox` runs and the
`reconciler sandbox` command."""
from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware

from reconciler.model.kinds import known_versions, load_model
from reconciler.values import Json, JsonObject

from . import misanswers, server
from .api import Api
from .blueprints import STALLED
from .faults import DROP, FaultInjector, Faults, Schedule
from .middleware import API_PREFIX, RecordedRequest, SandboxMiddleware
from .misanswers import MisanswerMiddleware
from .profile import default_seed, load_profile
from .store import Store
from .transport import SandboxTransport

LATEST_VERSION = known_versions()[-1]
DEFAULT_TOKEN = "sandbox-token"


class Sandbox:
    """An authentik API emulator built from the API model and the recordings of a real server.

    It starts as a fresh install (`seed`: the packaged fresh-install objects, or a file or dict of
    the same `{"version", "lists": {path: [objects]}}` form, which replaces them) and answers like
    the real server of `api_version`, quirks included. `requests` logs every request.

    Enterprise: in 2026.2.2 the kinds whose stage or policy type requires enterprise
    (`authenticator_endpoint_gdtc`, `mtls`, `source`, `unique_password_policy`) validate their
    fields and are then refused with 400
    `{"non_field_errors": ["Enterprise is required to create/update this object."]}`, as a server
    without a licence does; so do the enterprise providers (Google Workspace, Microsoft Entra, SSF,
    WS-Federation: apps 357-368), and a Radius certificate or SCIM OAuth mode is refused naming
    the licence (apps 321, 330). `enterprise=True` lifts that so every kind can be created.
    Two kinds need an object a fresh install lacks: `source` refuses the built-in source (the only
    one) as not web-based, so create a web-based source (`/sources/saml/`, ...) first, and
    `endpoints` needs an endpoint connector: add one with `add_seed_object` (or the seed).

    No network: where authentik fetches a URL while it validates (an OAuth source's
    `oidc_well_known_url` and `oidc_jwks_url`), the sandbox answers from `documents` (URL -> the
    JSON the URL serves; a seed's `"documents"` too, so `reconciler sandbox --seed` can serve
    them) and refuses any other URL as a closed port does (directory 278-280).

    Worker: the seed's `"worker": "stalled"` makes a worker that takes no task (a queue thousands
    of tasks long, as on the 2026 lab): what waits on it times out (the blueprint file list, a
    blueprint `path` check, a 2023 apply) and a 2026 apply is queued, never run (`blueprints.py`).
    """

    def __init__(self, api_version: str = LATEST_VERSION, token: str = DEFAULT_TOKEN,
                 seed: Path | Mapping[str, Json] | None = None, faults: Faults | None = None, *,
                 enterprise: bool = False, documents: Mapping[str, Json] | None = None) -> None:
        if api_version not in known_versions():
            raise ValueError(f"unknown authentik API version {api_version!r} "
                             f"(known: {', '.join(known_versions())})")
        self.api_version = api_version
        self.model = load_model(api_version)
        self.token = token
        self.enterprise = enterprise
        self.faults = faults or Faults()
        self.requests: list[RecordedRequest] = []
        seeded = load_seed(seed, api_version)
        self.store = Store(self.model, seeded)
        self._injector = FaultInjector(self.faults)
        self._misanswers: Schedule[misanswers.Misanswer] = Schedule()
        rbac = seeded.get("rbac")
        served = {**seed_documents(seeded), **(documents or {})}
        api = Api(model=self.model, profile=load_profile(api_version), store=self.store, token=token,
                  enterprise=enterprise, documents=served,
                  rbac_seed=rbac if isinstance(rbac, Mapping) else None,
                  stalled_worker=seeded.get("worker") == STALLED)
        self._renderer = api.renderer
        self.app = Starlette(routes=api.routes(), middleware=[
            Middleware(SandboxMiddleware, log=self.requests, injector=self._injector),
            Middleware(MisanswerMiddleware, misanswers=self._misanswers)])

    def set_faults(self, faults: Faults) -> None:
        """Meet the random faults of `faults` from now on (scheduled ones stay), e.g. a server
        set up without faults, then made unreliable, then checked without them again."""
        self.faults = faults
        self._injector.use(faults)

    def clear_log(self) -> None:
        self.requests.clear()

    def transport(self) -> httpx.AsyncBaseTransport:
        """For `httpx.AsyncClient(transport=sandbox.transport(), base_url="http://sandbox")`."""
        return SandboxTransport(self.app)

    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> AbstractContextManager[str]:
        """`with sandbox.serve_in_thread() as url:` serves over real HTTP until the block ends."""
        return server.serve_in_thread(self.app, host, port)

    def fail_next(self, method: str, path_prefix: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests of `method` ("*": any) whose path starts with
        `path_prefix` (with or without `/api/v3`) with `status`; see `faults.fault_response`."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        self._injector.scheduled.add(method, full_path(path_prefix), status, times)

    def drop_next(self, method: str, path_prefix: str, times: int = 1) -> None:
        """Drop the connection of the next matching requests: the client gets
        `httpx.RemoteProtocolError`, and the log records status 0."""
        self._injector.scheduled.add(method, full_path(path_prefix), DROP, times)

    # -- answers wrong in what they say (misanswers.py) -----------------------------------------
    def wrong_shape_next(self, method: str, path_prefix: str, shape: misanswers.Shape, times: int = 1) -> None:
        """Answer the next `times` matching requests with a body of the wrong `shape` (one of
        `misanswers.SHAPES`: "list", "empty_object", "no_results", "results_not_list",
        "item_not_object", "no_pk", "bad_pagination", "html", "not_utf8", "bad_gzip"), status as the
        API gave it."""
        if shape not in misanswers.SHAPES:
            raise ValueError(f"unknown shape {shape!r} (known: {', '.join(misanswers.SHAPES)})")
        self._misanswers.add(method, full_path(path_prefix), misanswers.WrongShape(shape), times)

    def redirect_next(self, method: str, path_prefix: str, location: str | None = None, status: int = 301,
                      times: int = 1) -> None:
        """Answer the next `times` matching requests with a redirect to `location` (default: the
        same address over https://, as a server that only speaks TLS does)."""
        if not 300 <= status <= 399:
            raise ValueError(f"not a redirect status: {status}")
        self._misanswers.add(method, full_path(path_prefix), misanswers.Redirect(status, location), times)

    def slow_body_next(self, method: str, path_prefix: str, seconds: float, times: int = 1, *,
                       pieces: int = 10) -> None:
        """Send the next `times` matching answers' headers at once and their body in `pieces`
        parts, one every `seconds / pieces` (real time: the server is slow; what a test checks is
        the client's timeout or deadline)."""
        if seconds < 0 or pieces < 1:
            raise ValueError("a slow body takes seconds >= 0 and pieces >= 1")
        self._misanswers.add(method, full_path(path_prefix), misanswers.SlowBody(seconds, pieces), times)

    def wrong_pages_next(self, path_prefix: str, paging: misanswers.Paging, times: int = 1) -> None:
        """Paginate the next `times` list GETs of `path_prefix` wrongly (one of
        `misanswers.PAGINGS`): "endless" (`next` always the page after, pages past the last
        answered empty with a lying `total_pages`), "stuck" (`next` is the page itself) or
        "ignores_page" (page 1 whatever is asked)."""
        if paging not in misanswers.PAGINGS:
            raise ValueError(f"unknown paging {paging!r} (known: {', '.join(misanswers.PAGINGS)})")
        self._misanswers.add("GET", full_path(path_prefix), misanswers.WrongPages(paging), times)

    def lose_answer_next(self, method: str, path_prefix: str, times: int = 1) -> None:
        """Carry out the next `times` writes of `method` ("*": any write) whose path starts with
        `path_prefix`, then drop the connection without answering: the client gets
        `httpx.RemoteProtocolError` though the server acted; the log records status 0."""
        self._injector.lost.add(method, full_path(path_prefix), True, times)

    def objects(self, kind_or_target: str) -> list[JsonObject]:
        """The current objects of a kind as the API shows them, plus their write-only values (so
        tests can check a secret arrived); a family target (`stage`, `policy`) gives every member
        as `/stages/all/` or `/policies/all/` does, a union target (`binding_target`) its members'
        objects, and any other target (`source`, `group`, `user`, ...) its read-only list."""
        kind = self.model.kinds.get(kind_or_target)
        if kind is not None:
            return [{**self._renderer.render(kind, pk),
                     **{name: values[name] for name in kind.write_only_fields if name in values}}
                    for pk, values in self.store.values[kind.name].items()]
        target = self.model.targets.get(kind_or_target)
        if target is None:
            raise KeyError(f"no kind or reference target {kind_or_target!r}")
        if target.union:
            return [obj for member in target.union for obj in self.objects(member)]
        if self.model.kinds_of(target.name):
            return [self._renderer.family_view(kind, pk) for kind, pk in self.store.members(target.name)]
        return self.seed_objects(target.path)

    def seed_objects(self, path: str) -> list[JsonObject]:
        """Everything a list path (`/flows/instances/`, `/stages/all/`, a kind's path) holds now,
        seeded or created since, as its list endpoint shows it."""
        kind = self.model.kind_for_path(path)
        if kind is not None:
            return [self._renderer.render(kind, pk) for pk in self.store.values[kind.name]]
        family = self.family_of(path)
        if family is not None:
            return self.objects(family)
        return copy.deepcopy(self.store.lists.get(path, []))

    def add_seed_object(self, path: str, obj: Mapping[str, Json]) -> None:
        """Add an object to a read-only list, e.g. a connector under `/endpoints/connectors/`."""
        if self.model.kind_for_path(path) is not None or self.family_of(path) is not None:
            raise ValueError(f"{path} is an API kind: create its objects through the API")
        self.store.add_listed(path, obj)

    def family_of(self, path: str) -> str | None:
        """The family target listed at `path` (`/stages/all/`: `stage`), if any."""
        return next((name for name, target in self.model.targets.items()
                     if target.path == path and self.model.kinds_of(name)), None)


def full_path(path: str) -> str:
    return path if path.startswith(API_PREFIX) else API_PREFIX + path


def load_seed(seed: Path | Mapping[str, Json] | None, api_version: str) -> Mapping[str, Json]:
    """The seed's objects, checked where they enter: a malformed seed is one `ValueError` naming
    the file (when it is one) and the key, not a failure deep in the store."""
    if seed is None:
        return default_seed(api_version)
    if isinstance(seed, str | Path):
        return checked_seed(read_seed(Path(seed)), api_version, f"{seed}: ")
    return checked_seed(seed, api_version, "")


class Unreadable:
    """A JSON value a seed cannot hold, kept in its place while the file is read, so the error
    can name its key."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _integer(text: str) -> int | Unreadable:
    try:
        return int(text)
    except ValueError:  # past Python's limit on the digits of an int read from text
        return Unreadable(f"a number of {len(text)} digits, more than {sys.get_int_max_str_digits()}")


def _real(text: str) -> float | Unreadable:
    value = float(text)
    return value if math.isfinite(value) else Unreadable(f"{text} is not a finite number")


def _constant(text: str) -> Unreadable:
    return Unreadable(f"{text} is not JSON")


def read_seed(path: Path) -> object:
    try:
        return json.loads(path.read_bytes(), parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the sandbox seed: {exc.strerror or exc}") from exc
    except RecursionError as exc:
        raise ValueError(f"{path}: the sandbox seed is nested too deeply") from exc
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ValueError(f"{path}: the sandbox seed is not JSON: {exc}") from exc


def seed_documents(seed: Mapping[str, Json]) -> Mapping[str, Json]:
    """The documents a seed serves by URL (checked by `checked_seed`)."""
    documents = seed.get("documents", {})
    return documents if isinstance(documents, Mapping) else {}


def checked_seed(data: object, api_version: str, where: str) -> Mapping[str, Json]:
    """`data` as a seed of `api_version`: `{"version": ..., "lists": {path: [objects]}}`, every
    value one JSON holds. `where`: the file, as the errors name it."""
    if not isinstance(data, Mapping) or not isinstance(data.get("lists"), Mapping):
        raise ValueError(f'{where}a sandbox seed is an object {{"version": ..., "lists": {{path: [objects]}}}}')
    if data.get("version", api_version) != api_version:
        raise ValueError(f"{where}the seed is for authentik {data['version']}, not {api_version}")
    if data.get("worker", "running") not in ("running", STALLED):
        raise ValueError(f'{where}worker: "running" or "{STALLED}", not {json.dumps(data["worker"])}')
    if not isinstance(data.get("documents", {}), Mapping):
        raise ValueError(f"{where}documents: an object of URL -> the JSON document that URL serves")
    for path, objects in data["lists"].items():
        key = f"lists[{json.dumps(path)}]"
        if not isinstance(objects, list):
            raise ValueError(f"{where}{key}: not a list of objects")
        for index, obj in enumerate(objects):
            if not isinstance(obj, Mapping):
                raise ValueError(f"{where}{key}[{index}]: not an object")
    try:
        unreadable = _first_unreadable(data, "")
    except RecursionError as exc:
        raise ValueError(f"{where}the sandbox seed is nested too deeply") from exc
    if unreadable is not None:
        raise ValueError(f"{where}{unreadable}")
    return data


def _first_unreadable(value: object, key: str) -> str | None:
    """`key: problem` of the first value JSON could not give (`Unreadable`), if any."""
    if isinstance(value, Unreadable):
        return f"{key}: {value.problem}"
    children = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for child, item in children:
        name = f"[{json.dumps(child)}]" if not isinstance(child, str) or not child.isidentifier() else (
            f".{child}" if key else child)
        found = _first_unreadable(item, key + name)
        if found is not None:
            return found
    return None


def serve(host: str = "127.0.0.1", port: int = 9000, api_version: str = LATEST_VERSION,
          token: str = DEFAULT_TOKEN, seed: Path | Mapping[str, Json] | None = None, *,
          enterprise: bool = False, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve a sandbox with uvicorn until interrupted (the `reconciler sandbox` command);
    `on_ready` gets the URL once the port is bound. A port in use raises `OSError`."""
    sandbox = Sandbox(api_version, token, seed, enterprise=enterprise)
    server.serve_app(sandbox.app, host, port, on_ready)


