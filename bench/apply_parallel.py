#!/usr/bin/env python3
"""Benchmark: how long applies of N creates and N PATCHes take at several parallelisms, against
the sandbox over real HTTP with a per-request latency (default 20 ms, a server across a network).
It measures the calls only (the plan is made first), and checks every apply made one call per
change. Not a test: it measures, it does not judge.

    python bench/apply_parallel.py [--changes 300] [--latency 0.02] [--parallelism 1 4 8 10 16]
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import yaml

from reconciler import Connection, PlanOptions
from reconciler.applying.runner import apply_plan
from reconciler.planning.pipeline import make_plan
from reconciler.sandbox import Faults, Sandbox
from reconciler.server.client import Client


async def timed_apply(manifest: Path, connection: Connection, parallelism: int) -> tuple[float, int, int]:
    """Plan, then time the apply alone; (seconds, changes, write calls made)."""
    async with Client(connection) as client:
        session = await make_plan(client, [manifest], PlanOptions(keep_state=False))
        before = client.request_count
        started = time.perf_counter()
        await apply_plan(session.plan, client, session.model, session.secrets, parallelism=parallelism)
        return time.perf_counter() - started, len(session.plan.changes), client.request_count - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 4, 8, 10, 16])
    args = parser.parse_args()
    print(f"{args.changes} changes, {args.latency * 1000:.0f} ms per request, sandbox over HTTP")
    print(f"{'parallelism':>11} {'creates (s)':>12} {'PATCHes (s)':>12}")
    for parallelism in args.parallelism:
        sandbox = Sandbox(faults=Faults(latency=args.latency))
        with tempfile.TemporaryDirectory() as tmp, sandbox.serve_in_thread() as url:
            manifest = Path(tmp) / "bench.yaml"
            connection = Connection(url=url, token=sandbox.token, max_concurrency=max(8, parallelism))
            figures = []
            for message in ("no", "changed"):
                stages = [{"kind": "deny", "name": f"bench-deny-{i}", "deny_message": message}
                          for i in range(args.changes)]
                manifest.write_text(yaml.safe_dump({"stages": stages}))
                seconds, changes, calls = asyncio.run(timed_apply(manifest, connection, parallelism))
                assert changes == calls == args.changes, (changes, calls)
                figures.append(seconds)
        print(f"{parallelism:>11} {figures[0]:>12.2f} {figures[1]:>12.2f}")


if __name__ == "__main__":
    main()
