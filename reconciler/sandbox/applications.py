"""Read-only fields of applications, providers, certificates and outposts that the server computes
from other objects (FINDINGS apps of both versions; recordings cited as "apps NN"): which
application a provider is assigned to, an outpost's `outpost_set` strings, launch URLs, a proxy
provider's redirect URIs, a key pair's fingerprints, subject and expiry read from its PEM."""
from __future__ import annotations

import re
import secrets
import string
from contextvars import ContextVar
from datetime import UTC
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlparse, urlunparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import Json, JsonObject, ObjectId

from . import files
from .middleware import API_PREFIX
from .profile import Profile
from .quirks import format_datetime
from .store import Store

BASE_URL: ContextVar[str] = ContextVar("base_url", default="http://localhost")
"""The address the current request reached the sandbox at, for the absolute URLs authentik builds
from the request (apps 20, 245)."""


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NOT_COMPUTED: Final = _Marker("NOT_COMPUTED")
"""`Computed.value` for a key it does not compute."""
ABSENT: Final = _Marker("ABSENT")
"""A key the answer leaves out (2023 `assigned_backchannel_*` of a provider no application uses as
backchannel, apps 190 vs 401)."""

APPLICATION = "application"
OUTPOST = "outpost"
CLIENT_ID_CHARS = string.ascii_letters + string.digits
PROXY_CALLBACK = "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"  # apps 277
PROXY_RETURN = "?X-authentik-auth-callback=true"
SAML_INIT = "/application/saml/{slug}/sso/binding/init/"  # apps 390
DEFAULT_REFRESH = 300  # apps 459: refresh_interval_s of an outpost whose config names none
TIMEDELTA_PART = re.compile(r"(\w+)=(-?\d+(?:\.\d+)?)")
SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


