"""The package's own attributes: the lazily loaded public names, the submodules, `mock.patch` on
them, and what mypy sees of them."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
import types
from pathlib import Path
from unittest import mock

import pytest

import reconciler
from reconciler import engine


@pytest.mark.parametrize("name", ["plan", "apply", "export"])
def test_mock_patch_replaces_a_public_function(name: str) -> None:
    function = getattr(engine, name)
    assert getattr(reconciler, name) is function
    with mock.patch(f"reconciler.{name}") as patched:
        assert getattr(reconciler, name) is patched
    assert getattr(reconciler, name) is function
    setattr(reconciler, name, "assigned")
    assert getattr(reconciler, name) == "assigned"
    setattr(reconciler, name, function)


def test_no_module_shares_its_name_with_a_public_function() -> None:
    # A submodule named like a function makes `reconciler.plan` the one or the other depending on
    # what was imported first (the old package swapped its own class to paper over it).
    modules = {info.name.rsplit(".", 1)[-1] for info in pkgutil.walk_packages(reconciler.__path__, "reconciler.")}
    functions = {name for name in reconciler.__all__ if callable(getattr(reconciler, name))
                 and not isinstance(getattr(reconciler, name), type)}
    assert {"plan", "apply", "export", "validate_paths", "write_export"} <= functions
    assert modules & functions == set()
    assert type(reconciler) is types.ModuleType


def test_the_submodules_are_attributes_of_the_package() -> None:
    # A fresh interpreter: here the test session has imported every submodule already.
    code = ("import reconciler\n"
            "print(reconciler.planning.__name__, reconciler.server.__name__,\n"
            "      reconciler.errors.ApiError.__name__, reconciler.model.__name__,\n"
            "      reconciler.sandbox.Sandbox.__name__, reconciler.plan.__module__, hasattr(reconciler, '__main__'))\n"
            "try:\n"
            "    reconciler.plannin\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == [
        "reconciler.planning reconciler.server ApiError reconciler.model Sandbox reconciler.engine False",
        "module 'reconciler' has no attribute 'plannin'",
    ]


def test_mypy_knows_the_packages_names_and_catches_a_typo(tmp_path: Path) -> None:
    from mypy import api

    user = tmp_path / "user.py"
    user.write_text("import reconciler\n\n"
                    "plan: object = reconciler.plan\n"
                    "changes: object = reconciler.Plan\n"
                    "steps: object = reconciler.planning.pipeline.load\n"
                    "typo: object = reconciler.plann\n")
    stdout, _, status = api.run(["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                                 str(user)])
    assert stdout.splitlines() == [
        f'{user}:6: error: Module has no attribute "plann"; maybe "plan"?  [attr-defined]']
    assert status == 1


def test_every_package_the_code_imports_is_a_declared_dependency() -> None:
    """`pip install .` (the README's first command) installs the runtime dependencies only: a
    module the package imports that only the test extra brings (cryptography, for the sandbox's
    key pairs, once was) would crash the first command on a fresh machine."""
    import ast
    import importlib.metadata
    import re
    import tomllib

    checkout = Path(__file__).parent.parent  # the source, wherever the package was installed from
    imported: set[str] = set()
    for path in (checkout / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"reconciler", "__future__"}
    project = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower().replace("_", "-")
                for spec in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {module: distributions.get(module) for module in third_party
                  if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared}
    assert undeclared == {}
