"""Serving the sandbox over HTTP with uvicorn: blocking for the CLI, or in a background thread
for tests that need a real socket."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0


def base_url(host: str, port: int) -> str:
    """`http://HOST:PORT`, an IPv6 address in brackets (`http://[::1]:9000`)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server_config(app: ASGIApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    # Plain asyncio and h11, no websockets and no lifespan: nothing the sandbox does not use.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, loop="asyncio", http="h11",
                          ws="none", lifespan="off")


def serve_app(app: ASGIApp, host: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    """Bind first, so a port in use is an `OSError` the caller can word, then serve until stopped;
    `on_ready` gets the URL once the server listens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    AnnouncingServer(server_config(app, host, bound, "info"), base_url(host, bound), on_ready).run(sockets=[sock])


class AnnouncingServer(uvicorn.Server):
    """Says it is ready once it listens: a script that connects as soon as it reads the URL
    (`--port 0`) must not be refused, as it was when the URL came out before uvicorn listened."""

    def __init__(self, config: uvicorn.Config, url: str, on_ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self.url = url
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready(self.url)


@contextmanager
def serve_in_thread(app: ASGIApp, host: str, port: int) -> Iterator[str]:
    """Run uvicorn in a daemon thread, yield its base URL, and stop it (waiting for the thread)
    when the block ends."""
    server = uvicorn.Server(server_config(app, host, port, "warning"))
    thread = threading.Thread(target=server.run, name="sandbox-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT)
            raise RuntimeError(f"the sandbox server did not start on {host}:{port}")
        time.sleep(0.005)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield base_url(host, bound_port)
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
