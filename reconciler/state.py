"""The secret state store: keyed fingerprints of the write-only values the tool last applied.

authentik never returns write-only fields (Duo `client_secret`, recordings 2023.10.7/11, 14), so a
plain diff either always or never sends them. The tool remembers an HMAC-SHA256 of each value it
applied, never the value, in a JSON file meant to be committed next to the manifests: it survives
ephemeral CI runners with no infrastructure, and a reviewer sees in the diff which secrets
changed without learning them."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError

__all__ = ["SecretState", "STATE_FILE"]

log = logging.getLogger(__name__)

STATE_FILE = "reconciler.state.json"


@dataclass
class SecretState:
    """Fingerprints per server, object address (`kind/name`) and field. `path=None` keeps them in
    memory only (the sandbox, tests)."""

    key: bytes
    server: str
    path: Path | None = None
    _servers: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict, repr=False)
    loaded: bool = False

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._servers = {s: dict(objs) for s, objs in data.get("servers", {}).items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise ReconcilerError(f"cannot read the state file {self.path}: {exc}") from exc
            self.loaded = True

    def fingerprint(self, address: str, field_name: str, value: Any) -> str:
        message = json.dumps([address, field_name, value], sort_keys=True).encode()
        return "hmac-sha256:" + hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def recorded(self, address: str, field_name: str) -> str | None:
        return self._servers.get(self.server, {}).get(address, {}).get(field_name)

    def record(self, address: str, field_name: str, value: Any) -> None:
        objects = self._servers.setdefault(self.server, {})
        objects.setdefault(address, {})[field_name] = self.fingerprint(address, field_name, value)

    def forget(self, address: str) -> None:
        self._servers.get(self.server, {}).pop(address, None)

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "format_version": 1,
            "about": "HMAC-SHA256 fingerprints of write-only values applied by authentik-reconciler; "
                     "no secret is stored. Commit this file next to the manifests.",
            "servers": {s: dict(sorted(objs.items())) for s, objs in sorted(self._servers.items())},
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(self.path)
        log.info("saved secret fingerprints to %s", self.path)
