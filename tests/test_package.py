"""The package's own attributes: the lazily loaded public names, the submodules, `mock.patch` on
them, and what mypy sees of them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import reconciler
from reconciler import engine


@pytest.mark.parametrize("name", ["plan", "apply", "export"])
def test_mock_patch_replaces_a_function_that_shares_a_submodules_name(name: str) -> None:
    function = getattr(engine, name)
    assert getattr(reconciler, name) is function
    with mock.patch(f"reconciler.{name}") as patched:
        assert getattr(reconciler, name) is patched
        # The import system setting the submodule as the attribute leaves the patch in place.
        __import__(f"reconciler.{name}")
        assert getattr(reconciler, name) is patched
    assert getattr(reconciler, name) is function
    setattr(reconciler, name, "assigned")
    assert getattr(reconciler, name) == "assigned"
    delattr(reconciler, name)
    assert getattr(reconciler, name) is function


def test_the_submodules_are_attributes_of_the_package() -> None:
    # A fresh interpreter: here the test session has imported every submodule already.
    code = ("import reconciler\n"
            "print(reconciler.pipeline.load.__module__, reconciler.client.Client.__name__,\n"
            "      reconciler.errors.ApiError.__name__, reconciler.live.__name__,\n"
            "      reconciler.sandbox.Sandbox.__name__, reconciler.plan.__module__, hasattr(reconciler, '__main__'))\n"
            "try:\n"
            "    reconciler.pipelin\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == [
        "reconciler.pipeline Client ApiError reconciler.live Sandbox reconciler.engine False",
        "module 'reconciler' has no attribute 'pipelin'",
    ]


def test_mypy_knows_the_packages_names_and_catches_a_typo(tmp_path: Path) -> None:
    from mypy import api

    user = tmp_path / "user.py"
    user.write_text("import reconciler\n\n"
                    "plan: object = reconciler.plan\n"
                    "changes: object = reconciler.Plan\n"
                    "steps: object = reconciler.pipeline.load\n"
                    "typo: object = reconciler.plann\n")
    stdout, _, status = api.run(["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                                 str(user)])
    assert stdout.splitlines() == [
        f'{user}:6: error: Module has no attribute "plann"; maybe "plan"?  [attr-defined]']
    assert status == 1
