"""The response shapes authentik uses outside a serializer: `detail` errors, its server-error
quirk and Django's HTML 404 page."""
from __future__ import annotations

from starlette.responses import JSONResponse, Response

READ_ONLY_ALLOW = "GET, HEAD, OPTIONS"
PLAIN_NOT_FOUND = "Not found."
"""DRF's Http404 without a message: a lookup that fails on the ident itself, both versions (directory
34), add_user with an unknown user (130)."""

NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Not found</title></head>
<body><h1>Not found</h1><p>The authentik sandbox has no page at this address.</p></body></html>
"""

SERVER_ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Server error</title></head>
<body><h1>Server error</h1><p>authentik could not answer this request.</p></body></html>
"""
"""What a read that fails in authentik answers: a 500 HTML page (2026 directory 25)."""


def detail(message: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": message}, status)


def server_error() -> Response:
    """An unhandled exception in a write: authentik's handler500 only allows GET, so the client
    sees 405 with an empty text/html body and `Allow: GET, HEAD, OPTIONS` (2023.10.7 09, 43, 44,
    46, 50; 2026.2.2 09), never a 500."""
    return Response(b"", 405, headers={"Allow": READ_ONLY_ALLOW}, media_type="text/html")


def not_found_page() -> Response:
    """Django's 404 for an address no route matches, e.g. without the trailing slash (94)."""
    return Response(NOT_FOUND_PAGE, 404, media_type="text/html")


def bad_request_page() -> Response:
    """Django's HttpResponseBadRequest: 400 with an empty HTML body (source reading:
    authentik/lib/utils/file.py set_file_url without a `url`)."""
    return Response(b"", 400, media_type="text/html")
