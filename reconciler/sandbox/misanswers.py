"""Answers that are wrong in what they say rather than in their status, scheduled like
`fail_next`: a body of the wrong shape, a redirect, a body trickled out slowly, and pagination
that lies. They let tests show the client checks every answer where it enters (issue #11).

A layer inside `SandboxMiddleware`, so the request log records the status the client saw."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.values import Json, JsonObject

from .faults import Schedule
from .responses import NOT_FOUND_PAGE

Shape = Literal["list", "empty_object", "no_results", "results_not_list", "item_not_object", "no_pk",
                "bad_pagination", "html", "not_utf8", "bad_gzip", "huge_number"]
SHAPES: tuple[Shape, ...] = ("list", "empty_object", "no_results", "results_not_list", "item_not_object", "no_pk",
                             "bad_pagination", "html", "not_utf8", "bad_gzip", "huge_number")
"""`list`: the results (or the object) as a bare JSON list; `empty_object`: `{}`; `no_results`: the
envelope without `results`; `results_not_list`: `results` an object; `item_not_object`: each
result replaced by its pk; `no_pk`: the first result without its `pk`; `bad_pagination`:
`total_pages` a string; `html`: 200 with an HTML page (a proxy's or the UI's); `not_utf8`: the
body with a Latin-1 `"detail": "café"` first (a proxy that re-encodes), not valid UTF-8;
`bad_gzip`: the body as it is, said to be `Content-Encoding: gzip`; `huge_number`: the body with
`"count": ` and a number of 5000 digits first, valid JSON that Python reads only past its limit
on digits."""

Paging = Literal["endless", "stuck", "ignores_page"]
PAGINGS: tuple[Paging, ...] = ("endless", "stuck", "ignores_page")
"""`endless`: every page says `next` is the one after it, and a page past the last answers empty
results claiming to be page N of N (`total_pages` lies); `stuck`: `next` is the page itself;
`ignores_page`: page 1 whatever page is asked (a proxy that drops the query)."""


@dataclass
class Captured:
    """An answer of the inner app, held back to be rewritten."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Json:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def capture(app: ASGIApp, scope: Scope, receive: Receive) -> Captured:
    answer = Captured(0, [], b"")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status, answer.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer


async def respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json",
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def reshape(body: Json, shape: Shape) -> Json:
    """`body` (a list envelope or an object) in the wrong `shape`."""
    envelope = body if isinstance(body, dict) else {}
    return RESHAPES.get(shape, pages_as_text)(body, envelope)


def bare_list(body: Json, envelope: JsonObject) -> Json:
    results = envelope.get("results")
    return results if isinstance(results, list) else [body]


def without_first_pk(body: Json, envelope: JsonObject) -> Json:
    items = [dict(item) for item in envelope.get("results") or []]
    if items:
        items[0].pop("pk", None)
    return {**envelope, "results": items}


def pages_as_text(body: Json, envelope: JsonObject) -> Json:
    pagination = envelope.get("pagination") or {}
    return {**envelope, "pagination": {**pagination, "total_pages": str(pagination.get("total_pages"))}}


RESHAPES: dict[str, Callable[[Json, JsonObject], Json]] = {
    "list": bare_list,
    "empty_object": lambda body, envelope: {},
    "no_results": lambda body, envelope: {key: value for key, value in envelope.items() if key != "results"},
    "results_not_list": lambda body, envelope: {**envelope, "results": {"count": len(envelope.get("results") or [])}},
    "item_not_object": lambda body, envelope:
        {**envelope, "results": [item.get("pk") for item in envelope.get("results") or []]},
    "no_pk": without_first_pk,
    "bad_pagination": pages_as_text,
}
"""(body, its envelope or {}) -> the body in that shape, by shape (a dispatch table)."""


