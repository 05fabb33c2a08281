"""Flow backgrounds: the file names or URLs authentik 2026 accepts for `background` and the URLs it
answers with (flows recordings 37-44), and the 2023 read-only background URL that only the
`set_background_url` action changes (2023.10.7 flows 37-49). The rules come from the recordings
and, for cases no recording shows, from reading authentik/admin/files/validation.py and the file
backends (passthrough, static, file)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from pathlib import PurePosixPath

from reconciler.values import Json

THEME = "%(theme)s"
PASSTHROUGH_PREFIXES = ("http:", "https://", "fa://")  # external URLs and icons, kept as they are
STATIC_PREFIXES = ("/static", "web/dist/assets")  # built-in assets
ALLOWED = re.compile(r"^(?:[a-zA-Z0-9._/-]|%\(theme\)s)+$")
MAX_NAME = 1024
MAX_PART = 255
TOKEN_KEY = b"authentik-sandbox-media"
"""Signs the sandbox's media tokens; like the server's own key it is nothing a client can check."""


def file_name_error(name: str, messages: Mapping[str, str]) -> str | None:
    """Why a 2026 `background` value is refused, or None. An empty value clears it."""
    if name == "" or name.startswith(PASSTHROUGH_PREFIXES) or name.startswith(STATIC_PREFIXES):
        return None
    if not ALLOWED.match(name):
        return messages["chars"]
    if "//" in name:
        return messages["slashes"]
    path = PurePosixPath(name)
    if path.is_absolute():
        return messages["absolute"]
    if ".." in path.parts:
        return messages["parent"]
    if str(path).startswith("."):
        return messages["dot"]
    if len(str(path)) > MAX_NAME:
        return messages["too_long"]
    if any(len(part) > MAX_PART for part in path.parts):
        return messages["part_too_long"]
    return None


def background_url(name: str, config: Mapping[str, Json]) -> str:
    """`background_url` (2026): the default image when unset, URLs and static paths as they are
    (37, 39), anything else a signed media URL (40)."""
    if not name:
        return str(config["default_url"])
    if name.startswith(PASSTHROUGH_PREFIXES) or name.startswith("/static"):
        return name
    if name.startswith("web/dist/assets"):
        return "/static/dist/" + name.removeprefix("web/dist/")
    return str(config["media_url"]).format(name=name, token=media_token(str(config["token_path"]).format(name=name),
                                                                         config))


def themed_urls(name: str, config: Mapping[str, Json]) -> dict[str, str] | None:
    """`background_themed_urls` (2026): one URL per theme when the name holds `%(theme)s` (41)."""
    if THEME not in name:
        return None
    return {theme: background_url(name.replace(THEME, theme), config) for theme in config["themes"]}


def legacy_background(name: str, config: Mapping[str, Json]) -> str:
    """The 2023 read-only `background`: the default image, an http(s) URL or static path as it is
    (flows 03, 47, 49), or a media file under /media/ (source reading: Flow.background_url)."""
    if not name:
        return str(config["default_url"])
    if name.startswith(("http", "/static")):
        return name
    return "/media/" + name


def media_token(path: str, config: Mapping[str, Json]) -> str:
    """An HS256 JWT like the file backend's: the path, an expiry and a not-before with leeway."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"path": path, "exp": now + int(config["token_lifetime_seconds"]),
               "nbf": now - int(config["token_leeway_seconds"])}
    signing = b".".join(segment(part) for part in (header, payload))
    signature = hmac.new(TOKEN_KEY, signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def segment(part: Mapping[str, Json]) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(part, separators=(",", ":")).encode()).rstrip(b"=")
