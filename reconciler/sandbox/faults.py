"""Failure injection: random faults from a seeded generator, so a run can be repeated, and
scheduled failures (`fail_next`, `drop_next`) for tests that need one exact failure."""
from __future__ import annotations

import random
from dataclasses import dataclass

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
    """Writes carried out whose answer is then lost (the connection dropped): see `LostAnswers`."""
    unavailable_rate: float = 0.0


@dataclass
class ScheduledFailure:
    method: str
    path_prefix: str
    status: int
    times: int

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and path.startswith(self.path_prefix)


class FaultInjector:
    """Decides, per request, which fault (a status, or DROP) it meets, if any."""

    def __init__(self, faults: Faults) -> None:
        self.scheduled: list[ScheduledFailure] = []
        self.use(faults)

    def use(self, faults: Faults) -> None:
        """Draw the random faults of `faults` from now on; scheduled failures stay."""
        self.faults = faults
        self.random = random.Random(faults.seed)

    def schedule(self, method: str, path_prefix: str, status: int, times: int) -> None:
        self.scheduled.append(ScheduledFailure(method.upper(), path_prefix, status, times))

    def pick(self, method: str, path: str) -> int | None:
        for failure in self.scheduled:
            if failure.matches(method, path):
                failure.times -= 1
                if failure.times <= 0:
                    self.scheduled.remove(failure)
                return failure.status
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


class LostAnswers:
    """Writes the server carries out and then drops the connection of, without an answer: the
    client cannot tell whether they happened (scheduled with `Sandbox.lose_answer_next`, or at
    random with `Faults.lost_answer_rate` from a generator of its own, so the draws of the other
    faults stay as they were)."""

    def __init__(self, faults: Faults) -> None:
        self.scheduled: list[ScheduledFailure] = []
        self.use(faults)

    def use(self, faults: Faults) -> None:
        """Lose answers at the rate of `faults` from now on; scheduled losses stay."""
        self.rate = faults.lost_answer_rate
        self.random = random.Random(None if faults.seed is None else faults.seed + 1)

    def schedule(self, method: str, path_prefix: str, times: int) -> None:
        self.scheduled.append(ScheduledFailure(method.upper(), path_prefix, DROP, times))

    def pick(self, method: str, path: str) -> bool:
        """Whether this request's answer is lost (reads never are: they are retried anyway)."""
        if method.upper() in ("GET", "HEAD", "OPTIONS"):
            return False
        for lost in self.scheduled:
            if lost.matches(method, path):
                lost.times -= 1
                if lost.times <= 0:
                    self.scheduled.remove(lost)
                return True
        return bool(self.rate) and self.random.random() < self.rate
