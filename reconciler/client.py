"""The authentik REST client: bearer token, pagination, and errors translated at the boundary
into `ApiError` with the call named and secrets scrubbed. Retries, backoff and deadlines are a
layer below it (`reconciler.transport`)."""
from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.errors import ApiError
from reconciler.transport import ATTEMPTS, Clock, DeadlineExceeded, PolicyTransport
from reconciler.values import REDACTED

__all__ = ["Connection", "Client"]

log = logging.getLogger(__name__)


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
            return "(invalid URL)"
        shown = parsed.copy_with(username=None, password=None)
        text = str(shown).rstrip("/")
        return text[: -len("/api/v3")] if text.endswith("/api/v3") else text


def _without_credentials(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


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
        self._limit = asyncio.Semaphore(connection.max_concurrency)
        try:
            url = httpx.URL(connection.base_url)
            if url.scheme not in ("http", "https") or not url.host:
                raise httpx.InvalidURL("expected http:// or https:// and a host")
        except httpx.InvalidURL as exc:
            raise ApiError(f"invalid authentik URL: {exc}") from exc
        check_token(connection.token)
        inner = connection.transport or httpx.AsyncHTTPTransport(verify=not connection.insecure,
                                                                 proxy=_environment_proxy(url))
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
        """`text` with every known secret replaced. A secret of under 4 characters is replaced only
        where it stands quoted, as servers echo values ("x" is not a valid choice): replacing it
        everywhere would garble the message without hiding more."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, REDACTED)
            else:
                for quoted in (f'"{secret}"', f"“{secret}”", f"'{secret}'"):
                    text = text.replace(quoted, f'"{REDACTED}"')
        return text

    def scrub_data(self, value: Any) -> Any:
        """A decoded JSON body with every string scrubbed (keys included)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_data(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_data(v) for k, v in value.items()}
        return value

    async def version(self) -> str:
        body = await self.request("GET", "/admin/version/")
        return str(body["version_current"])

    async def list(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every object of a list endpoint, following authentik's integer `next` page numbers."""
        results: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.request("GET", path, params={**params, "page": str(page),
                                                            "page_size": str(self.connection.page_size)})
            results.extend(body["results"])
            next_page = body.get("pagination", {}).get("next") or 0
            if not next_page or next_page <= page:
                return results
            page = int(next_page)

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      body: dict[str, Any] | None = None) -> Any:
        """One call; the transport below retries what is safe to send again, this translates what
        is left into `ApiError`."""
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
        except httpx.TransportError as exc:
            raise ApiError(self.scrub(f"{method} {path}: connection failed: {exc.__class__.__name__}"
                                      f"{': ' + str(exc) if str(exc) else ''}"),
                           method=method, path=path,
                           outcome_unknown=method != "GET" and not isinstance(exc, httpx.PoolTimeout)) from exc
        status = response.status_code
        if status >= 400:
            raise self._error(method, path, response)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise ApiError(f"{method} {path}: authentik answered {status} with a body that is not JSON",
                           method=method, path=path, status=status) from exc

    def _error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        call = f"{method} {path}"
        if status in (401, 403):
            message = f"authentik refused the token ({detail or status}): check AUTHENTIK_TOKEN"
        elif status == 405 and method != "GET" and not response.content:
            # authentik answers an unhandled exception during a write with an empty HTML 405
            # (FINDINGS 2023.10.7 "Server errors", recordings 09, 43, 44).
            message = f"{call}: authentik failed with a server error (an empty 405); see the server's log"
        elif status == 400 and isinstance(body, dict):
            message = f"{call}: authentik rejected the request: {format_field_errors(body)}"
        elif status == 404:
            message = f"{call}: not found ({detail or 'no such object'})"
        elif status == 429:
            attempts = response.extensions.get(ATTEMPTS, 1)
            message = (f"{call}: authentik is throttling requests (429), retries exhausted "
                       f"({attempts} attempt{'s' * (attempts != 1)})")
        else:
            message = f"{call}: authentik answered {status}{': ' + str(detail) if detail else ''}"
        return ApiError(self.scrub(message), method=method, path=path, status=status, body=self.scrub_data(body))


def format_field_errors(body: dict[str, Any]) -> str:
    """`{"name": ["..."], "user_fields": {"0": ["..."]}}` -> `name: ...; user_fields[0]: ...`."""
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
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
