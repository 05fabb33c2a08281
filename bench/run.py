"""`python -m bench`: the reconciler as a whole process against the sandbox over real HTTP with
injected latency, scenario by scenario, beside a per-object refresh as the baseline. Prints one
table: requests made, the median wall time of `--runs` runs, the peak RSS of the process, and
each target of issue #12 met or missed. It measures; the tests only check that it runs.

    python -m bench [--runs 3] [--latency 0.02] [--objects 1000] [--large 10000] [--markdown] [--quick]
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.sandbox import Faults, Sandbox

from .workload import UNIT, Workload

TOKEN = "bench-token"


@dataclass(frozen=True)
class Target:
    """What issue #12 asks of a scenario (at full size, 20 ms latency, 2 cores)."""

    seconds: float | None = None
    rss_mb: float | None = None
    ratio: float | None = None

    def describe(self) -> str:
        parts = [f"< {self.seconds:g} s"] if self.seconds else []
        parts += [f"< {self.rss_mb:g} MB"] if self.rss_mb else []
        parts += [f">= {self.ratio:g}x"] if self.ratio else []
        return ", ".join(parts)


@dataclass
class Scenario:
    key: str
    label: str
    args: list[str]
    """`reconciler` arguments; `{manifests}` and `{state}` are filled in per run."""
    workload: Workload | None = None
    """The manifests the scenario reads (None: none)."""
    seed: Callable[[], dict[str, Any]] | None = None
    """The live state, when the scenario talks to a server."""
    reseed: bool = False
    """Apply changes the server: every run starts from a fresh seed."""
    exit_codes: tuple[int, ...] = (0,)
    baseline: Workload | None = None
    target: Target = field(default_factory=Target)


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    requests: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mb(self) -> float:
        return max(self.rss) / 1e6


