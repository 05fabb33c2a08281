"""A source's read-only fields as the server computes them (directory recordings of both versions):
an OAuth source's provider `type` and `callback_url`, the icon of its kind, a SCIM source's
`root_url`. The per-type data is the profile's recorded `/sources/oauth/source_types/` and
`/sources/all/types/` answers, not a table of ours."""
from __future__ import annotations

from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import JsonObject, ObjectId

from .applications import ABSENT, BASE_URL, NOT_COMPUTED
from .profile import Profile

OAUTH_TYPES = "/sources/oauth/source_types/"
OAUTH_MODEL = "oauthsource"
UNSET_AFTER_CREATE = ("icon_themed_urls", "connectivity")
"""Null until the server's tasks or a themed icon fill them (directory 248, 309, 342)."""


class Sources:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def value(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """The value of a source's read-only `key`, `ABSENT`, or `NOT_COMPUTED`."""
        if key in UNSET_AFTER_CREATE:
            return None
        if key == "icon":  # 2023: read-only and never answered, even after an icon is set (248, 268, 270)
            return ABSENT
        slug = values.get("slug")
        if key == "callback_url":  # absolute, by slug (248)
            return f"{BASE_URL.get()}/source/oauth/callback/{slug}/"
        if key == "root_url":  # the SCIM base URL by slug (352)
            return f"{BASE_URL.get()}/source/scim/{slug}/v2"
        if key == "type":
            return self.oauth_type(values.get("provider_type"))
        if key == "icon_url":
            return values.get("icon") or self.kind_icon(kind, values)
        return NOT_COMPUTED

    def oauth_type(self, provider_type: Any) -> Any:
        """The provider type's fixed URLs, as `/sources/oauth/source_types/` lists them (248: 2026
        names a type by `name`, 2023 by `slug`)."""
        listed = self.profile.fixed.get(OAUTH_TYPES)
        types = listed if isinstance(listed, list) else []
        return next((entry for entry in types if isinstance(entry, dict) and
                     provider_type in (entry.get("slug"), entry.get("name"))), None)

    def kind_icon(self, kind: Kind, values: JsonObject) -> Any:
        """The static icon `/sources/all/types/` lists for the source's kind, an OAuth source's by its
        provider type (248: discord, 309: ldap, 334: plex)."""
        model = kind.model.lower()
        if model == OAUTH_MODEL:
            model = f"{values.get('provider_type')}{OAUTH_MODEL}"
        return (self.profile.stage_type(model) or {}).get("icon_url")


def user_settings_entry(spec: JsonObject, values: JsonObject, icon_url: Any) -> JsonObject:
    """One source's entry of `/sources/all/user_settings/` as the profile's `user_settings` says
    for its kind (directory 372): its slug, component, name, login URL and icon (the one set, else
    the kind's: the profile's `icon` of the source's values where 2023 names it so)."""
    slug = values.get("slug")
    icon = values.get("icon") or (str(spec["icon"]).format_map(values) if spec.get("icon") else icon_url)
    return {"object_uid": slug, "component": spec["component"], "title": values.get("name"),
            "configure_url": str(spec["configure_url"]).format(slug=slug), "icon_url": icon}


def saml_metadata(spec: JsonObject, values: JsonObject, base: str) -> str:
    """A SAML source's SP metadata as the profile's template gives it (directory 303): entityID
    the issuer, the NameID formats (2023 every one, 2026 the source's policy), the ACS URL."""
    formats = spec.get("name_id_formats") or [values.get("name_id_policy")]
    listed = "".join(f"<md:NameIDFormat>{name}</md:NameIDFormat>" for name in formats)
    return str(spec["template"]).format(issuer=values.get("issuer"), name_id_formats=listed, base=base,
                                        slug=values.get("slug"))
