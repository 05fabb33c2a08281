"""Groups and users as the server computes them (directory recordings of both versions): the values
it derives (a group's `num_pk`, a user's avatar, `uid` and superuser status), group membership kept
once and shown from both sides, and the version's parent field (2026 `parents`, 2023 `parent`)."""
from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import Json, JsonObject, ObjectId

from .profile import Profile
from .quirks import format_datetime
from .store import Store

GROUP = "group"
USER = "user"
MEMBERS = "users"
"""A group's members: held on the users' side (`groups`), one relation shown both ways (71, 120-124)."""
MEMBERSHIP = "groups"
PARENTS = "parents"
MEMBER_LOOKUPS = ("group_name", "member_username", "member_pk")
"""The list filters whose value names groups or users (`Directory.named`)."""
LINKS = "parent_links"
"""Held by a 2026 group: parent pk -> the store generation its link was made at (`Directory.linked`)."""
MEMBER_LINKS = "member_links"
"""Held by a user: group pk -> the number of its membership row (`Directory.member_linked`)."""
UNHANDLED = object()
"""`read_only` found nothing to say about the key: the generic renderer goes on."""
INSTALL_ID = "5a1db0c5-0000-4000-8000-000000000000"
"""The install id a user's `uid` hashes (authentik: sha256 of `<pk>-<install id>`); a real server's
is its own secret, so uids of the sandbox differ from recorded ones (the replay maps them)."""
CLOCK_KEYS = ("date_joined", "password_change_date", "last_updated")
"""A 2026 user's timestamps: set when it is created (67), `password_change_date` by set_password (93)."""
HELD_KEYS = ("uuid", "uid", *CLOCK_KEYS)
AVATAR_FONTS = "'RedHatText','Overpass',overpass,helvetica,arial,sans-serif"
AVATAR_SIZE = 64
AVATAR_DATA = "data:image/svg+xml;base64,"


def num_pk(pk: str) -> int:
    """A group's `num_pk`: the first five digits of its UUID as an integer (31: 98140f36-... is 20214)."""
    return int(str(uuid.UUID(pk).int)[:5])


def avatar_colour(name: str) -> str:
    """The background of an initials avatar: the name's md5 folded into a mid-range colour (67, 70)."""
    value = int(hashlib.md5(name.lower().encode(), usedforsecurity=False).hexdigest(), 16) % 0xFFFFFF
    red, green, blue = (min(max((value >> shift) & 0xFF, 55), 200) for shift in (16, 8, 0))
    return f"#{red:02x}{green:02x}{blue:02x}"


def initials(name: str) -> str:
    """First letters of the first and the last word; one word gives its first two letters (67: RA)."""
    parts = name.split()
    if len(parts) > 2:
        parts = [parts[0], parts[-1]]
    if len(parts) == 1:
        return parts[0][:2].upper()
    return ("".join(part[0] for part in parts[:-1]) + parts[-1])[:2].upper()


def avatar(name: str) -> str:
    """The initials avatar of a user as the recorded servers render it (67, 70, 91)."""
    colour = avatar_colour(name)
    half = AVATAR_SIZE // 2
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{AVATAR_SIZE}px" height="{AVATAR_SIZE}px" '
           f'viewBox="0 0 {AVATAR_SIZE} {AVATAR_SIZE}" version="1.1"><rect fill="{colour}" cx="{half}" '
           f'cy="{half}" width="{AVATAR_SIZE}" height="{AVATAR_SIZE}" r="{half}"/><text x="50%" y="50%" '
           f'style="color: #fff; line-height: 1; font-family: {AVATAR_FONTS}; " fill="#fff" '
           'alignment-baseline="middle" dominant-baseline="middle" text-anchor="middle" font-size="28" '
           f'font-weight="400" dy=".1em">{initials(name)}</text></svg>')
    return AVATAR_DATA + base64.b64encode(svg.encode()).decode()