class Computed:
    def __init__(self, model: ApiModel, profile: Profile, store: Store) -> None:
        self.model = model
        self.profile = profile
        self.store = store

    def value(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """The value of a read-only `key` of an object, `ABSENT`, or `NOT_COMPUTED`."""
        if key.startswith("assigned_"):
            return self.assigned(pk, key)
        method = getattr(self, f"_{key}", None)
        return NOT_COMPUTED if method is None else method(kind, pk, values)

    # -- providers ------------------------------------------------------------------------------
    def application(self, pk: ObjectId, *, backchannel: bool = False) -> JsonObject | None:
        """The application whose `provider` is this one, or (`backchannel`) the first whose
        `backchannel_providers` hold it: the store's reference look-ups, indexed while a list
        renders (every rendered provider asks)."""
        if APPLICATION not in self.model.kinds:
            return None
        if not backchannel:
            found = self.store.referring(APPLICATION, "provider", pk)
            return found[0][1] if found else None
        return next((self.store.values[APPLICATION][app] for kind, app, field in self.store.referrers("provider", pk)
                     if kind.name == APPLICATION and field.name == "backchannel_providers"), None)

    def assigned(self, pk: ObjectId, key: str) -> Any:
        """`assigned_application_*`: the application whose `provider` this is (apps 388);
        `assigned_backchannel_application_*`: one whose `backchannel_providers` hold it (401)."""
        backchannel = key.startswith("assigned_backchannel_")
        app = self.application(pk, backchannel=backchannel)
        if app is None:
            return ABSENT if backchannel and self.profile.apps.backchannel_absent else None
        return app.get(key.rsplit("_", 1)[1])

    def _outpost_set(self, kind: Kind, pk: ObjectId, values: JsonObject) -> list[str]:
        """The outposts serving a provider, as `"Outpost <name>"` strings (apps 461)."""
        outpost = self.model.kinds.get(OUTPOST)
        if outpost is None:
            return []
        return [f"Outpost {self.store.values[outpost.name][other]['name']}"
                for kind, other, field in self.store.referrers("provider", pk)
                if kind.name == outpost.name and field.name == "providers"]

    def _client_id(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """A proxy provider's read-only client id, drawn on create (apps 277)."""
        return self.store.held.get(pk, {}).get("client_id")

    def generated(self, kind: Kind) -> JsonObject:
        """The values the server draws for a new object of `kind`: random credentials (apps 190,
        316; `Store.next_secrets` first) and default mappings (277)."""
        values: JsonObject = {}
        for name, length in self.profile.generated_secrets.get(kind.name, {}).items():
            given = self.store.next_secrets.pop(0) if self.store.next_secrets else None
            values[name] = given or "".join(secrets.choice(CLIENT_ID_CHARS) for _ in range(length))
        for name, managed in self.profile.generated_mappings.get(kind.name, {}).items():
            values[name] = [pk for wanted in managed for pk in self.managed_mappings(wanted)]
        return values

    def managed_mappings(self, managed: str) -> list[ObjectId]:
        return [pk for kind in self.model.kinds_of("property_mapping") for pk, values in
                self.store.values[kind.name].items()
                if self.store.held.get(pk, {}).get("managed", values.get("managed")) == managed]

    def _redirect_uris(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """A proxy provider's redirect URIs, recomputed from `external_host` (apps 277, 289):
        2026 a list of strict matches, 2023 one newline-separated string of escaped regexes."""
        host = str(values.get("external_host") or "")
        urls = [host + PROXY_CALLBACK, host + PROXY_RETURN]
        if self.profile.apps.redirect_uris_as_text:
            return "\n".join(re.escape(url).replace("\\-", "-").replace("\\.", ".").replace("\\/", "/")
                             .replace("\\:", ":").replace("\\=", "=") for url in urls)
        return [{"matching_mode": "strict", "url": url} for url in urls]

    # -- SAML providers: absolute URLs of this server (apps 245, 396) ---------------------------
    def application_slug(self, pk: ObjectId) -> str | None:
        app = self.application(pk)
        return None if app is None else str(app.get("slug"))

    def _url_download_metadata(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        slug = self.application_slug(pk)
        if slug is not None and self.profile.apps.saml_metadata_by_app:
            return f"{BASE_URL.get()}/application/saml/{slug}/metadata/"
        return f"{BASE_URL.get()}{API_PREFIX}{kind.path}{pk}/metadata/?download"

    def saml_url(self, pk: ObjectId, path: str) -> str:
        """`-` until an application uses the provider (245), then the URL under its slug (396)."""
        slug = self.application_slug(pk)
        return "-" if slug is None else f"{BASE_URL.get()}/application/saml/{slug}/{path}/"

    def _url_sso_post(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return self.saml_url(pk, "sso/binding/post")

    def _url_sso_redirect(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return self.saml_url(pk, "sso/binding/redirect")

    def _url_sso_init(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return self.saml_url(pk, "sso/binding/init")

    def _url_slo_post(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return self.saml_url(pk, "slo/binding/post")

    def _url_slo_redirect(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return self.saml_url(pk, "slo/binding/redirect")

    # -- applications ---------------------------------------------------------------------------
    def _launch_url(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """An application's `meta_launch_url` if set (420), else its provider's: a SAML
        provider's IdP-initiated URL (390), a proxy provider's external host, an OAuth2
        provider's first redirect URI's origin (the lab); else null (422)."""
        if kind.name != APPLICATION:
            return None  # a RAC endpoint without application (apps 344)
        if values.get("meta_launch_url"):
            return values["meta_launch_url"]
        provider = values.get("provider")
        provider_kind = self.store.kind_at(provider) if isinstance(provider, int | str) else None
        if provider_kind is None or not isinstance(provider, int | str):
            return None
        stored = self.store.values[provider_kind.name][provider]
        if "acs_url" in provider_kind.fields:
            return SAML_INIT.format(slug=values.get("slug"))
        if "external_host" in provider_kind.fields and "mode" in provider_kind.fields:
            return stored.get("external_host") or None
        if "client_type" in provider_kind.fields:
            return redirect_origin(stored.get("redirect_uris"))
        return None

    def _meta_icon(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """2023: read-only, set only by `set_icon_url` (apps 423-428)."""
        return self.store.held.get(pk, {}).get("meta_icon")

    def _meta_icon_url(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """2026: the icon's URL as for a flow background, null without an icon (423, 424)."""
        name = str(values.get("meta_icon") or "")
        return files.background_url(name, self.profile.flow_background) if name else None

    def _meta_icon_themed_urls(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        name = str(values.get("meta_icon") or "")
        return files.themed_urls(name, self.profile.flow_background) if name else None

    # -- outposts -------------------------------------------------------------------------------
    def _token_identifier(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        held = self.store.held.get(pk, {}).get("token_identifier")
        return held if held else f"ak-outpost-{pk}-api"  # apps 459

    def _refresh_interval_s(self, kind: Kind, pk: ObjectId, values: JsonObject) -> int:
        """The config's `refresh_interval` in seconds (apps 459: 300 for an empty config)."""
        config = values.get("config")
        interval = config.get("refresh_interval") if isinstance(config, dict) else None
        parts = TIMEDELTA_PART.findall(str(interval or ""))
        if not parts:
            return DEFAULT_REFRESH
        return int(sum(SECONDS.get(unit, 0) * float(amount) for unit, amount in parts))

    # -- certificate key pairs ------------------------------------------------------------------
    def certificate(self, pk: ObjectId, values: JsonObject) -> x509.Certificate | None:
        pem = values.get("certificate_data")
        return parsed_certificate(pem) if isinstance(pem, str) else None

    def from_pem(self, pk: ObjectId, values: JsonObject, key: str) -> Json:
        """A key pair's value read from its PEM, or what the seed showed for one without it (the
        self-signed certificate of a fresh install, apps 16)."""
        cert = self.certificate(pk, values)
        if cert is None:
            return self.store.held.get(pk, {}).get(key)
        return certificate_value(cert, key)

    def _fingerprint_sha256(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        return self.from_pem(pk, values, "fingerprint_sha256")

    def _fingerprint_sha1(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        return self.from_pem(pk, values, "fingerprint_sha1")

    def _cert_expiry(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        return self.from_pem(pk, values, "cert_expiry")

    def _cert_subject(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        return self.from_pem(pk, values, "cert_subject")

    def _private_key_available(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        if "certificate_data" not in values:
            return self.store.held.get(pk, {}).get("private_key_available")
        return bool(values.get("key_data"))

    def _key_type(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """2026: the certificate's key algorithm, with or without the private key (apps 34)."""
        cert = self.certificate(pk, values)
        if cert is None:
            return self.store.held.get(pk, {}).get("key_type")
        return "ec" if isinstance(cert.public_key(), ec.EllipticCurvePublicKey) else "rsa"

    def _private_key_type(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        """2023: the private key's algorithm, null without one (apps 34)."""
        if "certificate_data" not in values:
            return self.store.held.get(pk, {}).get("private_key_type")
        return self._key_type(kind, pk, values) if values.get("key_data") else None

    def _certificate_download_url(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return f"{API_PREFIX}{kind.path}{pk}/view_certificate/?download"

    def _private_key_download_url(self, kind: Kind, pk: ObjectId, values: JsonObject) -> str:
        return f"{API_PREFIX}{kind.path}{pk}/view_private_key/?download"

    def _managed(self, kind: Kind, pk: ObjectId, values: JsonObject) -> Json:
        return self.store.held.get(pk, {}).get("managed")


@lru_cache(maxsize=1024)
def parsed_certificate(pem: str) -> x509.Certificate | None:
    """A PEM parsed once: a rendered key pair reads five values from it (fingerprints, expiry,
    subject, key type)."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None


def redirect_origin(redirect_uris: Json) -> str | None:
    """An OAuth2 provider's launch URL: its first redirect URI without the path (lab, 2026:
    `https://as.example.test/cb` gives `https://as.example.test`); 2023 keeps them as lines."""
    first = redirect_uris[0].get("url") if isinstance(redirect_uris, list) and redirect_uris and \
        isinstance(redirect_uris[0], dict) else str(redirect_uris or "").split("\n")[0]
    return urlunparse(urlparse(str(first))._replace(path="")) if first else None


def certificate_value(cert: x509.Certificate, key: str) -> Json:
    if key == "fingerprint_sha256":
        return colons(cert.fingerprint(hashes.SHA256()).hex())
    if key == "fingerprint_sha1":
        return colons(cert.fingerprint(hashes.SHA1()).hex())
    if key == "cert_expiry":
        return format_datetime(cert.not_valid_after_utc.astimezone(UTC))
    return cert.subject.rfc4514_string()


def colons(hexdigest: str) -> str:
    return ":".join(hexdigest[index:index + 2] for index in range(0, len(hexdigest), 2))
