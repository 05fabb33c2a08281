"""The apps/ recordings in the fidelity replay (tests/test_sandbox_fidelity.py): the sandbox each
version's apps/ folder starts from, the recordings it does not reproduce and why, and what the
replay needs to know about these recordings beyond the generic machinery.

apps/ was recorded on yet another install (FINDINGS apps: the same lab server, its own fresh
reads in apps/fresh-install.json), so the seed is rebased onto that install: its mappings,
certificate and embedded outpost keep the pks apps/fresh-install.json shows (matched by name),
and the four flows the recordings name by UUID (no apps recording lists flows) are the install's
default flows of the matching designation."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from reconciler.sandbox.profile import default_seed

FOLDER = "apps"
RECORDINGS = Path(__file__).parent / "fixtures" / "recordings"

# Flows the recordings send by UUID: the authorization and invalidation flows of every provider
# create (190) and the two flows 220 switches to. Which default flow each one was is not on record
# (the providers echo the UUID only); these are the default flows of the designation each field
# takes, the recorder's natural choice.
RECORDED_FLOWS = {
    "2023.10.7": {"752f6850-ae2d-4dcd-9c52-05a201b6e3ba": "default-provider-authorization-implicit-consent",
                  "f885472d-0c46-44f9-b6b8-1784a1d861b5": "default-authentication-flow",
                  "b1542835-9e69-4fea-b746-48df2fd51b68": "default-provider-authorization-explicit-consent"},
    "2026.2.2": {"a4c4ccc9-25a5-4665-8647-e927c08a097d": "default-provider-authorization-implicit-consent",
                 "e350cce8-2b6c-44dd-b832-1719e22d77a8": "default-provider-invalidation-flow",
                 "25af2e28-084a-4e1d-b678-731c31ac45fc": "default-authentication-flow",
                 "f0a77a7a-1a4a-4ee1-a368-8bd0c813e046": "default-provider-authorization-explicit-consent"},
}

# The recorded servers' addresses, which absolute URLs in their answers show (apps 20, 245, 396):
# the replay reaches the sandbox at the same address.
SERVERS = {"2023.10.7": "http://127.0.0.1:9000", "2026.2.2": "http://127.0.0.1:9001"}

# Creates the server answers with 200, not 201: a generated key pair (26, 29; 2023 30 too).
CREATING_ACTIONS = ("/crypto/certificatekeypairs/generate/",)


def apps_seed(version: str) -> dict[str, Any]:
    """The fresh-install seed with the pks of the install apps/ was recorded on."""
    seed = copy.deepcopy(default_seed(version))
    lists = seed["lists"]
    recorded = json.loads((RECORDINGS / version / FOLDER / "fresh-install.json").read_text())
    ids: dict[str, str] = {}
    for path, objects in recorded.items():
        names = {obj["name"]: obj["pk"] for obj in objects}
        ids.update({obj["pk"]: names[obj["name"]] for obj in lists.get(path, []) if obj.get("name") in names})
        lists[path] = objects  # as that install showed them (the self-signed certificate's fingerprints)
    slugs = {flow["slug"]: flow["pk"] for flow in lists["/flows/instances/"]}
    ids.update({slugs[slug]: pk for pk, slug in RECORDED_FLOWS[version].items()})
    rebased: dict[str, Any] = json.loads(substituted(json.dumps(seed), ids))
    return rebased


def substituted(text: str, ids: dict[str, str]) -> str:
    for old, new in ids.items():
        text = text.replace(old, new)
    return text


def creates(url: str, status: int) -> bool:
    """Whether a successful answer to a request of `url` reports an object it created."""
    return status == 201 or (status == 200 and url.split("?")[0].endswith(CREATING_ACTIONS))


# Random values a create draws (apps 190, 277, 316), handed to the sandbox as recorded.
DRAWN = ("client_id", "client_secret", "shared_secret")


def drawn_secrets(creating: bool, body: Any) -> list[str]:
    return [str(body[key]) for key in DRAWN if key in body] if creating and isinstance(body, dict) else []


# Recordings the sandbox does not reproduce, and why (strict xfails).
NOT_REPRODUCED: dict[str, str] = {}
