"""`reconciler init [DIR]`: a config repository that validates and plans against the sandbox
(over HTTP), from the server's current login flow or `--example`, with either CI flavour; the
editor modeline, pre-commit config, README and .gitignore; and never an overwritten file."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from support import TOKEN, run, served
from test_ci_kit import check_jsonschema, file_commands

from reconciler.exporting.scaffold import kit_dir

COMMON = [".gitignore", ".pre-commit-config.yaml", "README.md", "config/manifest-2026.2.2.schema.json"]
CI_FILES = {"github": [".github/workflows/apply.yml", ".github/workflows/drift.yml", ".github/workflows/plan.yml"],
            "gitlab": [".gitlab-ci.yml"], None: []}


def files_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


@pytest.mark.parametrize("ci", ["github", "gitlab", None])
def test_init_from_the_servers_login_flow_plans_no_change(tmp_path: Path, ci: str | None) -> None:
    repo = tmp_path / "repo"
    with served() as (sandbox, url):
        made = run(url, "init", str(repo), *(["--ci", ci] if ci else []))
        assert made.exit_code == 0, made.output
        assert files_under(repo) == sorted([*COMMON, "config/flows/default-authentication-flow.yaml", *CI_FILES[ci]])
        assert "its manifests the login flow `default-authentication-flow` of http://127.0.0.1:" in made.output
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        assert run(url, "validate", str(repo / "config")).exit_code == 0
        planned = run(url, "plan", str(repo / "config"), "--detailed-exitcode")
        assert planned.exit_code == 0, planned.output  # the manifests describe the server as it is
        assert [r.method for r in sandbox.requests if r.method != "GET"] == []
    commands = []
    for name in CI_FILES[ci]:
        schema = "vendor.gitlab-ci" if name.endswith(".gitlab-ci.yml") else "vendor.github-workflows"
        assert check_jsonschema(schema, repo / name).returncode == 0
        commands += file_commands(repo / name)
    if ci:  # the workflows plan the folder init made
        assert any(argv[0] == "plan" for argv in commands)
        settings = yaml.safe_load((repo / CI_FILES[ci][-1]).read_text())
        assert settings.get("env", settings.get("variables"))["CONFIG_DIR"] == "config"


def test_init_exports_the_flow_the_default_brand_logs_in_with(tmp_path: Path) -> None:
    with served() as (sandbox, url), httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        flow = api.post("/api/v3/flows/instances/", json={"slug": "ds21-login", "name": "ds21", "title": "ds21",
                                                          "designation": "authentication"}).json()
        # An admin points the brand at another login flow.
        [brand] = api.get("/api/v3/core/brands/").json()["results"]
        assert brand["default"]
        answer = api.patch(f"/api/v3/core/brands/{brand['brand_uuid']}/", json={"flow_authentication": flow["pk"]})
        assert answer.status_code == 200, answer.text
        made = run(url, "init", str(tmp_path / "repo"))
        assert made.exit_code == 0, made.output
        assert files_under(tmp_path / "repo" / "config") == ["flows/ds21-login.yaml", "manifest-2026.2.2.schema.json"]
        assert run(url, "plan", str(tmp_path / "repo" / "config"), "--detailed-exitcode").exit_code == 0


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_init_example_validates_offline_and_plans_its_creates(tmp_path: Path, ci: str) -> None:
    repo = tmp_path / "repo"
    made = run("http://127.0.0.1:9", "init", str(repo), "--example", "--ci", ci)  # no server needed
    assert made.exit_code == 0, made.output
    assert files_under(repo) == sorted([*COMMON, "config/example-login.yaml", *CI_FILES[ci]])
    with served() as (_, url):
        assert run(url, "validate", str(repo / "config")).exit_code == 0
        planned = run(url, "plan", str(repo / "config"), "--detailed-exitcode")
        applied = run(url, "apply", str(repo / "config"), "--auto-approve", "--verify")
    assert planned.exit_code == 2 and "Plan: 7 to create," in planned.output
    assert applied.exit_code == 0, applied.output


def test_the_modeline_points_at_the_schema_init_wrote(tmp_path: Path) -> None:
    with served() as (_, url):
        assert run(url, "init", str(tmp_path / "a")).exit_code == 0
    assert run("http://127.0.0.1:9", "init", str(tmp_path / "b"), "--example").exit_code == 0
    for manifest in [tmp_path / "a/config/flows/default-authentication-flow.yaml",
                     tmp_path / "b/config/example-login.yaml"]:
        first = manifest.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, first
        assert (manifest.parent / match.group(1)).resolve().name == "manifest-2026.2.2.schema.json"
        assert (manifest.parent / match.group(1)).is_file()


def test_the_pre_commit_config_and_gitignore(tmp_path: Path) -> None:
    from importlib.metadata import version

    from pre_commit.clientlib import load_config

    assert run("http://127.0.0.1:9", "init", str(tmp_path), "--example").exit_code == 0
    config = load_config(str(tmp_path / ".pre-commit-config.yaml"))
    hook_repo = config["repos"][0]
    # The running tool's release, else (a development build) the release the CI kit pins.
    tool = version("authentik-reconciler")
    kit = re.search(r"authentik-reconciler:(\d+\.\d+\.\d+)", (kit_dir() / "gitlab" / ".gitlab-ci.yml").read_text())
    assert kit
    assert hook_repo["repo"] == "https://github.com/OWNER/authentik-reconciler"
    assert hook_repo["rev"] == f"v{tool if re.fullmatch(r'[0-9.]+', tool) else kit.group(1)}"
    assert [hook["id"] for hook in hook_repo["hooks"]] == ["reconciler-validate"]
    assert hook_repo["hooks"][0]["args"] == ["config/"]
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert "plan.json" in ignored and "reconciler.state.json" not in ignored  # the state file is committed
    readme = (tmp_path / "README.md").read_text()
    assert "reconciler plan config/" in readme and "an example login flow" in readme


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "README.md").write_text("ours\n")
    (tmp_path / "config" / "example-login.yaml").write_text("stages: []\n")
    (tmp_path / ".gitignore").symlink_to(tmp_path / "elsewhere")  # a link, even to nothing, is kept
    first = run("http://127.0.0.1:9", "init", str(tmp_path), "--example")
    assert first.exit_code == 0, first.output
    assert (tmp_path / "README.md").read_text() == "ours\n"
    assert (tmp_path / "config" / "example-login.yaml").read_text() == "stages: []\n"
    assert not (tmp_path / "elsewhere").exists()
    for name in ("README.md", ".gitignore", "config/example-login.yaml"):
        assert f"  kept  {tmp_path / name} (it exists: not overwritten)" in first.output
    assert f"  wrote {tmp_path / '.pre-commit-config.yaml'}" in first.output
    second = run("http://127.0.0.1:9", "init", str(tmp_path), "--example", "--ci", "gitlab")
    assert second.exit_code == 0
    wrote = [line for line in second.output.splitlines() if "wrote" in line]
    assert wrote == [f"  wrote {tmp_path / '.gitlab-ci.yml'}"]


def test_init_errors_are_one_message(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    not_a_folder = run("http://127.0.0.1:9", "init", str(tmp_path / "file"), "--example")
    assert not_a_folder.exit_code == 1
    assert "is a file" in not_a_folder.output or "not a folder" in not_a_folder.output
    unreachable = run("http://127.0.0.1:9", "init", str(tmp_path / "repo"), "--retries", "0")
    assert unreachable.exit_code == 1 and "Traceback" not in unreachable.output
    assert not (tmp_path / "repo").exists()  # nothing written when the server could not be read
    wrong_ci = run("http://127.0.0.1:9", "init", str(tmp_path / "repo"), "--example", "--ci", "jenkins")
    assert wrong_ci.exit_code == 1 and "'jenkins' is not one of 'github', 'gitlab'" in wrong_ci.output


def test_the_kit_is_in_the_wheel_for_init() -> None:
    """`reconciler init --ci` reads the kit from `reconciler/ci` in a wheel (pyproject's
    force-include), from examples/ci in a checkout."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["examples/ci"] == "reconciler/ci"
    assert (kit_dir() / "github" / "plan.yml").is_file()
    assert yaml.safe_load((kit_dir() / "gitlab" / ".gitlab-ci.yml").read_text())["variables"]["CONFIG_DIR"] == "config"
