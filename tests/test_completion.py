"""Shell completion through click's own mechanism (`_RECONCILER_COMPLETE`), as the README
documents it: the scripts for bash, zsh and fish, and what a shell gets back for subcommands,
kinds in `explain` (per API version), file paths and `--env` names."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def complete(words: str, cwd: Path = ROOT, shell: str = "bash") -> list[tuple[str, str]]:
    """What `reconciler` answers a shell completing the last word of `words` (bash's protocol:
    one `type,value` line per completion)."""
    args = words.split(" ")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMP_WORDS": words, "COMP_CWORD": str(len(args) - 1),
           "_RECONCILER_COMPLETE": f"{shell}_complete"}
    result = subprocess.run([sys.executable, "-m", "reconciler"], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    return [tuple(line.split(",", 1)) for line in result.stdout.splitlines() if line]  # type: ignore[misc]


def test_subcommands_and_options_complete() -> None:
    assert ("plain", "init") in complete("reconciler in")
    assert [value for _, value in complete("reconciler plan --det")] == ["--detailed-exitcode"]


@pytest.mark.parametrize("words, expected", [
    ("reconciler explain identif", ["identification"]),
    ("reconciler explain --api-version 2026.2.2 geo", ["geoip", "geoip_policy"]),
    ("reconciler explain --api-version 2023.10.7 geo", []),  # no GeoIP policy in 2023.10.7's model
    ("reconciler export --kind expression", ["expression", "expression_policy"]),
])
def test_kinds_complete_for_the_api_version(words: str, expected: list[str]) -> None:
    found = complete(words)
    assert {kind for kind, _ in found} <= {"plain"}
    assert [value for _, value in found] == expected


def test_paths_are_left_to_the_shells_file_completion(tmp_path: Path) -> None:
    assert complete("reconciler plan conf") == [("file", "conf")]
    assert complete("reconciler apply --plan pla") == [("file", "pla")]
    assert complete("reconciler init rep") == [("dir", "rep")]


def test_env_completes_the_environments_of_the_manifests() -> None:
    example = ROOT / "examples" / "environments"
    assert complete("reconciler plan config/base --env ", cwd=example) == [("plain", "production"),
                                                                          ("plain", "staging")]
    assert complete("reconciler plan config/base --env pr", cwd=example) == [("plain", "production")]


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _reconciler_completion reconciler"),
                                           ("zsh", "#compdef reconciler"),
                                           ("fish", "complete --no-files --command reconciler")])
def test_the_scripts_the_readme_installs(shell: str, marker: str) -> None:
    readme = (ROOT / "README.md").read_text()
    line = re.search(rf"^.*_RECONCILER_COMPLETE={shell}_source reconciler.*$", readme, re.MULTILINE)
    assert line, f"the README shows no {shell} line"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_RECONCILER_COMPLETE": f"{shell}_source"}
    script = subprocess.run([sys.executable, "-m", "reconciler"], env=env, capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert marker in script


def test_the_bash_script_registers_with_bash() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_RECONCILER_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-m", "reconciler"], env=env, capture_output=True, text=True,
                            timeout=60, check=True).stdout
    registered = subprocess.run(["bash", "-c", f"{script}\ncomplete -p reconciler"], capture_output=True, text=True,
                                timeout=60, check=True).stdout
    assert registered.strip() == "complete -o nosort -F _reconciler_completion reconciler"
