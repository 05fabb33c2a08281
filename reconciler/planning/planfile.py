"""Saved plans on disk: `plan --out FILE` writes one, `show` and `apply --plan` read it back.
A saved plan holds no secret value, so a secret written in a manifest (not as `{env}` or
`{file}`) cannot be saved: the error says which object and field. It carries a keyed digest
(HMAC-SHA256) of its content, so a plan edited without the key is refused by `apply --plan`."""
from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.files import write_atomically
from reconciler.model.kinds import ApiModel, known_versions, load_model
from reconciler.planning.changes import Change, Plan, PlanDigest, Replace, content_digest
from reconciler.state import STATE_KEY_ENV, state_key
from reconciler.values import Json, JsonObject, Secret

__all__ = ["save_plan", "load_plan", "MAX_PLAN_BYTES", "PLAN_KEY_ENV", "PlanKey", "plan_key", "seal", "DigestCheck",
           "check_digest", "trusted", "hide_clear_secrets"]

PLAN_KEY_ENV = "RECONCILER_PLAN_KEY"
STATE_KEY = "state"
"""A digest's `key` when the state file's key made it (`RECONCILER_STATE_KEY`, else the token)."""
KEY_CHECK = b"authentik-reconciler plan key"

MAX_PLAN_BYTES = 64 * 1024 * 1024
"""A saved plan of 10,000 changes is a few MB; anything far larger is not a plan."""


@dataclass(frozen=True)
class PlanKey:
    """The key of saved plans' digests and where it comes from; its repr never shows it."""

    source: str
    secret: bytes

    def __repr__(self) -> str:
        return f"PlanKey({self.source})"

    @property
    def id(self) -> str:
        """Names the key without revealing it."""
        return hmac.new(self.secret, KEY_CHECK, hashlib.sha256).hexdigest()[:16]

    def mac(self, content: str) -> str:
        return hmac.new(self.secret, content.encode(), hashlib.sha256).hexdigest()


def plan_key(env: Mapping[str, str], token: str | None) -> PlanKey | None:
    """`RECONCILER_PLAN_KEY` when set, else the state file's key (`RECONCILER_STATE_KEY`, else the
    token); None when there is none (`show`, offline, without them)."""
    if env.get(PLAN_KEY_ENV):
        return PlanKey(PLAN_KEY_ENV, env[PLAN_KEY_ENV].encode())
    state = state_key(env, token)
    return PlanKey(STATE_KEY, state.encode()) if state else None


def seal(plan: Plan, key: PlanKey | None) -> Plan:
    """`plan` with its keyed digest: over the plan as its file holds it, everything but the digest
    (no key: as it is, and `apply --plan` refuses it)."""
    if key is None:
        return plan
    unsealed = replace(plan, digest=PlanDigest(mac="", key=key.source, key_id=key.id))
    # No `content` kept: a plan changed after sealing (`dataclasses.replace`) must not verify.
    return replace(unsealed, digest=PlanDigest(mac=key.mac(_content(unsealed)), key=key.source, key_id=key.id))


def _content(plan: Plan) -> str:
    """What the digest covers, for a plan in memory (a plan read from a file keeps the content of
    the file as read: its decoded form does not serialise back byte for byte)."""
    return content_digest(json.loads(json.dumps(plan.data)))  # through JSON: the file's types


@dataclass(frozen=True)
class DigestCheck:
    """Whether a saved plan's digest verifies: True, False (changed since it was made), or None
    (it could not be checked: no digest, no key, or another key); `message` says which, and
    `advice` what to do."""

    verified: bool | None
    message: str
    advice: str = ""

    @property
    def data(self) -> JsonObject:
        return {"verified": self.verified, "message": self.message, "advice": self.advice}


def _key_hint(digest: PlanDigest) -> str:
    if digest.key == PLAN_KEY_ENV:
        return f"set {PLAN_KEY_ENV} as when the plan was made"
    return f"set {STATE_KEY_ENV} (or the token) as when the plan was made, and {PLAN_KEY_ENV} not at all"


def check_digest(plan: Plan, key: PlanKey | None) -> DigestCheck:
    """Check `plan`'s digest (as read from its file) with `key`."""
    digest = plan.digest
    if digest is None:
        return DigestCheck(None, "the saved plan carries no digest (made by an older version of the tool, or "
                                 "edited)", "plan again")
    if key is None or key.id != digest.key_id:
        what = "no key is set" if key is None else "the fingerprint key differs from the plan's"
        return DigestCheck(None, f"the saved plan's digest cannot be checked: {what}", _key_hint(digest))
    content = digest.content or _content(plan)
    if not hmac.compare_digest(key.mac(content).encode(), digest.mac.encode()):  # any text: bytes
        return DigestCheck(False, "the saved plan was changed since it was made (its digest does not match its "
                                  "content)", "plan again")
    return DigestCheck(True, "the saved plan's digest verifies: it is as it was made")


