"""List endpoints: the filters, search, ordering and page envelope of authentik's lists (FINDINGS
"Pagination" and "Finding a stage by name": 03-05, 95-103; flows 56-62, 88-92, 215-220, 264-270).
Which parameters a list takes is profile data (`ListSpec`); this module knows what each kind of
filter does."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from reconciler.values import Json, JsonObject

from .profile import ListSpec

LAST_PAGE = "last"
INVALID_CHOICE = "Select a valid choice. That choice is not one of the available choices."  # flows 264, 285
TRUE_VALUES = {"true", "1", "yes", "on"}
SEARCH_TERMS = re.compile(r"[\s,]+")

Resolver = Callable[[str, str, str], Json]
"""(filter kind, parameter, value) -> the id the value names, or None when it names nothing."""
Lookup = Callable[[str, str], Json]
"""`Resolver` for one kind of filter: (parameter, value) -> id or None."""
SortKey = Callable[[JsonObject, str], Json]


class InvalidPage(Exception):
    """A page number that is not a number or lies past the last page (05)."""


class InvalidFilter(Exception):
    """A choice filter given a value no object has: django-filter's 400 (flows 264)."""

    def __init__(self, param: str, message: str = INVALID_CHOICE) -> None:
        super().__init__(param)
        self.errors = {param: [message]}


def select(objects: list[JsonObject], query: Mapping[str, str], spec: ListSpec,
           resolve: Resolver) -> list[JsonObject]:
    """Apply the list's filters that the query names, then `?search=`; other parameters are
    ignored (103)."""
    selected = objects
    for param, how in spec.filters.items():
        if param in query:
            selected = FILTERS.get(how, by_reference)(selected, param, query[param], partial(resolve, how))
    return search(selected, query.get("search", ""), spec.search)


def search(objects: list[JsonObject], text: str, fields: Sequence[str]) -> list[JsonObject]:
    """DRF's SearchFilter: every term in some search field."""
    for term in (term.casefold() for term in SEARCH_TERMS.split(text) if term):
        objects = [obj for obj in objects if any(term in as_text(found).casefold()
                                                 for path in fields for found in dug(obj, path))]
    return objects


def dug(obj: Mapping[str, Json], path: str) -> list[Json]:
    """`stage_obj.name`, `reviewers_obj.username`: the values inside nested objects, through lists
    (a search across a to-many relation, `reviewers__username`), and `content_type:model` the
    part of an `app_label.model` value after the dot (`content_type__model`)."""
    path, _, part = path.partition(":")
    values: list[Json] = [obj]
    for step in path.split("."):
        values = [item for value in values for item in (value if isinstance(value, list) else [value])]
        values = [value.get(step) if isinstance(value, Mapping) else None for value in values]
    return [str(value).rpartition(".")[2] for value in values] if part == "model" else values


