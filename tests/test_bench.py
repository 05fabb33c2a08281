"""`python -m bench` runs end to end (small sizes, no latency): every scenario gets its row, with
the requests the sandbox counted. Times are not asserted: they measure the machine."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_quick_prints_every_scenario() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--latency", "0", "--markdown"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| scenario")}
    assert list(rows) == ["reconciler --help", "validate 80", "plan 40 unchanged", "plan 80 unchanged",
                          "plan 40, 10% changed", "apply 40 PATCHes", "apply 40 creates", "export 40"]
    requests = {label: int(cells[0]) for label, cells in rows.items()}
    assert requests["reconciler --help"] == requests["validate 80"] == 0
    # Each apply makes one call per object on top of what its plan reads; a plan reads lists, so it
    # makes far fewer requests than there are objects, and the baseline makes one GET per object.
    assert requests["apply 40 creates"] == requests["plan 40 unchanged"] + 40
    # Updates have consequences to show (planning/consequences.py, impact.py): the blueprint
    # instances, and each list of what may use the updated objects on the way to a flow, brand or
    # application (the brands, the provider kinds that run flows), are read once each, not per
    # object: 13 lists whatever the number of objects, one of which (/providers/proxy/) the plan
    # reads anyway with /providers/oauth2/, which lists proxy providers too (apps 296).
    assert requests["apply 40 PATCHes"] == requests["apply 40 creates"] + 12
    assert requests["plan 40 unchanged"] < 40
    assert rows["plan 40 unchanged"][5].endswith("(40 GET)")
    assert rows["plan 80 unchanged"][5].endswith("(80 GET)")
    assert "machine:" in done.stdout and "command: python -m bench --quick" in done.stdout
