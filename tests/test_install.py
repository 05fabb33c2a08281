"""The README's "Install" lines, kept true: each is parsed and checked against what it names (the
package and its console script, the image the release workflow pushes and its Dockerfile, the
action and its inputs), and the commands they run are ones the CLI accepts."""
from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from test_ci_kit import cli_problems
from test_ci_kit import kit_version as kit_release

ROOT = Path(__file__).resolve().parent.parent


def install_lines() -> dict[str, str]:
    """The one line of each row of the README's Install table, by its first column."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| `([^`]+)`.*\|$", section, re.MULTILINE)
    return dict(rows)


def test_the_install_table_has_each_way() -> None:
    assert list(install_lines()) == ["pipx", "uv", "container image", "GitHub Action"]


def test_pipx_and_uv_install_this_package_which_provides_reconciler() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = install_lines()
    assert shlex.split(lines["pipx"]) == ["pipx", "install", project["name"]]
    assert shlex.split(lines["uv"]) == ["uv", "tool", "install", project["name"]]
    assert "reconciler" in project["scripts"]


def test_the_image_line_runs_the_image_the_release_pushes() -> None:
    argv = shlex.split(install_lines()["container image"])
    assert argv[:3] == ["docker", "run", "--rm"]
    volume = argv[argv.index("-v") + 1]
    image = next(arg for arg in argv if arg.startswith("ghcr.io/"))
    command = argv[argv.index(image) + 1:]
    # The mount is the image's working folder, so relative paths are the checkout's.
    workdir = re.findall(r"^WORKDIR (\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)[-1]
    assert volume == f"$PWD:{workdir}"
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    meta = next(step for step in release["jobs"]["image"]["steps"] if step.get("id") == "meta")
    assert meta["with"]["images"] == "ghcr.io/${{ github.repository }}"
    assert image == f"ghcr.io/OWNER/authentik-reconciler:{kit_release()}"
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]
    assert cli_problems(command) == []  # the entrypoint is `reconciler`


def test_the_action_line_names_this_action_and_its_inputs() -> None:
    line = install_lines()["GitHub Action"]
    assert line == f"- uses: OWNER/authentik-reconciler@v{kit_release()}"
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```yaml\n(- uses: OWNER/authentik-reconciler@v[\d.]+\n.*?)```", readme, re.DOTALL)
    assert example
    step = yaml.safe_load(example.group(1))[0]
    assert set(step["with"]) <= set(action["inputs"])
    assert step["with"]["command"] in ("validate", "plan", "apply")
