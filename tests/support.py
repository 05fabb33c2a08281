"""Helpers shared by the end-to-end tests: manifests written to temp dirs, the sandbox served
over real HTTP, and the CLI run with a clean environment."""
from __future__ import annotations

import datetime
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from reconciler.cli.main import cli
from reconciler.sandbox import Sandbox

TOKEN = "test-token"


def write_manifest(directory: Path, objects: list[dict[str, Any]], name: str = "stages.yaml",
                   section: str = "stages") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump({section: objects}, sort_keys=False))
    return path


@contextmanager
def served(api_version: str = "2026.2.2", **options: Any) -> Iterator[tuple[Sandbox, str]]:
    """A fresh sandbox on 127.0.0.1 over real HTTP."""
    sandbox = Sandbox(api_version=api_version, token=TOKEN, **options)
    with sandbox.serve_in_thread() as url:
        yield sandbox, url


def run(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """`reconciler ARGS` against `url`, with only the variables given (plus the connection)."""
    # The outer environment must not leak in: not even GitHub's own when the suite runs on Actions.
    environ: dict[str, str | None] = {key: None for key in os.environ
                                      if key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_"))}
    environ.update({"AUTHENTIK_URL": url, "AUTHENTIK_TOKEN": TOKEN, "NO_COLOR": "1", **(env or {})})
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def writes(sandbox: Sandbox) -> list[tuple[str, str, Any]]:
    """The write calls the sandbox received: (method, path, body)."""
    return [(r.method, r.path, r.body) for r in sandbox.requests if r.method != "GET"]


@contextmanager
def sandbox_process(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`reconciler sandbox ARGS` in its own process; yields the first line it prints (its URL is
    the fifth word), and stops it when the block ends."""
    command = [sys.executable, "-m", "reconciler", "sandbox", *args]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert server.stdout is not None
        yield server.stdout.readline()
    finally:
        server.terminate()
        server.communicate(timeout=10)


@cache
def generator() -> ModuleType:
    """scripts/generate_model.py as a module (registered first: its dataclasses look it up)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_model.py"
    spec = importlib.util.spec_from_file_location("generate_model", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def key_pair(common_name: str) -> tuple[str, str]:
    """A self-signed certificate and its RSA key, as PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
