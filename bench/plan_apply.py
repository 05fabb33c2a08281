#!/usr/bin/env python3
"""Benchmark: plan and apply N stages against the sandbox over real HTTP, and print the figures
(requests made, wall time, peak memory). Not a test: it measures, it does not judge.

    python bench/plan_apply.py [--stages 1000] [--api-version 2026.2.2] [--latency 0.0]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

from reconciler import Connection, PlanOptions, apply, plan
from reconciler.sandbox import Faults, Sandbox

KINDS = [
    ("deny", {"deny_message": "no"}),
    ("dummy", {"throw_error": False}),
    ("user_login", {"session_duration": "hours=1"}),
    ("user_logout", {}),
    ("user_write", {"create_users_as_inactive": True}),
    ("consent", {"mode": "always_require"}),
    ("password", {"backends": ["authentik.core.auth.InbuiltBackend"]}),
    ("identification", {"user_fields": ["username"]}),
]


def measure(label: str, sandbox: Sandbox, action: object) -> object:
    sandbox.clear_log()
    tracemalloc.start()
    started = time.perf_counter()
    result = action()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    methods: dict[str, int] = {}
    for request in sandbox.requests:
        methods[request.method] = methods.get(request.method, 0) + 1
    calls = ", ".join(f"{count} {method}" for method, count in sorted(methods.items()))
    print(f"{label:<28} {len(sandbox.requests):>6} requests ({calls}), {elapsed:7.2f} s, "
          f"peak {peak / 1e6:6.1f} MB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=1000)
    parser.add_argument("--api-version", default="2026.2.2")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the sandbox waits per request")
    args = parser.parse_args()
    objects = [{"kind": kind, "name": f"bench-{kind}-{i}", **fields}
               for i in range(args.stages // len(KINDS)) for kind, fields in KINDS]
    sandbox = Sandbox(api_version=args.api_version, faults=Faults(latency=args.latency))
    with tempfile.TemporaryDirectory() as tmp, sandbox.serve_in_thread() as url:
        manifest = Path(tmp) / "bench.yaml"
        manifest.write_text(yaml.safe_dump({"stages": objects}))
        connection = Connection(url=url, token=sandbox.token)
        options = PlanOptions(keep_state=False)
        print(f"{len(objects)} stages over {len(KINDS)} kinds, authentik {args.api_version}, {url}")
        measure("plan (all to create)", sandbox, lambda: plan([manifest], connection, options))
        measure("apply (create all)", sandbox, lambda: apply([manifest], connection, options))
        measure("plan (no changes)", sandbox, lambda: plan([manifest], connection, options))


if __name__ == "__main__":
    main()
