"""What authentik fetches while it validates an OAuth source, answered without a network: the
OpenID Connect discovery document at `oidc_well_known_url` and the key set at `oidc_jwks_url`
(directory 278-280 of both versions). The sandbox never leaves the process: it serves the JSON
documents it was given by URL (`Sandbox(documents=...)`), and refuses every other URL the way a
closed port does (278), so a user's test shows what a real server would do with an IdP that is
down, and a replay serves what the recorder served."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.model.kinds import Kind
from reconciler.values import Json, JsonObject

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class DiscoveryAnswers:
    """How a version reports and uses what it fetched (profile `discovery`)."""

    kind: str
    """The kind whose writes fetch (an OAuth source)."""
    filled: dict[str, str]
    """Field -> the discovery document's key it is filled from when the body leaves it empty
    (2026 fills `pkce` from `code_challenge_methods_supported` too, 280)."""
    refused: str
    """The field error of an unreachable URL: urllib3's text, with {pool}, {connection}, {host},
    {port} and {path} filled in (278)."""
    invalid: str
    """The error of a document without `issuer` (279)."""


def discovery_answers(raw: Mapping[str, Json]) -> DiscoveryAnswers | None:
    if not raw:
        return None
    filled = raw["filled"]
    assert isinstance(filled, dict)
    return DiscoveryAnswers(kind=str(raw["kind"]), filled={str(k): str(v) for k, v in filled.items()},
                            refused=str(raw["refused"]), invalid=str(raw["invalid"]))


@dataclass(frozen=True)
class Discovery:
    answers: DiscoveryAnswers | None
    documents: Mapping[str, Json]

    def fetched(self, kind: Kind, attrs: JsonObject) -> tuple[JsonObject, JsonObject]:
        """`attrs` with what the well-known document and the key set fill in, and the field error
        when a URL does not answer or answers no discovery document. Only the
        URLs of the body are fetched: a provider type's own (Google, Entra ID) would be the
        internet, which the sandbox does not play (the lab was not asked either)."""
        answers = self.answers
        if answers is None or kind.name != answers.kind:
            return attrs, {}
        well_known = attrs.get("oidc_well_known_url")
        inferred: Json = None
        if well_known:
            config = self.document(str(well_known))
            if not isinstance(config, dict):
                return attrs, {"oidc_well_known_url": [self.refusal(str(well_known))]}
            if "issuer" not in config:
                return attrs, {"oidc_well_known_url": [answers.invalid]}
            attrs = {**attrs, **{name: config.get(key, "") for name, key in answers.filled.items()
                                 if not attrs.get(name)}}
            inferred = config.get("jwks_uri", "")
        jwks_url = attrs.get("oidc_jwks_url") or inferred
        if not jwks_url:
            return attrs, {}
        keys = self.document(str(jwks_url))
        if keys is None:
            return attrs, {"oidc_jwks_url": [self.refusal(str(jwks_url))]}
        return {**attrs, "oidc_jwks_url": jwks_url, "oidc_jwks": keys}, {}

    def document(self, url: str) -> Json:
        return self.documents.get(url)

    def refusal(self, url: str) -> str:
        """What urllib3 says of a port nothing listens on (278)."""
        assert self.answers is not None
        parts = urlsplit(url)
        secure = "S" if parts.scheme == "https" else ""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.answers.refused.format(pool=f"HTTP{secure}ConnectionPool", connection=f"HTTP{secure}Connection",
                                           host=parts.hostname or "", port=parts.port or DEFAULT_PORTS.get(
                                               parts.scheme, 80), path=path or "/")
