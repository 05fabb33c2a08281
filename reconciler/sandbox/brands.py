"""`/core/brands/current/` (2023 `/core/tenants/current/`): the brand serving the request, as the
login page reads it (directory 09). Its keys and the values no brand field holds (theme, footer
links, locale, flags) are the recorded fresh answer of the version's profile."""
from __future__ import annotations

from collections.abc import Mapping

from reconciler.values import Json, JsonObject, ObjectId

FLOW = "flow"
FLOW_PREFIX = "flow_"


def serving(brands: Mapping[ObjectId, JsonObject], host: str) -> JsonObject | None:
    """The brand whose domain ends the request's host (case-insensitive), else the default one
    (authentik orders the default last)."""
    matching = [values for values in brands.values()
                if host.lower().endswith(str(values.get("domain") or "\0").lower())]
    ordered = sorted(matching, key=lambda values: bool(values.get("default")))
    return ordered[0] if ordered else next((v for v in brands.values() if v.get("default")), None)


def current(template: JsonObject, brand: JsonObject, flows: Mapping[ObjectId, JsonObject]) -> JsonObject:
    """The recorded answer's keys filled from `brand`: its domain as `matched_domain`, its flows
    by slug, its own fields; the rest as recorded."""
    body: JsonObject = {}
    for key, recorded in template.items():
        value: Json = recorded
        if key == "matched_domain":
            value = brand.get("domain")
        elif key.startswith(FLOW_PREFIX):
            value = flows.get(brand.get(key) or "", {}).get("slug")
        elif key in brand:
            value = brand[key]
        body[key] = value
    return body