class Directory:
    def __init__(self, profile: Profile, store: Store) -> None:
        self.profile = profile
        self.store = store
        self.link_count = 0
        """The last membership row made (`member_linked`)."""

    # -- writes ---------------------------------------------------------------------------------
    def created(self, kind: Kind, pk: ObjectId, cleaned: Mapping[str, Json]) -> None:
        """What the server sets on a new object: a user's second UUID, uid and timestamps; a
        group's members written from its side."""
        if kind.name == USER:
            now = format_datetime(datetime.now(UTC))
            held = {"uuid": self.store.new_id(), "uid": uid(pk)}
            held.update({key: now for key in CLOCK_KEYS if key in kind.response_order})
            for key, value in held.items():
                self.store.hold(pk, key, value)
        self.written(kind, pk, cleaned, full=kind.name == GROUP)  # a new group has only the members it names

    def written(self, kind: Kind, pk: ObjectId, cleaned: Mapping[str, Json], *, full: bool) -> None:
        """A write's effect beyond its own fields: a PUT empties the membership lists it leaves
        out (`default=list`: 81, 82, 141); a group's `users` is stored as the users' `groups`."""
        if kind.name == USER:
            self.user_written(kind, pk, cleaned, full=full)
        if kind.name == GROUP and (MEMBERS in cleaned or full):
            self.set_members(str(pk), [int(member) for member in cleaned.get(MEMBERS) or []])
        if kind.name == GROUP and PARENTS in cleaned:
            self.linked(pk, [str(parent) for parent in cleaned[PARENTS] or []])

    def user_written(self, kind: Kind, pk: ObjectId, cleaned: Mapping[str, Json], *, full: bool) -> None:
        """A user PUT empties the lists it leaves out; new memberships get their rows, in the
        order Django makes them; 2026 stamps `last_updated`."""
        if full:
            for name in (MEMBERSHIP, "roles"):
                if name in kind.fields and name not in cleaned:
                    self.store.update(kind, pk, {name: []})
        if MEMBERSHIP in cleaned or full:
            links = self.store.held.get(pk, {}).get(MEMBER_LINKS)
            known = {uuid.UUID(group) for group in links} if isinstance(links, dict) else set()
            wanted = {uuid.UUID(str(group)) for group in cleaned.get(MEMBERSHIP) or []}
            self.member_linked(pk, [str(group) for group in added_order(wanted, known)])
        if "last_updated" in kind.response_order:
            self.store.hold(pk, "last_updated", format_datetime(datetime.now(UTC)))

    def linked(self, group: ObjectId, parents: list[str]) -> None:
        """When each parent link was made: a group's `children` come in the order their links were
        (2026 50: the child linked at 36 before the group itself at 50)."""
        held = self.store.held[group]
        before = held.get(LINKS)
        links = before if isinstance(before, dict) else {}
        held[LINKS] = {parent: links.get(parent, self.store.generation) for parent in parents}

    def children(self, group: str) -> list[str]:
        linked = [(self.link_order(str(other), group), str(other)) for other in self.referring(group, GROUP, PARENTS)]
        return [other for _, other in sorted(linked, key=lambda item: item[0])]

    def link_order(self, child: str, parent: str) -> int:
        links = self.store.held.get(child, {}).get(LINKS)
        order = links.get(parent) if isinstance(links, dict) else None
        return order if isinstance(order, int) else 0

    def set_members(self, group: str, members: Iterable[int]) -> None:
        """A membership is a row of its own table: the users' rows are not written, so where
        they lie in their table (`Store.written`) stays; the new rows are made in the order
        Django makes them (`added_order`)."""
        wanted = set(members)
        before = set(self.members(group))
        user = self.store.model.kinds[USER]
        for pk, values in self.store.values[USER].items():
            held = list(values.get(MEMBERSHIP) or [])
            if (pk in wanted) != (group in held):
                written = self.store.written.get(pk)
                self.store.update(user, pk, {MEMBERSHIP: held + [group] if pk in wanted else
                                             [g for g in held if g != group]})
                if written is not None:
                    self.store.written[pk] = written
        for added in added_order(wanted, before):
            self.member_linked(int(added), [group])
        for gone in before - wanted:
            self.member_linked(gone, [])

    def add_member(self, group: str, user: int, member: bool) -> None:
        current = self.members(group)
        self.set_members(group, current + [user] if member else [pk for pk in current if pk != user])

    def password_set(self, pk: ObjectId) -> None:
        if "password_change_date" in self.store.model.kinds[USER].response_order:
            self.store.hold(pk, "password_change_date", format_datetime(datetime.now(UTC)))

    # -- reads ----------------------------------------------------------------------------------
    def members(self, group: str) -> list[int]:
        """A group's members as the database reads them: in the order their membership rows were
        made (2023 120: [32, 31], 2026 120: [52, 53], both for users [a, b]; 2026 135 after 123)."""
        found = [int(pk) for pk in self.referring(group, USER, MEMBERSHIP)]
        return sorted(found, key=lambda user: self.link_of(user, group))

    def referring(self, group: str, kind_name: str, field_name: str) -> list[ObjectId]:
        """The objects of a kind whose list field names the group, in insertion order: the store's
        `referrers`, indexed while a list renders (every group shows its members and children)."""
        return [pk for kind, pk, field in self.store.referrers(GROUP, group)
                if kind.name == kind_name and field.name == field_name]

    def member_linked(self, user: ObjectId, groups: list[str]) -> None:
        """Number the user's new membership rows; the rows of groups it is no member of go."""
        held = self.store.held.setdefault(user, {})
        before = held.get(MEMBER_LINKS)
        current = set(self.store.values[USER][user].get(MEMBERSHIP) or []) | set(groups)
        links = {group: row for group, row in (before.items() if isinstance(before, dict) else ())
                 if group in current}
        for group in groups:
            if group not in links:
                self.link_count += 1
                links[group] = self.link_count
        held[MEMBER_LINKS] = links

    def link_of(self, user: int, group: str) -> int:
        links = self.store.held.get(user, {}).get(MEMBER_LINKS)
        found = links.get(group) if isinstance(links, dict) else None
        return found if isinstance(found, int) else 0

    def read_only(self, kind: Kind, pk: ObjectId, values: JsonObject, key: str) -> Any:
        """A value the server computes, or UNHANDLED."""
        if kind.name == GROUP:
            return self.group_value(str(pk), values, key)
        if kind.name == USER:
            return self.user_value(pk, values, key)
        return UNHANDLED

    def group_value(self, pk: str, values: JsonObject, key: str) -> Any:
        if key == "num_pk":
            return num_pk(pk)
        if key == MEMBERS:
            return self.members(pk)
        if key == "users_obj":
            return [self.member_item(user) for user in self.members(pk)]
        if key == "parent_name":
            parent = self.store.values[GROUP].get(str(values.get("parent")))
            return parent.get("name") if parent else None
        if key == "children":
            return self.children(pk)
        if key in ("parents_obj", "children_obj", "inherited_roles_obj"):
            return None  # shown only when asked for (`include_parents`, ...: 37, 38)
        return UNHANDLED

    def user_value(self, pk: ObjectId, values: JsonObject, key: str) -> Any:
        if key == "is_superuser":
            return any(self.superuser(group, set()) for group in values.get(MEMBERSHIP) or [])
        if key == "groups_obj":
            return [self.group_item(str(group)) for group in self.user_groups(values)]
        if key == "avatar":
            return self.avatar(pk, values)
        if key == "last_login":
            return None
        if key in HELD_KEYS:
            return self.store.held.get(pk, {}).get(key)
        return UNHANDLED

    def user_groups(self, values: JsonObject) -> list[ObjectId]:
        """A user's groups in the order `groups` shows them: the profile's `heap_order` (123, 137)."""
        groups = list(values.get(MEMBERSHIP) or [])
        return self.store.written_order(groups) if f"{USER}.{MEMBERSHIP}" in self.profile.heap_ordered else groups

    def avatar(self, pk: ObjectId, values: JsonObject) -> str:
        """The initials avatar, unless the seed's install shows a fixed image (the 2023 flows
        install: `/static/dist/assets/images/user_default.png`, flows 236)."""
        seeded = self.store.held.get(pk, {}).get("avatar")
        if isinstance(seeded, str) and not seeded.startswith(AVATAR_DATA):
            return seeded
        return avatar(str(values.get("name") or self.blank_name(values)))

    def blank_name(self, values: JsonObject) -> str:
        """The name an avatar uses for a user with a blank name: 2026 its username, 2023 a fixed
        "a k" (91: initials RE and AK)."""
        fallback = self.profile.avatar_blank_name
        return str(values.get("username")) if fallback is None else fallback

    def superuser(self, group: str, seen: set[str]) -> bool:
        """A group grants superuser status itself or through a parent (70, 137)."""
        values = self.store.values[GROUP].get(group)
        if values is None or group in seen:
            return False
        seen.add(group)
        parents = values.get("parents") or ([values["parent"]] if values.get("parent") else [])
        return bool(values.get("is_superuser")) or any(self.superuser(str(p), seen) for p in parents)

    def named(self, how: str, value: str) -> list[Json]:
        """The pks a member filter's value names: the users of a username or pk, the groups of a
        name (several in 2023, where names repeat: 44)."""
        if how == "group_name":
            return [pk for pk, values in self.store.values[GROUP].items() if values.get("name") == value]
        if how == "member_username":
            return [pk for pk, values in self.store.values[USER].items() if values.get("username") == value]
        return [pk for pk in self.store.values[USER] if str(pk) == value]

    def roles_held(self, holder: str, ident: str, inherited: bool) -> list[Json] | None:
        """The roles a user (`users`) or a group (`groups`; with `inherited`, its ancestors' too)
        holds, or None when the ident names none (2026 182, 183)."""
        if holder == "users":
            values = self.store.values[USER].get(int(ident)) if ident.isdigit() else None
            return list(values.get("roles") or []) if values is not None else None
        if ident not in self.store.values[GROUP]:
            return None
        groups = self.ancestors(ident, set()) if inherited else [ident]
        return [role for group in groups for role in self.store.values[GROUP][group].get("roles") or []]

    def ancestors(self, group: str, seen: set[str]) -> list[str]:
        """A group and the groups above it, each once (a parent cycle ends: 50, 120)."""
        values = self.store.values[GROUP].get(group)
        if values is None or group in seen:
            return []
        seen.add(group)
        parents = values.get(PARENTS) or ([values["parent"]] if values.get("parent") else [])
        return [group, *(above for parent in parents for above in self.ancestors(str(parent), seen))]

    def member_item(self, user: int) -> JsonObject:
        """A member as `users_obj` lists it (120: pk, username, name, is_active, last_login, email,
        attributes, uid)."""
        values = self.store.values[USER][user]
        held = self.store.held.get(user, {})
        return {"pk": user, "username": values.get("username"), "name": values.get("name"),
                "is_active": values.get("is_active"), "last_login": None, "email": values.get("email"),
                "attributes": copy.deepcopy(values.get("attributes")), "uid": held.get("uid")}

    def group_item(self, group: str) -> JsonObject:
        """A group as `groups_obj` lists it (70; 2023 adds `parent`, and `parent_name` if set)."""
        values = self.store.values[GROUP].get(group, {})
        item: JsonObject = {"pk": group, "num_pk": num_pk(group), "name": values.get("name"),
                            "is_superuser": values.get("is_superuser")}
        if "parent" in self.store.model.kinds[GROUP].fields:
            item["parent"] = values.get("parent")
            if values.get("parent"):  # 2023 shows the parent's name only where there is one (123)
                item["parent_name"] = self.store.values[GROUP].get(str(values["parent"]), {}).get("name")
        item["attributes"] = copy.deepcopy(values.get("attributes"))
        return item

    def parent_item(self, group: str) -> JsonObject:
        """A group as `parents_obj` / `children_obj` list it (37, 38)."""
        values = self.store.values[GROUP].get(group, {})
        return {"pk": group, "name": values.get("name"), "is_superuser": values.get("is_superuser"),
                "attributes": copy.deepcopy(values.get("attributes")), "group_uuid": group}

    def with_query(self, kind: Kind, body: JsonObject, query: Mapping[str, str]) -> JsonObject:
        """The 2026 `include_*` switches of group and user reads (33, 37, 38, 116); 2023 ignores them."""
        if "children" not in self.store.model.kinds[GROUP].response_order:
            return body
        if kind.name == GROUP:
            if query.get("include_users") == "false":
                body["users_obj"] = None
            if query.get("include_parents") == "true":
                body["parents_obj"] = [self.parent_item(str(p)) for p in body.get("parents") or []]
            if query.get("include_children") == "true":
                body["children_obj"] = [self.parent_item(str(c)) for c in body.get("children") or []]
        if kind.name == USER:
            for name in ("groups", "roles"):
                if query.get(f"include_{name}") == "false":
                    body[f"{name}_obj"] = None
        return body


def added_order(wanted: set[Any], held: set[Any]) -> list[Any]:
    """The new members of a relation in the order Django inserts their rows: `add()` collects the
    ids in a set and inserts those missing in that set's order (CPython's, for ints and UUIDs a
    fixed one: 2023 120 adds 31 and 32 as 32, 31)."""
    return list(wanted.difference(held))


def uid(pk: ObjectId) -> str:
    return hashlib.sha256(f"{pk}-{INSTALL_ID}".encode()).hexdigest()
