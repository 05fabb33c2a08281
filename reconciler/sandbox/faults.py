"""Failure injection: random faults from a seeded generator, so a run can be repeated, and
scheduled failures (`fail_next`, `drop_next`, `lose_answer_next`) for tests that need one exact
failure."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.responses import JSONResponse, Response

from .responses import detail, server_error

DROP = 0
"""The status a dropped connection gets in the request log: there was no response."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Random faults, all off by default. Each request draws one number from a generator seeded
    with `seed`: it is dropped (`drop_rate`), throttled with 429 and `Retry-After: retry_after`
    (`throttle_rate`), fails like an unhandled error in authentik (`error_rate`: 500 HTML for a
    GET, the 405 empty-HTML quirk for a write) or meets a gateway whose upstream is away
    (`unavailable_rate`: 503 HTML, the server did not act). Every request first waits `latency`
    seconds."""

    latency: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    seed: int | None = None
    lost_answer_rate: float = 0.0
    """Writes carried out whose answer is then lost (the connection dropped): see `FaultInjector`."""
    unavailable_rate: float = 0.0


T = TypeVar("T")


@dataclass
class Scheduled(Generic[T]):
    method: str
    path_prefix: str
    what: T
    times: int


class Schedule(Generic[T]):
    """What the next `times` requests of a method ("*": any) whose path starts with a prefix meet,
    first scheduled first: the one mechanism behind `fail_next`, `drop_next`, `lose_answer_next`
    and the misanswers (`wrong_shape_next`, ...)."""

    def __init__(self) -> None:
        self.entries: list[Scheduled[T]] = []

    def add(self, method: str, path_prefix: str, what: T, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        self.entries.append(Scheduled(method.upper(), path_prefix, what, times))

    def take(self, method: str, path: str) -> T | None:
        """What this request meets, if anything is scheduled for it (counted as used)."""
        for entry in self.entries:
            if entry.method in ("*", method.upper()) and path.startswith(entry.path_prefix):
                entry.times -= 1
                if entry.times <= 0:
                    self.entries.remove(entry)
                return entry.what
        return None


class FaultInjector:
    """Decides, per request, which fault (a status, or DROP) it meets, if any, and whether a write
    that meets none has its answer lost: carried out, then the connection dropped without an
    answer, so the client cannot tell whether it happened (`lose_answer_next`, or at random with
    `Faults.lost_answer_rate` from a generator of its own, so the draws of the other faults stay
    as they were)."""

    def __init__(self, faults: Faults) -> None:
        self.scheduled: Schedule[int] = Schedule()
        self.lost: Schedule[bool] = Schedule()
        self.use(faults)

    def use(self, faults: Faults) -> None:
        """Draw the random faults of `faults` from now on; scheduled ones stay."""
        self.faults = faults
        self.random = random.Random(faults.seed)
        self.lost_random = random.Random(None if faults.seed is None else faults.seed + 1)

    def loses_answer(self, method: str, path: str) -> bool:
        """Whether this request's answer is lost (reads never are: they are retried anyway)."""
        if method.upper() in ("GET", "HEAD", "OPTIONS"):
            return False
        if self.lost.take(method, path):
            return True
        rate = self.faults.lost_answer_rate
        return bool(rate) and self.lost_random.random() < rate

    def pick(self, method: str, path: str) -> int | None:
        scheduled = self.scheduled.take(method, path)
        if scheduled is not None:
            return scheduled
        faults = self.faults
        if not (faults.drop_rate or faults.throttle_rate or faults.error_rate or faults.unavailable_rate):
            return None
        draw = self.random.random()
        if draw < faults.drop_rate:
            return DROP
        if draw < faults.drop_rate + faults.throttle_rate:
            return 429
        if draw < faults.drop_rate + faults.throttle_rate + faults.error_rate:
            return 500 if method.upper() in ("GET", "HEAD") else 405
        if draw < faults.drop_rate + faults.throttle_rate + faults.error_rate + faults.unavailable_rate:
            return 503
        return None


def fault_response(status: int, retry_after: int) -> Response:
    """What a failing server answers: 405 is authentik's server-error quirk, 429 carries
    `Retry-After`, other 5xx are an HTML error page, and any other status a JSON `detail`."""
    if status == 405:
        return server_error()
    if status == 429:
        wait = f"{retry_after} second{'s' * (retry_after != 1)}"
        return JSONResponse({"detail": f"Request was throttled. Expected available in {wait}."}, 429,
                            headers={"Retry-After": str(retry_after)})
    if status >= 500:
        return Response(f"<h1>Server Error ({status})</h1>", status, media_type="text/html")
    return detail(f"Injected failure (HTTP {status}).", status)