def by_reference(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """A reference or binding_model filter: the value must name an existing object."""
    ident = lookup(param, wanted)
    if ident is None:
        raise InvalidFilter(param)
    return [obj for obj in objects if obj.get(param) == ident]


def is_null(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    field, yes = param.removesuffix("__isnull"), wanted.lower() in TRUE_VALUES
    return [obj for obj in objects if (obj.get(field) is None) == yes]


def unbound(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    yes = wanted.lower() in TRUE_VALUES
    return [obj for obj in objects if bool(lookup(param, obj["pk"])) == yes]


def iexact(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    field = param.removesuffix("__iexact")
    return [obj for obj in objects if as_text(obj.get(field)).casefold() == wanted.casefold()]


def has_key(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """Key pairs with a private key (apps 62)."""
    return [obj for obj in objects if bool(obj.get("private_key_available")) == (wanted.lower() in TRUE_VALUES)]


def unassigned(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """Providers no application uses as its provider (apps 239, 373)."""
    return [obj for obj in objects if (obj.get("assigned_application_slug") is None) == (wanted.lower() in TRUE_VALUES)]


def contains(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """Outposts whose providers hold this pk (apps 486)."""
    return [obj for obj in objects if wanted in [as_text(item) for item in obj.get("providers") or []]]


def backchannel(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    yes = wanted.lower() in TRUE_VALUES
    return [obj for obj in objects if bool(lookup(param, str(obj.get("meta_model_name")))) == yes] if yes else objects


BAD_JSON = "filter: failed to parse JSON"  # directory 62: a bare list body


class InvalidJsonFilter(Exception):
    """`?attributes=` that is not JSON: 400 with a bare list (directory 62)."""


def startswith(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """`path_startswith` (directory 112)."""
    field = param.removesuffix("_startswith")
    return [obj for obj in objects if as_text(obj.get(field)).startswith(wanted)]


def json_subset(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """`?attributes={json}`: objects whose JSON field holds every given key with that value
    (directory 61, 115)."""
    try:
        expected = json.loads(wanted)
    except ValueError:
        raise InvalidJsonFilter(param) from None
    if not isinstance(expected, dict):
        raise InvalidJsonFilter(param)
    return [obj for obj in objects if isinstance(obj.get(param), dict) and
            all(obj[param].get(key) == value for key, value in expected.items())]


def holding(field: str, *, refused: bool = False) -> Filter:
    """Objects whose list `field` holds what the value names (`lookup`: the pks it names):
    `members_by_username` and `members_by_pk`, groups by their members' `users` (directory 135,
    136), `groups_by_name`, users by their `groups` (122). Read from the pks, so a list shown
    without its expansion (`include_users=false`) filters the same. A group name no group has
    is refused (113)."""
    def keep(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
        named = lookup(param, wanted)
        if refused and not named:
            raise InvalidFilter(param, f"Select a valid choice. {wanted} is not one of the available choices.")
        pks = {as_text(pk) for pk in named} if isinstance(named, list) else set()
        return [obj for obj in objects if pks & {as_text(item) for item in obj.get(field) or []}]
    return keep


def related(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """Objects another one holds: a user's or a group's roles (2026 `?users=`, `?groups=`: directory
    182, 183); a value that names nothing is refused."""
    held = lookup(param, wanted)
    if not isinstance(held, list):
        raise InvalidFilter(param)
    return [obj for obj in objects if obj.get("pk") in held]


def held_is_null(objects: list[JsonObject], param: str, wanted: str, lookup: Lookup) -> list[JsonObject]:
    """`?managed__isnull=` over a value the server keeps but does not show (a role's `managed`,
    directory 186)."""
    yes = wanted.lower() in TRUE_VALUES
    return [obj for obj in objects if (lookup(param, as_text(obj.get("pk"))) is None) == yes]


Filter = Callable[[list[JsonObject], str, str, Lookup], list[JsonObject]]
"""(objects, parameter, value, lookup) -> the objects the filter keeps."""

FILTERS: dict[str, Filter] = {
    "exact": lambda objects, param, wanted, lookup: [obj for obj in objects if as_text(obj.get(param)) == wanted],
    "pk": lambda objects, param, wanted, lookup: [obj for obj in objects if as_text(obj.get("pk")) == wanted],
    "isnull": is_null,
    "unbound": unbound,
    "iexact": iexact,
    "has_key": has_key,
    "unassigned": unassigned,
    "contains": contains,
    "backchannel": backchannel,
    "startswith": startswith,
    "json": json_subset,
    "member_username": holding("users"),
    "member_pk": holding("users"),
    "group_name": holding("groups", refused=True),
    "related": related,
    "held_isnull": held_is_null,
    "content_type": lambda objects, param, wanted, lookup: [
        obj for obj in objects if as_text(obj.get(param.removeprefix("content_type__"))) == wanted],
    "model": lambda objects, param, wanted, lookup: [  # `content_type__model` (a lifecycle rule's)
        obj for obj in objects if dug(obj, param.replace("__", ":"))[0] == wanted],
}
"""What each kind of filter keeps, by the profile's name for it (a dispatch table); any other
kind is a reference (`by_reference`)."""


def as_text(value: Json) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def order(objects: list[JsonObject], default: Sequence[str], query: Mapping[str, str],
          sort_key: SortKey | None = None) -> list[JsonObject]:
    """Sort by `?ordering=a,-b` where it names known fields, else by the list's default keys;
    stable, so ties keep insertion order (flows 88)."""
    requested = [key.strip() for key in query.get("ordering", "").split(",") if key.strip()]
    known = set(objects[0]) if objects else set()
    keys = [key for key in requested if key.lstrip("-") in known] or list(default)
    ordered = list(objects)
    for key in reversed(keys):  # stable sorts, least significant key first
        ordered.sort(key=sorting(key.lstrip("-"), sort_key), reverse=key.startswith("-"))
    return ordered


def sorting(name: str, sort_key: SortKey | None) -> Callable[[JsonObject], tuple[bool, float, str]]:
    def value(obj: JsonObject) -> tuple[bool, float, str]:
        return sort_value(sort_key(obj, name) if sort_key and name not in obj else obj.get(name))

    return value


def sort_value(value: Json) -> tuple[bool, float, str]:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return value is None, number, "" if value is None else str(value)


def paginate(objects: list[JsonObject], query: Mapping[str, str], default_size: int,
             max_size: int | None) -> JsonObject:
    """The envelope with integer page numbers, 0 meaning none (03, 04, 96); `page_size` falls
    back to the default when it is not a positive number and is capped at the maximum (2026.2.2
    112, 113)."""
    size = positive_int(query.get("page_size"), default_size)
    if max_size is not None:
        size = min(size, max_size)
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
