"""The outermost layer of the sandbox app: it logs every request for tests to inspect and
injects faults before the API sees the request."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.values import Json

from .faults import DROP, FaultInjector, fault_response

API_PREFIX = "/api/v3"
IN_PROCESS = "sandbox.in_process"
"""Scope key the in-process transport sets: there is no socket to close there."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox received. `path` is the full path (`/api/v3/stages/...`), `body`
    the parsed JSON body (None when absent or not JSON), `status` the answer (0: dropped)."""

    method: str
    path: str
    query: dict[str, str]
    body: Json
    status: int

    @property
    def api_path(self) -> str:
        """The path below `/api/v3`, as the API model writes it (`/stages/identification/`)."""
        return self.path[len(API_PREFIX):] if self.path.startswith(API_PREFIX) else self.path


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, *, log: list[RecordedRequest], injector: FaultInjector) -> None:
        self.app = app
        self.log = log
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        logged = False

        def log(status: int) -> None:
            # Logged before the answer leaves, so a client that got its answer always finds the
            # request in the log (over a socket the server thread would otherwise race the test).
            nonlocal logged
            if not logged:
                query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
                self.log.append(RecordedRequest(method, path, query, parse_json(body), status))
                logged = True

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                log(message["status"])
            await send(message)

        faults = self.injector.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        fault = self.injector.pick(method, path)
        try:
            if fault is None and self.injector.loses_answer(method, path):
                await self.app(scope, replay, swallow)  # carried out, and its answer never sent
                log(DROP)
                await drop(send, in_process=bool(scope.get(IN_PROCESS)))
            elif fault == DROP:
                log(DROP)
                await drop(send, in_process=bool(scope.get(IN_PROCESS)))
            elif fault is not None:
                await fault_response(fault, faults.retry_after)(scope, replay, record)
            else:
                await self.app(scope, replay, record)
        finally:
            log(DROP)


async def drop(send: Send, *, in_process: bool) -> None:
    """Start a response that promises a body and never send it: over a socket uvicorn then closes
    the connection; in-process the response ends short, which the transport reports the same way."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
    if in_process:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def swallow(message: Message) -> None:
    """A `send` that sends nothing: the answer of a write whose answer is lost."""


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def parse_json(body: bytes) -> Json:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