@dataclass
class WrongShape:
    shape: Shape

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if self.shape == "html":
            await respond(send, 200, NOT_FOUND_PAGE.encode(), b"text/html; charset=utf-8")
            return
        answer = await capture(app, scope, receive)
        if self.shape == "not_utf8":
            await respond(send, answer.status, latin1(answer.body))
        elif self.shape == "huge_number":
            await respond(send, answer.status, first_field(answer.body, b'"count": ' + b"9" * 5000))
        elif self.shape == "bad_gzip":
            await respond(send, answer.status, answer.body, extra=[(b"content-encoding", b"gzip")])
        else:
            await respond(send, answer.status, json.dumps(reshape(answer.json(), self.shape)).encode())


def latin1(body: bytes) -> bytes:
    """A JSON object `body` with `"detail": "café"` first, the `é` one Latin-1 byte: valid JSON
    to a reader that guesses Latin-1, not valid UTF-8 (which JSON must be, RFC 8259)."""
    return first_field(body, b'"detail": "caf\xe9"')


def first_field(body: bytes, field: bytes) -> bytes:
    """A JSON object `body` with `field` (`"name": value`, as bytes) first; `{field}` for a body
    that is no object with fields."""
    rest = body.strip()
    if rest.startswith(b"{") and rest != b"{}":
        return b"{" + field + b", " + rest[1:]
    return b"{" + field + b"}"


@dataclass
class Redirect:
    """A 3xx to `location`, or to the same address over https (a server behind a TLS redirect)."""

    status: int
    location: str | None

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        location = self.location
        if location is None:
            host = dict(scope["headers"]).get(b"host", b"localhost").decode("latin-1")
            query = scope["query_string"].decode("latin-1")
            location = f"https://{host}{scope['path']}" + (f"?{query}" if query else "")
        await respond(send, self.status, b"", b"text/html; charset=utf-8", [(b"location", location.encode("latin-1"))])


@dataclass
class SlowBody:
    """The headers at once, then the body in `pieces` parts spread over `seconds`."""

    seconds: float
    pieces: int = 10

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await capture(app, scope, receive)
        headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [*headers, (b"content-length", str(len(answer.body)).encode())]})
        size = max(1, -(-len(answer.body) // self.pieces))
        chunks = [answer.body[start:start + size] for start in range(0, len(answer.body), size)] or [b""]
        for chunk in chunks:
            await asyncio.sleep(self.seconds / len(chunks))
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@dataclass
class WrongPages:
    paging: Paging

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        asked = int(query.get("page", "1")) if query.get("page", "1").isdigit() else 1
        if self.paging == "ignores_page":
            query.pop("page", None)
        answer = await capture(app, with_query(scope, query), receive)
        body = answer.json()
        if self.paging == "endless" and answer.status == 404:  # past the last page: claim there is more
            first = (await capture(app, with_query(scope, {**query, "page": "1"}), receive)).json()
            count = first["pagination"]["count"] if isinstance(first, dict) else 0
            body = {"pagination": {"next": asked + 1, "previous": asked - 1, "count": count, "current": asked,
                                   "total_pages": asked, "start_index": 0, "end_index": 0}, "results": []}
            answer.status = 200
        if isinstance(body, dict) and isinstance(body.get("pagination"), dict):
            current = body["pagination"].get("current", asked)
            body["pagination"]["next"] = current + 1 if self.paging == "endless" else \
                current if self.paging == "stuck" else body["pagination"]["next"]
        await respond(send, answer.status, json.dumps(body).encode())


def with_query(scope: Scope, query: dict[str, str]) -> Scope:
    return {**scope, "query_string": urlencode(query).encode("latin-1")}


Misanswer = WrongShape | Redirect | SlowBody | WrongPages


class MisanswerMiddleware:
    def __init__(self, app: ASGIApp, *, misanswers: Schedule[Misanswer]) -> None:
        self.app = app
        self.misanswers = misanswers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.misanswers.take(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await answer(self.app, scope, receive, send)
