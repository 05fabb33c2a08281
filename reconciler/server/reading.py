"""Reading live state: which lists a plan needs, and one list call per path (never per object:
per-object GETs are ~19x slower on a real server, FINDINGS 2026.2.2 "How fast")."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from reconciler.model.kinds import ApiModel, Kind
from reconciler.model.live import LiveState, OwnListScope, id_fields
from reconciler.server.client import Client, concurrently, shape_error
from reconciler.values import JsonObject

__all__ = ["fetch_live", "read_own_lists"]


async def read_own_lists(client: Client, kind: Kind, objects: list[JsonObject],
                         scope: OwnListScope | None = None) -> None:
    """Fill in the fields that a list of their own holds, for the objects `scope` wants (all
    without one): `GET /rbac/permissions/?role=PK` gives a role's global permissions as
    `app_label.codename` (directory recording 172). One call per object: a plan names few."""
    objects = [obj for obj in objects if scope is None or scope.wants(kind, obj)]
    for name, spec in kind.fields.items():
        read = (spec.action or {}).get("read")
        if not isinstance(read, dict):
            continue

        async def one(obj: JsonObject, name: str = name, read: JsonObject = read) -> None:
            rows = await client.list(str(read["path"]), **{str(read["filter"]): str(obj[kind.id_field])})
            obj[name] = sorted(".".join(str(row.get(part)) for part in read["item"]) for row in rows)

        await concurrently([partial(one, obj) for obj in objects])


async def read_singleton(client: Client, path: str) -> JsonObject:
    """The one object at a singleton's path (`GET /admin/settings/`, directory recording 237): no
    list, no pages."""
    body = await client.request("GET", path)
    if not isinstance(body, dict):
        raise shape_error("GET", path, "the answer is no JSON object")
    return body


async def fetch_live(client: Client, model: ApiModel, paths: Iterable[str],
                     progress: Callable[[str], None] | None = None,
                     own_lists: OwnListScope | None = None) -> LiveState:
    """List every path once, concurrently (within the connection's limit); an object without its
    id fails the fetch as an `ApiError` naming the call. Fields the server keeps in a list of
    their own (a role's permissions) are read for the objects `own_lists` wants (every object
    listed without one)."""
    state = LiveState(model=model, own_lists=own_lists)

    async def list_path(path: str) -> None:
        kind = model.kind_for_path(path)
        if kind is not None and kind.singleton:
            objects = [await read_singleton(client, path)]
        else:
            objects = await client.list(path, require=sorted(id_fields(model, path)), **model.list_params(path))
        if kind is not None:
            await read_own_lists(client, kind, objects, own_lists)
        state.lists[path] = objects
        if progress:
            progress(path)

    await concurrently([partial(list_path, path) for path in sorted(set(paths))])
    return state
