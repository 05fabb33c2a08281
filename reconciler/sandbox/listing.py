"""List endpoints: the filters, ordering and page envelope of authentik's lists (FINDINGS
"Pagination" and "Finding a stage by name": 03-05, 95-103)."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PAGE_SIZE = 100
EXACT_FILTERS = ("name", "slug")
SEARCHED = ("name", "slug")
LAST_PAGE = "last"


class InvalidPage(Exception):
    """A page number that is not a number or lies past the last page (05)."""


def select(objects: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """`?name=` and `?slug=` match exactly, `?search=` is a case-insensitive substring of the
    name (or slug); any other parameter is ignored (103)."""
    selected = objects
    for key in EXACT_FILTERS:
        if key in query:
            selected = [obj for obj in selected if obj.get(key) == query[key]]
    if query.get("search"):
        needle = query["search"].casefold()
        selected = [obj for obj in selected
                    if any(needle in str(obj.get(key) or "").casefold() for key in SEARCHED)]
    return selected


def order(objects: list[dict[str, Any]], default: Sequence[str], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """Sort by `?ordering=a,-b` where it names known fields, else by the list's default keys."""
    requested = [key.strip() for key in query.get("ordering", "").split(",") if key.strip()]
    known = set(objects[0]) if objects else set()
    keys = [key for key in requested if key.lstrip("-") in known] or list(default)
    ordered = list(objects)
    for key in reversed(keys):  # stable sorts, least significant key first
        ordered.sort(key=by_field(key.lstrip("-")), reverse=key.startswith("-"))
    return ordered


def by_field(name: str) -> Callable[[dict[str, Any]], tuple[bool, float, str]]:
    return lambda obj: sort_value(obj.get(name))


def sort_value(value: Any) -> tuple[bool, float, str]:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return value is None, number, "" if value is None else str(value)


def paginate(objects: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """The envelope with integer page numbers, 0 meaning none (03, 04, 96)."""
    size = positive_int(query.get("page_size"), PAGE_SIZE)
    count = len(objects)
    pages = max(1, math.ceil(count / size))
    raw = query.get("page") or "1"
    try:
        number = pages if raw == LAST_PAGE else int(raw)
    except ValueError:
        raise InvalidPage(raw) from None
    if not 1 <= number <= pages:
        raise InvalidPage(raw)
    start = (number - 1) * size
    results = objects[start:start + size]
    return {
        "pagination": {
            "next": number + 1 if number < pages else 0,
            "previous": number - 1 if number > 1 else 0,
            "count": count,
            "current": number,
            "total_pages": pages,
            "start_index": start + 1 if results else 0,
            "end_index": start + len(results),
        },
        "results": results,
    }


def positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default
