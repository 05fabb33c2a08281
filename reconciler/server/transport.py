"""Transport policy as a layer around an httpx transport (httpx's own design): retries with
exponential backoff and full jitter, `Retry-After` honoured up to a cap, and a deadline per
attempt that covers reading the body. The clock is injected, so tests never sleep."""
from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from typing import Protocol

import httpx

__all__ = ["Clock", "SystemClock", "PolicyTransport", "DeadlineExceeded", "ATTEMPTS"]

# Named for what it reports, not the module: the name shows in the CLI's log lines and users'
# log filters, and stays when modules move.
log = logging.getLogger("reconciler.transport")

_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
"""`Retry-After` as a number of seconds (RFC 9110 says digits; a decimal does no harm)."""

ATTEMPTS = "reconciler.attempts"
"""The key of `response.extensions` that says how many attempts the answer took."""

SAFE_METHODS = frozenset({"GET", "HEAD"})
GATEWAY_STATUSES = frozenset({502, 503, 504})
# The request never left: no server can have acted on it, so any method may be sent again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have arrived and been acted on: only a read may be sent again.
LOST_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ReadTimeout,
               httpx.WriteTimeout)


class Clock(Protocol):
    """Time as the transport sees it. `monotonic` measures, `time` (wall clock) dates an HTTP-date
    `Retry-After`, `sleep` waits, `random` (in [0, 1)) draws the jitter."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def random(self) -> float: ...


class SystemClock:
    """The real clock: `time`, `asyncio.sleep` and `random`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def random(self) -> float:
        return random.random()  # jitter, not a secret


class DeadlineExceeded(httpx.TimeoutException):
    """An attempt that did not end (answer and body read) within the deadline."""

    def __init__(self, deadline: float, *, request: httpx.Request) -> None:
        self.deadline = deadline
        super().__init__(f"no complete answer within the {seconds(deadline)} s deadline", request=request)


def seconds(value: float) -> str:
    """`5`, `0.3`, `12`: a duration as people read it."""
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


class PolicyTransport(httpx.AsyncBaseTransport):
    """Wraps `inner` (httpx's own transport, or a test's: the sandbox in-process).

    Retried: any method on 429 and when no connection could be made (the server cannot have
    acted); GET and HEAD also on 502/503/504, a dropped connection and a read timeout. A write
    whose request may have reached the server is never sent again: its outcome is unknown, and
    that is for the caller to decide. A deadline hit is not retried either: the deadline is how
    long the caller agreed to wait for one call.

    `attempts` counts every request handed to `inner`, retries included."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, deadline: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, max_wait: float = 30.0,
                 clock: Clock | None = None, on_wait: Callable[[str], None] | None = None) -> None:
        if deadline <= 0 or retries < 0 or backoff < 0 or max_wait < 0:
            raise ValueError("deadline must be positive; retries, backoff and max_wait not negative")
        self.inner = inner
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self.clock: Clock = clock or SystemClock()
        self.on_wait = on_wait or log.warning
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                response = await self._attempt(request)
            except httpx.TransportError as exc:
                reason = self._retry_reason(request, exc)
                if reason is None or attempt > self.retries:
                    raise
                await self._wait(request, reason, self._backoff(attempt), attempt)
                continue
            status = response.status_code
            if attempt <= self.retries and (
                    status == 429 or (request.method in SAFE_METHODS and status in GATEWAY_STATUSES)):
                delay = self._retry_after(response.headers.get("Retry-After"))
                reason = (f"authentik throttled {request.method} {request.url.path} (429)" if status == 429 else
                          f"authentik answered {request.method} {request.url.path} with {status}")
                await self._wait(request, reason, self._backoff(attempt) if delay is None else delay, attempt)
                continue
            response.extensions = {**response.extensions, ATTEMPTS: attempt}
            log.debug("%s %s: %d after %d attempt(s) in %.2f s", request.method, request.url.path, status,
                      attempt, self.clock.monotonic() - started)
            return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        """One request and its whole body within the deadline: httpx's own timeouts bound each
        read, so a server that trickles its body would otherwise never time out."""
        try:
            async with asyncio.timeout(self.deadline):
                response = await self.inner.handle_async_request(request)
                try:
                    # read in place: the response keeps its headers and httpx decodes it once
                    # (a gzipped answer rebuilt from decoded bytes would be decoded twice)
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
        except TimeoutError as exc:
            raise DeadlineExceeded(self.deadline, request=request) from exc
        return response

    def _retry_reason(self, request: httpx.Request, exc: httpx.TransportError) -> str | None:
        """Why `exc` may be retried, or None when it may not (a `DeadlineExceeded` never is)."""
        method = request.method
        where = f"{method} {request.url.path}"
        if isinstance(exc, NOT_SENT):
            return f"cannot connect to authentik for {where} ({exc.__class__.__name__})"
        if method in SAFE_METHODS and isinstance(exc, LOST_ANSWER):
            return f"connection lost during {where} ({exc.__class__.__name__})"
        return None

    def _backoff(self, attempt: int) -> float:
        """Full jitter (AWS's "Exponential Backoff And Jitter"): uniform in [0, base * 2^(n-1)],
        so clients throttled together do not come back together."""
        return self.clock.random() * min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))

    def _retry_after(self, value: str | None) -> float | None:
        """`Retry-After` in seconds or as an HTTP date, capped at `max_wait`; None if absent or
        unreadable (the backoff applies then). Seconds are ASCII digits, a decimal allowed: not
        `str.isdigit`, which takes `²` (that `float` then refuses) or `٣`."""
        if not value:
            return None
        value = value.strip()
        if _SECONDS.fullmatch(value):
            delay = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # "-0000": UTC by RFC 5322, not local time
                when = when.replace(tzinfo=datetime.UTC)
            delay = max(0.0, when.timestamp() - self.clock.time())
        return min(delay, self.max_wait)

    async def _wait(self, request: httpx.Request, reason: str, delay: float, attempt: int) -> None:
        self.on_wait(f"{reason}: waiting {seconds(delay)} s before retry {attempt} of {self.retries}")
        await self.clock.sleep(delay)
