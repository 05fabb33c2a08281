"""The authentik REST client: bearer token, pagination, and errors translated at the boundary
into `ApiError` with the call named and secrets scrubbed. Retries, backoff and deadlines are a
layer below it (`reconciler.transport`)."""
from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import urllib.request
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import httpx

from reconciler.errors import ApiError, ReconcilerError
from reconciler.server.transport import ATTEMPTS, Clock, DeadlineExceeded, PolicyTransport
from reconciler.values import REDACTED, Json, JsonObject, scrubbed

__all__ = ["Connection", "Client", "Page", "concurrently", "shape_error", "redirect_target"]

# Named for what it reports, not the module: the name shows in the CLI's log lines and users'
# log filters, and stays when modules move.
log = logging.getLogger("reconciler.client")

PAGINATION_NUMBERS = ("next", "current", "total_pages")
"""The integer page numbers of authentik's list envelope (`authentik/api/pagination.py`: 0 means
"none"; recordings 03, 04 of both versions) the client relies on."""
T = TypeVar("T")
TIMEOUT_RANGE = (0.1, 3600)
"""A call's deadline in seconds: finite (`inf` would wait forever, `nan` fails every call at once),
at least a tenth of a second, at most an hour."""
RETRIES_RANGE = (0, 20)


@dataclass(frozen=True, kw_only=True)
class Connection:
    """Where authentik is and how to reach it. `transport` is the test seam: the sandbox in-process.

    `timeout` bounds each attempt, the answer's body included; `connect_timeout` making the
    connection; `retries` how often a call that may safely be sent again is; `max_wait` the longest
    wait a `Retry-After` gets. `clock` is the time the retries wait on (tests pass a fake one);
    `on_wait` hears each wait announced (the CLI prints it)."""

    url: str
    token: str
    insecure: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    timeout: float = 30.0
    connect_timeout: float = 10.0
    page_size: int = 1000
    retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0
    max_concurrency: int = 8
    clock: Clock | None = field(default=None, compare=False)
    on_wait: Callable[[str], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # A token file read with its trailing newline is the same token: strip surrounding
        # whitespace, as Kubernetes' client-go does for token files (transport/token_source.go).
        object.__setattr__(self, "token", self.token.strip(" \t\r\n"))
        _check_policy(self)
        without = _without_credentials(self.url)
        if without != self.url:
            # Said once, where the connection is made; past here no URL carries the credentials.
            log.warning("the authentik URL %s carries credentials; they are not used: the tool authenticates "
                        "with the API token", self.display_url)
            object.__setattr__(self, "url", without)

    def __repr__(self) -> str:
        return f"Connection(url={self.display_url!r}, token={REDACTED!r})"

    @property
    def base_url(self) -> str:
        """The API root: `URL/api/v3` (a URL that already ends in `/api/v3` is taken as it is)."""
        url = self.url.rstrip("/")
        return url if url.endswith("/api/v3") else url + "/api/v3"

    @property
    def display_url(self) -> str:
        """The server as plans, errors and the state file name it: no credentials, no API path."""
        try:
            parsed = httpx.URL(self.url)
        except (httpx.InvalidURL, TypeError):
            return _without_credentials(self.url)
        shown = parsed.copy_with(username=None, password=None)
        text = str(shown).rstrip("/")
        return text[: -len("/api/v3")] if text.endswith("/api/v3") else text


def _check_policy(connection: Connection) -> None:
    """The same bounds as the CLI's `--timeout` and `--retries` (`reconciler.cli.options`)."""
    low, high = TIMEOUT_RANGE
    for name in ("timeout", "connect_timeout"):
        seconds = getattr(connection, name)
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and low <= seconds <= high):
            raise ReconcilerError(f"{name} must be a finite number of seconds from {low} to {high}, not {seconds!r}")
    low, high = RETRIES_RANGE
    if not (isinstance(connection.retries, int) and low <= connection.retries <= high):
        raise ReconcilerError(f"retries must be a whole number from {low} to {high}, not {connection.retries!r}")


USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:)?(?P<slashes>//)[^/?#]*@")
"""The credentials of a URL, found by text alone, so a URL too broken to parse (`--url
http://user:pass@host:99999`) is still named without them."""


def _without_credentials(url: str) -> str:
    return USERINFO.sub(r"\g<scheme>\g<slashes>", url, count=1) if isinstance(url, str) else url


def api_url(connection: Connection) -> httpx.URL:
    """The API root as httpx takes it, or one error naming the URL given (without credentials,
    which the connection has dropped): httpx takes any port up to 99999 and fails only when
    connecting to it."""
    try:
        url = httpx.URL(connection.base_url)
    except httpx.InvalidURL as exc:
        raise ApiError(f"invalid authentik URL: {connection.url}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ApiError(f"invalid authentik URL: {connection.url}: expected http:// or https:// and a host")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ApiError(f"invalid authentik URL: {connection.url}: port {url.port} is out of range (1-65535)")
    return url


def check_token(token: str) -> None:
    """Refuse a token no HTTP header can carry, before any request, without echoing it."""
    if not token:
        raise ApiError("the API token is empty: check AUTHENTIK_TOKEN")
    for position, char in enumerate(token, start=1):
        if ord(char) < 32 or ord(char) == 127:
            raise ApiError(f"the API token contains a control character (position {position})")
        if ord(char) > 127:
            raise ApiError(f"the API token contains a non-ASCII character (position {position})")


def _environment_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`, `NO_PROXY`...): httpx only reads
    them when it builds the transport itself, and the policy layer needs to wrap it."""
    if urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(url.scheme) or proxies.get("all")


class Client:
    """One HTTP session to `/api/v3/`. Counts its requests so tests and benchmarks can check them."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._secrets: set[str] = set()
        # The one bound on requests in flight, whoever makes them: a fetch's lists and their pages,
        # an apply's changes and their look-ups.
        self._limit = asyncio.Semaphore(connection.max_concurrency)
        url = api_url(connection)
        check_token(connection.token)
        proxy = _environment_proxy(url)
        # Plain http:// straight to the server (redirects are never followed) makes no TLS
        # connection: loading the CA bundle for it would cost a tenth of every plan's start.
        verify = not connection.insecure and (url.scheme == "https" or proxy is not None)
        inner = connection.transport or httpx.AsyncHTTPTransport(verify=verify, proxy=proxy)
        self._transport = PolicyTransport(inner, deadline=connection.timeout, retries=connection.retries,
                                          backoff=connection.backoff, max_wait=connection.max_wait,
                                          clock=connection.clock, on_wait=connection.on_wait)
        self._http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {connection.token}", "Accept": "application/json"},
            transport=self._transport,
            timeout=httpx.Timeout(connection.timeout, connect=min(connection.connect_timeout, connection.timeout)),
            trust_env=False,  # the environment's proxy and CA bundle are the inner transport's
        )
        self._secrets.add(connection.token)

    @property
    def request_count(self) -> int:
        """Every attempt sent to the server, retries included."""
        return self._transport.attempts

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    def add_secrets(self, values: Iterable[str]) -> None:
        """Values that must never appear in an error message (they may be echoed by the server)."""
        self._secrets.update(v for v in values if v)

    def scrub(self, text: str) -> str:
        """`text` with every known secret replaced (`values.scrubbed`)."""
        return scrubbed(text, self._secrets)

    def scrub_data(self, value: Json) -> Json:
        """A decoded JSON body with every string scrubbed (keys included)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_data(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_data(v) for k, v in value.items()}
        return value

    async def version(self) -> str:
        """The server's version, from `/admin/version/`'s `version_current` (recording 01)."""
        body = await self.request("GET", "/admin/version/")
        version = body.get("version_current") if isinstance(body, dict) else None
        if not isinstance(version, str):
            raise shape_error("GET", "/admin/version/", 'the answer has no "version_current" string')
        return version

    async def list(self, path: str, *, require: Collection[str] = (), **params: str) -> list[JsonObject]:
        """Every object of a list endpoint, in page order: page 1, then pages 2..N of page 1's
        `total_pages` concurrently (at most `max_concurrency` at once; a real 2026.2.2 caps a page
        at 100 objects, recording 112). Each page is checked: the envelope's shape, every item an
        object holding the keys in `require`, `current` the page asked for, and `next` the page
        after it (0 on page N): a server whose `next` stalls or runs past N fails the call rather
        than being followed forever.

        A list written to while it is read grows: page N then says there is a next page, and its
        own `total_pages` agrees. Those pages are followed one by one while they advance, up to
        `growth_bound(N)` pages; an object that moved onto a later page as the list grew is kept once."""
        first = await self._page(path, 1, params, require)
        total = first.total_pages
        if total < 1:
            raise shape_error("GET", path, f'page 1 says there are {total} pages ("total_pages")')
        first.check_next(path, total)
        pages = [first, *await concurrently([partial(self._page, path, number, params, require)
                                             for number in range(2, total + 1)])]
        for page in pages[1:-1]:
            page.check_next(path, total)
        last, bound = pages[-1], growth_bound(total)
        while last.grew(total):
            if last.next > bound:
                raise shape_error("GET", path, f"the list kept growing while it was read (page {last.next} of "
                                               f"at most {bound}); run again")
            last = await self._page(path, last.next, params, require)
            pages.append(last)
        if last.current > total:
            last.check_next(path, last.total_pages, counted="its")
        elif total > 1:
            last.check_next(path, total)
        return unique([item for page in pages for item in page.results])

    async def _page(self, path: str, number: int, params: dict[str, str], require: Collection[str]) -> Page:
        body = await self.request("GET", path, params={**params, "page": str(number),
                                                        "page_size": str(self.connection.page_size)})
        page = Page.of(path, number, body, require)
        if page.current != number:
            raise shape_error("GET", path, f"asked for page {number}, authentik answered page {page.current}")
        return page

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      body: JsonObject | None = None) -> Json:
        """One call; the transport below retries what is safe to send again, this translates what
        is left into `ApiError`."""
        response = await self._send(method, path, params, body)
        status = response.status_code
        if status >= 300:  # httpx follows no redirect: a 3xx is an answer we cannot use
            raise self._error(method, path, response)
        if status == 204 or not response.content:
            return None
        return _json(method, path, response)

    async def _send(self, method: str, path: str, params: dict[str, str] | None,
                    body: JsonObject | None) -> httpx.Response:
        """The answer to one call, whatever its status; what kept it from coming, as an `ApiError`."""
        try:
            async with self._limit:
                response = await self._http.request(method, path, params=params, json=body)
        except DeadlineExceeded as exc:
            raise ApiError(self.scrub(f"{method} {path}: {exc}"), method=method, path=path,
                           # a write that left may have been carried out: only its answer was lost
                           outcome_unknown=method != "GET") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiError(self.scrub(f"cannot reach authentik at {self.connection.display_url}: "
                                      f"{exc or exc.__class__.__name__}"),
                           method=method, path=path) from exc
        except httpx.DecodingError as exc:
            # A body its `Content-Encoding` does not describe (`gzip` on plain text): the transport
            # reads it whole, decoded, within the deadline, so this surfaces there. The server
            # answered: a write may have been carried out.
            raise ApiError(self.scrub(f"{method} {path}: authentik's answer could not be decoded as its "
                                      f"Content-Encoding says ({exc})"),
                           method=method, path=path, outcome_unknown=method != "GET") from exc
        except httpx.TransportError as exc:
            raise ApiError(self.scrub(f"{method} {path}: connection failed: {exc.__class__.__name__}"
                                      f"{': ' + str(exc) if str(exc) else ''}"),
                           method=method, path=path,
                           outcome_unknown=method != "GET" and not isinstance(exc, httpx.PoolTimeout)) from exc
        return response

    def _error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        """The `ApiError` for an answer that is not a success, its message and body scrubbed."""
        status = response.status_code
        try:
            body: Json = response.json()
        except ValueError:
            body = None
        message = _refusal(method, path, response, body)
        # A gateway's 502/503/504 to a write does not say whether authentik behind it acted.
        unknown = method not in ("GET", "HEAD") and status in (502, 503, 504)
        return ApiError(self.scrub(message), method=method, path=path, status=status, body=self.scrub_data(body),
                        outcome_unknown=unknown)


def _json(method: str, path: str, response: httpx.Response) -> Json:
    """A success's body, which must be JSON."""
    status = response.status_code
    try:
        return response.json()
    except json.JSONDecodeError as exc:
        raise ApiError(f"{method} {path}: authentik answered {status} with a body that is not JSON",
                       method=method, path=path, status=status) from exc
    except UnicodeDecodeError as exc:  # JSON is UTF-8 (RFC 8259): a proxy that re-encoded it
        raise ApiError(f"{method} {path}: authentik answered {status} with a body that is not valid UTF-8 "
                       f"(byte {exc.start + 1})", method=method, path=path, status=status) from exc
    except ValueError as exc:  # an integer past Python's limit on digits (CVE-2020-10735): "Exceeds the limit"
        raise ApiError(f"{method} {path}: authentik answered {status} with a number of more than "
                       f"{sys.get_int_max_str_digits()} digits", method=method, path=path, status=status) from exc


def _refusal(method: str, path: str, response: httpx.Response, body: Json) -> str:
    """What a status that is not a success means for the call, in words the user can act on."""
    status = response.status_code
    detail = body.get("detail") if isinstance(body, dict) else None
    call = f"{method} {path}"
    if 300 <= status < 400:
        return _redirected(call, response)
    if status in (401, 403):
        return f"authentik refused the token ({detail or status}): check AUTHENTIK_TOKEN"
    if status == 405 and method != "GET" and not response.content:
        # authentik answers an unhandled exception during a write with an empty HTML 405
        # (FINDINGS 2023.10.7 "Server errors", recordings 09, 43, 44).
        return f"{call}: authentik failed with a server error (an empty 405); see the server's log"
    if status == 400 and isinstance(body, dict):
        errors = format_field_errors(body)
        # Enterprise kinds and options without a licence (apps 321, 330, 357, 361, 365)
        licence = " (this needs an authentik Enterprise licence)" if "Enterprise is required" in errors else ""
        return f"{call}: authentik rejected the request: {errors}{licence}"
    if status == 404:
        return f"{call}: not found ({detail or 'no such object'})"
    if status == 429:
        return _throttled(call, response)
    return f"{call}: authentik answered {status}{': ' + str(detail) if detail else ''}"


def _redirected(call: str, response: httpx.Response) -> str:
    location = response.headers.get("location")
    target = f"redirecting to {redirect_target(response.url, location)}" if location else \
        "a redirect without a Location"
    return f"{call}: authentik answered {response.status_code}, {target} — is the URL's scheme or path right?"


def _throttled(call: str, response: httpx.Response) -> str:
    attempts = response.extensions.get(ATTEMPTS, 1)
    return (f"{call}: authentik is throttling requests (429), retries exhausted "
            f"({attempts} attempt{'s' * (attempts != 1)})")


@dataclass(frozen=True)
class Page:
    """One checked page of a list answer: its objects and its page numbers."""

    results: list[JsonObject]
    current: int
    next: int
    total_pages: int

    @classmethod
    def of(cls, path: str, number: int, body: Json, require: Collection[str] = ()) -> Page:
        """The page in `body`, or an `ApiError` naming the call and what is wrong with the shape:
        `{"pagination": {...integers}, "results": [objects]}` (`authentik/api/pagination.py`)."""
        if not isinstance(body, dict):
            raise shape_error("GET", path, f"the answer is {kind_of(body)}, not an object with a \"results\" list")
        results = _checked_results(path, number, body.get("results"), require)
        pagination = _checked_pagination(path, body.get("pagination"))
        return cls(results, pagination["current"], pagination["next"], pagination["total_pages"])

    def grew(self, total: int) -> bool:
        """Whether this page, at or past page 1's last (`total`), says the list has grown since:
        a next page after it, which its own `total_pages` counts (authentik computes both from
        one count, `authentik/api/pagination.py`)."""
        return self.current >= total and self.next == self.current + 1 and self.total_pages > self.current

    def check_next(self, path: str, total: int, counted: str = "page 1's") -> None:
        """`next` must be the page after this one, and 0 on the last of `total` pages (page 1's
        `total_pages`, or this page's own for a page past those of page 1)."""
        expected = self.current + 1 if self.current < total else 0
        if self.next == expected:
            return
        if self.next and self.next <= self.current:
            problem = f'page {self.current} has "next" {self.next}: the pages do not advance'
        elif self.next and self.current >= total:
            problem = f'page {self.current} has "next" {self.next}: more pages than {counted} "total_pages" ({total})'
        else:
            problem = f'page {self.current} of {total} has "next" {self.next}, not {expected}'
        raise shape_error("GET", path, problem)


def _checked_results(path: str, number: int, results: Json, require: Collection[str]) -> list[JsonObject]:
    """A page's `results`: a list of objects, each with the `require`d keys (null is none)."""
    if not isinstance(results, list):
        raise shape_error("GET", path, 'the answer has no "results" list')
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            raise shape_error("GET", path, f"page {number}, result {index + 1} is {kind_of(item)}, not an object")
        missing = [f'"{key}"' for key in require if item.get(key) is None]
        if missing:
            raise shape_error("GET", path, f"page {number}, result {index + 1} has no {', '.join(missing)}")
    return results


def _checked_pagination(path: str, pagination: Json) -> JsonObject:
    """A page's `pagination`: an object with integer page numbers."""
    if not isinstance(pagination, dict):
        raise shape_error("GET", path, 'the answer has no "pagination" object')
    for name in PAGINATION_NUMBERS:
        value = pagination.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise shape_error("GET", path, f'"pagination" has no integer "{name}"')
    return pagination


def growth_bound(total: int) -> int:
    """The most pages a list of `total` pages at page 1 is followed to as it grows while read:
    enough for the list to double, and never forever (issue #11)."""
    return 2 * total + 2


def unique(results: list[JsonObject]) -> list[JsonObject]:
    """`results` with an object seen again (its `pk` already read) left out: a list that grows
    while it is read shifts objects onto the next page, which may be read after the shift."""
    seen: set[Json] = set()
    kept = []
    for item in results:
        pk = item.get("pk")
        if isinstance(pk, str | int):
            if pk in seen:
                continue
            seen.add(pk)
        kept.append(item)
    return kept


def kind_of(value: Json) -> str:
    """How a shape error names a JSON value it did not expect."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def shape_error(method: str, path: str, problem: str) -> ApiError:
    """An answer of the wrong shape, checked where it enters (STYLE "Check what comes from outside
    where it enters"): past the client, code may index it."""
    return ApiError(f"{method} {path}: {problem}", method=method, path=path, status=200)


def redirect_target(request_url: httpx.URL, location: str) -> str:
    """Where a redirect points, as an error may show it: resolved against the request, without
    credentials, query or fragment (a redirect may carry a token)."""
    try:
        target = request_url.join(location)
        return str(target.copy_with(username=None, password=None, query=None, fragment=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(an invalid URL)"


async def concurrently(calls: Sequence[Callable[[], Coroutine[Json, Json, T]]]) -> list[T]:
    """Run `calls` together; their results in the calls' order. The first failure cancels the rest
    and is raised as it is. The client's own limit bounds the requests they make."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks: list[asyncio.Task[T]] = [group.create_task(call()) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the failure as it is, with its own cause
    return [task.result() for task in tasks]


def format_field_errors(body: JsonObject) -> str:
    """`{"name": ["..."], "user_fields": {"0": ["..."]}}` -> `name: ...; user_fields[0]: ...`."""
    parts: list[str] = []

    def walk(prefix: str, value: Json) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}[{key}]" if prefix and key.isdigit() else
                     (f"{prefix}.{key}" if prefix else key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append(f"{prefix}: {' '.join(value)}" if prefix != "non_field_errors" else " ".join(value))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}[{index}]", sub)
        else:
            parts.append(f"{prefix}: {value}")

    walk("", body)
    return "; ".join(parts)