def scenarios(objects: int, large: int, validate: int, api_version: str) -> list[Scenario]:
    small, big, check = (Workload(max(1, n // UNIT), api_version) for n in (objects, large, validate))
    plan = ["plan", "{manifests}", "--detailed-exitcode", "--state", "{state}"]
    apply = ["apply", "{manifests}", "--auto-approve", "--state", "{state}"]
    return [
        Scenario("help", "reconciler --help", ["--help"], target=Target(seconds=0.15)),
        Scenario("validate", f"validate {check.size:,}", ["validate", "{manifests}"], workload=check,
                 target=Target(seconds=1.5)),
        Scenario("plan", f"plan {small.size:,} unchanged", plan, small, small.seed, baseline=small,
                 target=Target(seconds=0.5, ratio=6)),
        Scenario("plan-large", f"plan {big.size:,} unchanged", plan, big, big.seed, baseline=big,
                 target=Target(seconds=3, rss_mb=300)),
        Scenario("plan-changed", f"plan {small.size:,}, 10% changed", plan, small,
                 lambda: small.seed(changed_every=10), exit_codes=(2,), baseline=small),
        Scenario("apply-patch", f"apply {small.size:,} PATCHes", apply, small,
                 lambda: small.seed(changed_every=1), reseed=True, target=Target(seconds=4)),
        Scenario("apply-create", f"apply {small.size:,} creates", apply, small,
                 lambda: Workload(0, api_version).seed(), reseed=True, target=Target(seconds=4)),
        Scenario("export", f"export {small.size:,}", ["export"], None, small.seed, target=Target(seconds=1)),
    ]


def reconciler_command() -> list[str]:
    script = Path(sys.executable).with_name("reconciler")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def environment(url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_"))}
    env["NO_COLOR"] = "1"
    if url:
        env.update({"AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN})
    return env


def run_process(argv: list[str], env: dict[str, str], workdir: Path) -> tuple[float, float, int, int]:
    """Run one process to its end: (wall seconds, CPU seconds, peak RSS in bytes, exit code).
    `wait4` gives the child's own CPU time and maximum resident set, start-up included."""
    with open(workdir / "stdout", "wb") as out, open(workdir / "stderr", "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=workdir)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, process.returncode


@contextmanager
def serving(seed: dict[str, Any], latency: float, api_version: str) -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(api_version=api_version, token=TOKEN, seed=seed, faults=Faults(latency=latency))
    with sandbox.serve_in_thread() as url:
        yield sandbox, url


def servers(scenario: Scenario, runs: int, latency: float, api_version: str,
            ) -> Generator[tuple[Sandbox, str] | None, None, None]:
    """The server of each run: none when the scenario talks to none, a fresh one per run when it
    changes the server (`reseed`), else one for all runs."""
    if scenario.seed is None:
        yield from [None] * runs
        return
    seed = scenario.seed()
    if scenario.reseed:
        for _ in range(runs):
            with serving(seed, latency, api_version) as server:
                yield server
    else:
        with serving(seed, latency, api_version) as server:
            yield from [server] * runs


class Failed(Exception):
    pass


def measure(scenario: Scenario, runs: int, latency: float, workdir: Path, api_version: str,
            ) -> tuple[Measured, Measured | None]:
    manifests = workdir / "manifests"
    if scenario.workload is not None:
        scenario.workload.write_manifests(manifests)
    ours = Measured()
    baseline, baseline_env = None, environment(None)
    if scenario.baseline is not None:
        baseline = Measured()
        (workdir / "paths.txt").write_text("\n".join(scenario.baseline.object_paths()) + "\n")
        baseline_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent.parent),
                                                                   baseline_env.get("PYTHONPATH")]))
    with closing(servers(scenario, runs, latency, api_version)) as each_run:
        for run, server in enumerate(each_run):
            sandbox, url = server if server else (None, None)
            run_reconciler(scenario, ours, sandbox, url, workdir, manifests, workdir / f"state-{run}.json")
            if baseline is not None and sandbox and url:
                run_baseline(scenario, baseline, sandbox, url, baseline_env, workdir)
    return ours, baseline


def run_reconciler(scenario: Scenario, ours: Measured, sandbox: Sandbox | None, url: str | None, workdir: Path,
                   manifests: Path, state: Path) -> None:
    """One run of the scenario's command, counted in `ours`; `Failed` on an unexpected exit."""
    argv = reconciler_command() + [arg.format(manifests=manifests, state=state) for arg in scenario.args]
    if sandbox:
        sandbox.clear_log()
    seconds, cpu, rss, code = run_process(argv, environment(url), workdir)
    if code not in scenario.exit_codes:
        stderr = (workdir / "stderr").read_text()[-2000:]
        raise Failed(f"{scenario.label}: exit {code} (expected {scenario.exit_codes}): {stderr}")
    ours.seconds.append(seconds)
    ours.cpu.append(cpu)
    ours.rss.append(rss)
    ours.requests = len(sandbox.requests) if sandbox else 0


def run_baseline(scenario: Scenario, baseline: Measured, sandbox: Sandbox, url: str, env: dict[str, str],
                 workdir: Path) -> None:
    """One run of the per-object refresh against the same server, counted in `baseline`."""
    sandbox.clear_log()
    argv = [sys.executable, "-m", "bench.baseline", url, TOKEN, str(workdir / "paths.txt")]
    seconds, cpu, rss, code = run_process(argv, env, workdir)
    if code != 0:
        raise Failed(f"baseline of {scenario.label}: exit {code}: "
                     f"{(workdir / 'stderr').read_text()[-2000:]}")
    baseline.seconds.append(seconds)
    baseline.rss.append(rss)
    baseline.requests = len(sandbox.requests)


def verdict(scenario: Scenario, ours: Measured, baseline: Measured | None, judged: bool) -> str:
    target = scenario.target
    if not judged or not target.describe():
        return ""
    met = (target.seconds is None or ours.median < target.seconds) and \
          (target.rss_mb is None or ours.peak_mb < target.rss_mb) and \
          (target.ratio is None or (baseline is not None and baseline.median / ours.median >= target.ratio))
    return f"{target.describe()}: {'met' if met else 'MISSED'}"


def machine() -> list[str]:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [f"machine: {usable} usable cores ({os.cpu_count()} online), {model}",
            f"python: {platform.python_implementation()} {platform.python_version()} on {platform.platform()}"]


HEADERS = ["scenario", "requests", "median s", "runs (s)", "CPU s", "peak RSS MB", "baseline s", "ratio", "target"]


def row(scenario: Scenario, ours: Measured, baseline: Measured | None, judged: bool) -> list[str]:
    return [scenario.label, str(ours.requests), f"{ours.median:.3f}",
            " ".join(f"{s:.2f}" for s in ours.seconds), f"{statistics.median(ours.cpu):.2f}", f"{ours.peak_mb:.0f}",
            f"{baseline.median:.3f} ({baseline.requests} GET)" if baseline else "",
            f"{baseline.median / ours.median:.1f}x" if baseline else "",
            verdict(scenario, ours, baseline, judged)]


def table(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])
    widths = [max(len(cells[i]) for cells in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
             for cells in [HEADERS, *rows]]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def compile_package() -> str:
    """Write the package's bytecode, as a regular install does, so each measured process starts
    like a user's: the start-up is then loading, not compiling (a quarter of a second)."""
    import compileall

    import reconciler

    folder = Path(reconciler.__file__).parent
    if not compileall.compile_dir(folder, quiet=1):
        raise SystemExit(f"cannot compile {folder}")
    return str(folder)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario; the table shows the median "
                        "(default 3, 1 with --quick)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the sandbox waits per request")
    parser.add_argument("--objects", type=int, default=None, help="objects of the plan, apply and export "
                        "scenarios (default 1000)")
    parser.add_argument("--large", type=int, default=None, help="objects of the large plan (default 10000)")
    parser.add_argument("--validate", type=int, default=None, help="objects validated (default 10000)")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        help="run only this scenario (repeatable): help, validate, plan, plan-large, plan-changed, "
                             "apply-patch, apply-create, export")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-object refresh (no ratios)")
    parser.add_argument("--api-version", default="2026.2.2")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for BENCHMARKS.md)")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run: a smoke test, not figures")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Sizes:
    """How often each scenario runs and how many objects it handles: the full sizes unless given
    or `--quick`."""

    runs: int
    objects: int
    large: int
    validate: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Sizes:
        quick = args.quick
        return cls(runs=args.runs or (1 if quick else 3), objects=args.objects or (40 if quick else 1000),
                   large=args.large or (80 if quick else 10000), validate=args.validate or (80 if quick else 10000))

    @property
    def judged(self) -> bool:
        """Targets are judged at the full sizes only."""
        return (self.objects, self.large, self.validate) == (1000, 10000, 10000)


