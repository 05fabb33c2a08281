"""Sandbox fixtures: a fresh sandbox per test, and a synchronous way to call it in-process."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.model.kinds import known_versions
from reconciler.sandbox import Sandbox

Call = Callable[..., httpx.Response]


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox of the newest API version."""
    return Sandbox()


@pytest.fixture(params=known_versions())
def versioned_sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A fresh sandbox of each API version in turn."""
    return Sandbox(request.param)


def calling(sandbox: Sandbox) -> Call:
    """`call("PATCH", "/stages/...", json=...)`: one authenticated request below `/api/v3`."""

    def call(method: str, path: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            headers = {"Authorization": f"Bearer {sandbox.token}", **options.pop("headers", {})}
            async with httpx.AsyncClient(transport=sandbox.transport(), base_url="http://sandbox") as client:
                return await client.request(method, "/api/v3" + path, headers=headers, **options)

        return asyncio.run(send())

    return call


def created(call: Call, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = call("POST", path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def server_error(response: httpx.Response) -> tuple[str | None, bytes, str | None]:
    return response.headers.get("content-type"), response.content, response.headers.get("allow")


@pytest.fixture
def call(sandbox: Sandbox) -> Call:
    return calling(sandbox)


@pytest.fixture
def versioned_call(versioned_sandbox: Sandbox) -> Call:
    return calling(versioned_sandbox)
