"""The in-process transport: httpx's ASGI transport, plus what a socket would tell the client
when the server hangs up mid-response."""
from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import IN_PROCESS

INCOMPLETE = "peer closed connection without sending complete message body"


class SandboxTransport(httpx.AsyncBaseTransport):
    """Like `httpx.ASGITransport`, but a response shorter than its Content-Length (how a dropped
    connection looks in-process) raises `httpx.RemoteProtocolError`, as it does over a socket."""

    def __init__(self, app: ASGIApp) -> None:
        async def in_process(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, IN_PROCESS: True}, receive, send)

        self.inner = httpx.ASGITransport(app=in_process)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        promised = response.headers.get("content-length")
        if request.method != "HEAD" and promised is not None and len(body) < int(promised):
            raise httpx.RemoteProtocolError(INCOMPLETE, request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