def print_setting(argv: list[str] | None, args: argparse.Namespace, runs: int, compiled: str) -> None:
    """What the figures were measured on: the command, the machine, the load, the sandbox."""
    print(f"command: python -m bench {shlex.join(sys.argv[1:] if argv is None else argv)}")
    for line in machine():
        print(line)
    if compiled:
        print(f"bytecode: compiled {compiled} (as `pip install .` does; an editable install under "
              "PYTHONDONTWRITEBYTECODE would recompile every module in every process)")
    print(f"load average before the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"sandbox: authentik {args.api_version} over HTTP on 127.0.0.1, {args.latency * 1000:g} ms latency per "
          f"request; median of {runs} run{'s' * (runs != 1)} of the whole process; baseline: one GET per object, "
          "10 in parallel, as its own process")
    print()


def measure_all(selected: list[Scenario], sizes: Sizes, args: argparse.Namespace) -> list[list[str]] | None:
    """A table row per scenario, each announced on stderr when done; None when one failed (said
    on stderr)."""
    rows = []
    for scenario in selected:
        with tempfile.TemporaryDirectory(prefix=f"bench-{scenario.key}-") as tmp:
            try:
                ours, baseline = measure(scenario, sizes.runs, args.latency, Path(tmp), args.api_version)
            except Failed as exc:
                print(f"error: {exc}", file=sys.stderr)
                return None
        rows.append(row(scenario, ours, baseline, sizes.judged))
        print(f"  done: {scenario.label} ({ours.median:.2f} s)", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.of(args)
    print_setting(argv, args, sizes.runs, compile_package())
    selected = [s for s in scenarios(sizes.objects, sizes.large, sizes.validate, args.api_version)
                if not args.only or s.key in args.only]
    if args.no_baseline:
        for scenario in selected:
            scenario.baseline = None
    rows = measure_all(selected, sizes, args)
    if rows is None:
        return 1
    print(table(rows, args.markdown))
    if not sizes.judged:
        print("\n(targets are judged at the full sizes only: --objects 1000 --large 10000 --validate 10000)")
    return 0