def trusted(plan: Plan, key: PlanKey | None, file: Path | None = None) -> Plan:
    """`plan` once its digest verifies with `key` and it holds no secret in clear; a
    `PlanFileError` (naming `file`) otherwise. `apply --plan` asks this before any call."""
    where = f"{file}: " if file is not None else ""
    check = check_digest(plan, key)
    if not check.verified:
        raise PlanFileError(f"{where}{check.message}, nothing was applied: {check.advice}")
    plan = hide_clear_secrets(plan)
    clear = _inline_secrets(plan)
    if clear:
        raise PlanFileError(f"{where}the saved plan holds a secret value in clear, which a saved plan never does "
                            f"(it carries each secret's source), nothing was applied: {', '.join(clear)}")
    return plan


def _model(version: str) -> ApiModel | None:
    return load_model(version) if version in known_versions() else None


def hide_clear_secrets(plan: Plan) -> Plan:
    """`plan` with each value of a field its model knows as sensitive that is not a secret's source
    (a value in clear, written into the file by hand) made a `Secret` without a source: shown as
    `(sensitive)`, and refused by `trusted`. A plan of an API version or a kind this tool has no
    model of is refused: it could not tell its secrets apart."""
    model = _model(plan.api_version)
    if model is None:
        raise PlanFileError(f"the saved plan is for authentik {plan.api_version}, which this tool has no model of: "
                            "it cannot tell its secrets apart to show it (plan again with this version)")
    return replace(plan, changes=tuple(_hidden(change, model) for change in plan.changes))


def _hidden(change: Change, model: ApiModel) -> Change:
    """`change` with its model's sensitive fields hidden: values in clear made secrets, and each
    field shown as sensitive (before and after) whatever the file's `sensitive` list says."""
    kind = model.kinds.get(change.kind)
    if kind is None:
        raise PlanFileError(f"{change.address}: unknown kind {change.kind!r} for authentik {model.version}")
    sensitive = kind.sensitive_fields
    clear = {name for name, value in (change.body() or {}).items() if name in sensitive and _in_clear(value)}
    if clear:
        change = _hide_fields(change, clear)
    if any(c.field in sensitive and not c.sensitive for c in change.fields):
        change = replace(change, fields=tuple(replace(c, sensitive=True) if c.field in sensitive else c
                                              for c in change.fields))
    return change


def _hide_fields(change: Change, names: set[str]) -> Change:
    """`change` with the body values of `names` as secrets without a source."""
    fields = tuple(replace(c, after=Secret(c.after), sensitive=True) if c.field in names else c
                   for c in change.fields)
    companions = tuple(replace(c, value=Secret(c.value)) if c.field in names else c for c in change.companions)
    if isinstance(change, Replace):
        return replace(change, fields=fields, companions=companions,
                       full={n: Secret(v) if n in names else v for n, v in change.full.items()})
    return replace(change, fields=fields, companions=companions)


def _in_clear(value: Json) -> bool:
    """A value a sensitive field may not hold in a saved plan: anything but a secret's source,
    nothing (null) or the empty text."""
    return not isinstance(value, Secret) and value not in (None, "")


def _inline_secrets(plan: Plan) -> list[str]:
    found = []
    for change in plan.changes:
        for name, value in (change.body() or {}).items():
            if isinstance(value, Secret) and value.source is None:
                found.append(f"{change.address}: {name}")
    return found


def save_plan(plan: Plan, path: Path) -> None:
    """Write `plan` as JSON, atomically; refuse one that would need a secret's value."""
    inline = _inline_secrets(plan)
    if inline:
        raise ReconcilerError("cannot save the plan: these secrets are written in the manifests, and a saved "
                              "plan never holds a secret value; write them as {env: VAR} or {file: PATH}: "
                              + ", ".join(inline))
    try:
        write_atomically(path, (json.dumps(plan.data, indent=2, ensure_ascii=False) + "\n").encode())
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from exc


def load_plan(path: Path) -> Plan:
    """Read a saved plan; anything else (missing, too big, not JSON, a number JSON cannot carry,
    malformed) is one error naming the file. A value in clear in a sensitive field comes back as a
    secret (never shown); `trusted` refuses it."""
    try:
        if not path.is_file():
            raise PlanFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{path}: larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB, not a saved plan")
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: not a saved plan (invalid JSON: {exc})") from exc
    except _NotJson as exc:
        raise PlanFileError(f"{path}: not a saved plan ({exc})") from exc
    except ValueError as exc:  # int(): more digits than sys.get_int_max_str_digits()
        raise PlanFileError(f"{path}: not a saved plan (a number of more than {sys.get_int_max_str_digits()} "
                            "digits)") from exc
    except RecursionError as exc:
        raise PlanFileError(f"{path}: not a saved plan (nested too deeply)") from exc
    try:
        return hide_clear_secrets(Plan.from_data(data))
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from exc
    except RecursionError as exc:
        raise PlanFileError(f"{path}: not a saved plan (nested too deeply)") from exc


class _NotJson(ValueError):
    """A number a plan cannot hold."""


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJson(f"a number too large for JSON: {text[:20]}")
    return value


def _no_constant(text: str) -> float:
    raise _NotJson(f"{text} is not JSON")
