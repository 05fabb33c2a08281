"""An emulator of authentik's REST API, for tests and `--sandbox` runs: every kind of the API
model with the real server's validation, errors and quirks, as the recordings show them."""
from __future__ import annotations

from .faults import Faults
from .middleware import RecordedRequest
from .sandbox import DEFAULT_TOKEN, LATEST_VERSION, Sandbox, serve

__all__ = ["DEFAULT_TOKEN", "LATEST_VERSION", "Faults", "RecordedRequest", "Sandbox", "serve"]
