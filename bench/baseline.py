"""The baseline a plan is compared with: a Terraform-provider-style refresh, which reads every
object it manages with its own GET, `--parallel` at a time (Terraform's default parallelism is
10). Run as its own process, like the reconciler, so start-up counts on both sides.

    python -m bench.baseline URL TOKEN PATHS_FILE [--parallel 10]

PATHS_FILE holds one API path per line (`/stages/deny/<uuid>/`)."""
from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx


async def refresh(url: str, token: str, paths: list[str], parallel: int) -> int:
    """GET every path, `parallel` at a time; the number of objects read."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    read = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal read
        while not queue.empty():
            path = queue.get_nowait()
            response = await get(client, path)
            response.raise_for_status()
            response.json()
            read += 1

    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(parallel)))
    return read


async def get(client: httpx.AsyncClient, path: str, attempts: int = 3) -> httpx.Response:
    """One GET, tried again on a dropped connection, as a provider's HTTP client would (a
    loaded server closes idle keep-alive connections)."""
    for attempt in range(attempts):
        try:
            return await client.get(f"/api/v3{path}")
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("paths", type=Path)
    parser.add_argument("--parallel", type=int, default=10)
    args = parser.parse_args()
    paths = [line for line in args.paths.read_text().splitlines() if line]
    read = asyncio.run(refresh(args.url, args.token, paths, args.parallel))
    print(f"read {read} objects")


if __name__ == "__main__":
    main()
