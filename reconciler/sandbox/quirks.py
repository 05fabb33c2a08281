"""Recorded behaviours of the real server that the API model cannot express. Each names the
recordings it comes from (`authentik-recordings/<version>/`, copied to tests/fixtures/recordings)."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from reconciler.model.kinds import Kind
from reconciler.values import Json, JsonObject

from .profile import Profile

# 2026.2.2 kinds/23-source-2-create: a source stage refuses the built-in source, the only source of
# a fresh install: it is not web-based. (identification `sources` accepts it: 22.)
WEB_SOURCE_FIELDS = {("source", "source")}
WEB_SOURCE_ERROR = "Invalid source selected, only web-based sources are supported."
NOT_WEB_SOURCE_MODELS = {"authentik_core.source"}

# kinds/16-invitation_invitations-1-create-name-only, -2-create (both versions): `expires` defaults
# to the time of creation plus 30 minutes, and `created_by` is the user of the token (akadmin).
TIME_DEFAULTS = {("invitation_invite", "expires"): timedelta(minutes=30)}
CREATED_BY = "created_by"


def creation_defaults(kind: Kind) -> JsonObject:
    """The values the server fills in for fields a create leaves out."""
    values = copy.deepcopy(kind.defaults)
    for (kind_name, field), lifetime in TIME_DEFAULTS.items():
        if kind_name == kind.name:
            values[field] = format_datetime(datetime.now(UTC) + lifetime)
    return values


def format_datetime(moment: datetime) -> str:
    """DRF's rendering of an aware datetime in UTC: ISO 8601 with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def refused_source(kind: Kind, field: str, source: JsonObject | None) -> str | None:
    if (kind.name, field) in WEB_SOURCE_FIELDS and source and source.get("meta_model_name") in NOT_WEB_SOURCE_MODELS:
        return WEB_SOURCE_ERROR
    return None


def server_error_fields(kind: Kind, body: JsonObject, profile: Profile, creating: bool) -> list[str]:
    """Fields that make a valid write fail in the server, answered with the 405 server-error quirk:
    2023.10.7 nested writes such as `flow_set` (43, 44, 46, 50), and a create without a field the
    database has no default for (identification `user_fields`, 09)."""
    fields = [name for name in profile.nested_writes if name in body and name in kind.read_only]
    if creating:
        fields += [name for name in kind.no_default if name not in body]
    return fields


def json_error_text(error: ValueError, parser: str) -> str:
    """The text after "JSON parse error - " (92): 2023.10.7 quotes Python's json module, 2026.2.2
    parses with orjson, which names the problem differently but reports the same position."""
    if parser != "orjson" or not isinstance(error, json.JSONDecodeError):
        return str(error)
    problem = "unexpected end of data" if error.pos >= len(error.doc.rstrip()) else "unexpected character"
    return f"{problem}: line {error.lineno} column {error.colno} (char {error.pos})"


def jsonb_order(value: Json) -> Json:
    """A JSON value as PostgreSQL's jsonb gives it back: each object's keys shortest first, then in
    byte order. The write's own answer echoes the request's order; later reads come from the
    database (directory 238 answers `name, href`, 239 reads `href, name`; 215, 226), at every
    level, objects inside lists too (an OAuth source's `oidc_jwks` keys, directory 284)."""
    if isinstance(value, list):
        return [jsonb_order(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonb_order(value[key]) for key in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    return value
