"""The directory recordings (groups, users, roles, brands or tenants, sources, notification rules and
transports, blueprint instances, settings, lifecycle rules) in the fidelity replay of
tests/test_sandbox_fidelity.py: the install they were made on, and the recordings the sandbox does
not reproduce yet, each with its reason.

The directory recordings were made on another install than the top-level fresh-install.json: the
seed carries the directory fresh install's groups, built-in source and brand flows onto the
seed's own pks (scripts/generate_model.py `directory_lists`), and the replay carries them back
(`directory_ids`), so the fresh reads come out as recorded."""
from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = "directory"
ID_KEYS = ("pk", "group_pk", "user_pk", "brand_uuid", "tenant_uuid", "id", "uuid", "policybindingmodel_ptr_id")
"""The ids a created object's answer carries, in the order the sandbox draws them: its pk (a brand's
`brand_uuid`, a lifecycle rule's `id`, a service account's group, then its user), then a second UUID."""
TIMESTAMPS = {"date_joined", "password_change_date", "last_updated"}
"""A 2026 user's clock values (directory 67): compared by form, not value."""
LEARNED = ("uid", "user_uid")
"""Server-made values besides ids that the replay maps: a user's uid hashes the install's secret id."""
FRESH_INSTALL = "fresh-install.json"
BLUEPRINTS = "/api/v3/managed/blueprints/"
BLUEPRINT_REASON = "blueprint instances: consequences branch"

# Why a recording of each group (the word after the number in its name) is not reproduced yet.
REASONS = {
    "fresh": "the directory's lists are read-only seed lists in the sandbox (no POST in Allow, no filters) "
             "until the dir-model branch models their kinds",
    "group": "groups are a read-only seed list in the sandbox until the dir-model branch models the kind",
    "gu": "group membership needs groups and users as kinds (dir-model branch)",
    "user": "users are a read-only seed list in the sandbox until the dir-model branch models the kind",
    "role": "RBAC roles and their permission assignments are not emulated yet",
    "perm": "the permission catalogue's filters are not emulated yet",
    "brand": "brands are a read-only seed list in the sandbox until the dir-model branch models the kind",
    "tenant": "tenants are a read-only seed list in the sandbox until the dir-model branch models the kind",
    "settings": "the settings singleton (/admin/settings/) is not emulated yet",
    "source": "source kinds are not emulated yet (the dir-model branch models them)",
    "transport": "notification transports are not emulated yet (the dir-model branch models them)",
    "rule": "notification rules are not emulated yet (the dir-model branch models them)",
    "lifecycle": "lifecycle rules are not emulated yet",
    "verify": "the closing reads list kinds the sandbox does not emulate yet",
    "blueprint": BLUEPRINT_REASON,
}

# The recordings not reproduced, by number, per version and group.
NOT_YET = {
    "2023.10.7": {
        "blueprint": "28-29 437-439 441-451 453-458 460",
        "fresh": "9 12 14 24-25",
        "group": "49-50 56 58-59 63-64",
        "gu": "120 123 135-137 143 147",
        "perm": "199-200 202",
        "role": "173-175 181 187 196",
        "rule": "415-417 426-427 430 432",
        "settings": "238",
        "source": "248-249 252-254 256 258 263-264 268-273 276 278-284 286 288 290-295 297-301 303 305 309-315 317-318 "
                  "320-321 323 326-328 331-332 334-336 338 366-369 372 378 381",
        "tenant": "213 215-221 226-227 230-231",
        "transport": "387 390 396 400 406-407 434",
        "user": "98 100-101 103-104 109-112 116-117",
        "verify": "480-485 487-490",
    },
    "2026.2.2": {
        "blueprint": "28-29 437-439 441-448 450-451 453-458 460",
        "brand": "213 215 217-221 226-227 230-231",
        "fresh": "6 9-10 12 14 24-26",
        "group": "34 50 58-59 63-64",
        "gu": "122-123 135-137 147",
        "lifecycle": "463-468 470-471 473 475-479",
        "perm": "199-200 202",
        "role": "162 164 168 173-175 181-183 186-187 193",
        "rule": "415-417 426-427 430 433",
        "settings": "237-240 242-243 245-246",
        "source": "248-249 252-254 256 258 263-264 268-273 276 278-284 286 288 290-295 297-301 303 305 309-315 317-318 "
                  "320-321 323 326-328 331-332 334-336 338 342-347 352-356 361-363 365-369 371-373 378",
        "transport": "387 390 396 398 400 406-407 434",
        "user": "98 100-101 109-112 116-117",
        "verify": "480-485 487-490 492",
    },
}


def learned_ids(recorded: Mapping[str, Any], actual: Mapping[str, Any], seeded: set[str]) -> dict[str, str]:
    """Recorded -> sandbox values of what a successful write created (ids and uids)."""
    keys = [key for key in ID_KEYS if key in recorded]
    if not keys or str(recorded[keys[0]]) in seeded:
        return {}
    return {recorded[key]: actual[key] for key in (*keys, *LEARNED)
            if isinstance(recorded.get(key), str) and isinstance(actual.get(key), str)}


def numbers(ranges: str) -> set[int]:
    """`"2-6 8"` -> {2, 3, 4, 5, 6, 8}."""
    found: set[int] = set()
    for part in ranges.split():
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def not_reproduced(recordings: Path, versions: tuple[str, ...]) -> dict[str, str]:
    """Case id -> reason for every directory recording the sandbox does not reproduce yet; those
    under /managed/blueprints/ carry the blueprint reason whatever their group."""
    table: dict[str, str] = {}
    for version in versions:
        wanted = {number: group for group, ranges in NOT_YET[version].items() for number in numbers(ranges)}
        for path in (recordings / version / FOLDER).glob("[0-9]*.json"):
            group = wanted.get(int(path.name.split("-", 1)[0]))
            if group is None:
                continue
            url = json.loads(path.read_text())["request"]["url"]
            reason = BLUEPRINT_REASON if url.startswith(BLUEPRINTS) else REASONS[group]
            table[f"{version}/{FOLDER}/{path.stem}"] = reason
    return table


@cache
def fresh_install(recordings: Path, version: str) -> Mapping[str, Any]:
    loaded: Mapping[str, Any] = json.loads((recordings / version / FOLDER / FRESH_INSTALL).read_text())
    return loaded


def directory_ids(seed: Mapping[str, Any], recordings: Path, version: str) -> dict[str, str]:
    """Seed pk -> the directory install's pk of the same object: groups by name, sources by slug,
    the default brand's (tenant's) flows by the brand's field."""
    from test_sandbox_fidelity import by_key  # the replay's own matching (imported when it runs)

    fresh = fresh_install(recordings, version)
    lists = seed["lists"]
    ids = by_key(lists.get("/core/groups/", []), fresh.get("/core/groups/", []), "name")
    ids.update(by_key(lists.get("/sources/all/", []), fresh.get("/sources/all/", []), "slug"))
    for path in ("/core/brands/", "/core/tenants/"):
        for seeded, recorded in zip(lists.get(path, []), fresh.get(path, []), strict=True):
            ids.update({seeded[key]: recorded[key] for key in recorded if key.startswith("flow_") and recorded[key]})
    return ids

