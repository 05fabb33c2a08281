"""A SCIM source's service account and token (2026 directory 352-358): creating the source makes
an internal service account `ak-source-scim-<pk>` and an API token of it, which the source shows
as `token_obj`; renaming the source renames the account; deleting it deletes both. What they look
like is the profile's `sources.scim`, not code."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import JsonObject, ObjectId

from .directory import Directory
from .quirks import creation_defaults
from .store import Store

TOKEN = "scim_token"
"""The held value of the source holding its token (the sandbox keeps no token kind)."""


class ScimAccounts:
    def __init__(self, spec: JsonObject, store: Store, directory: Directory) -> None:
        self.spec = spec
        self.store = store
        self.directory = directory

    def owns(self, kind: Kind) -> bool:
        return bool(self.spec) and kind.name == self.spec.get("kind") and "user" in self.store.model.kinds

    def created(self, kind: Kind, pk: ObjectId) -> None:
        """The account (pk, then its UUID, drawn as the server does) and its token."""
        if not self.owns(kind):
            return
        user = self.store.model.kinds["user"]
        account = self.store.new_pk(user)
        values = self.store.values[kind.name][pk]
        self.store.insert(user, account, {**creation_defaults(user), **self.account_values(pk, values)})
        self.directory.created(user, account, {})
        token = {key: str(value).format(pk=pk) if isinstance(value, str) else value
                 for key, value in dict(self.spec["token"]).items()}
        identifier = str(self.spec["username"]).format(pk=pk)
        self.store.hold(pk, TOKEN, {"pk": self.store.new_id(), **token, "identifier": identifier, "user": account})

    def account_values(self, pk: ObjectId, values: JsonObject) -> JsonObject:
        return {"username": str(self.spec["username"]).format(pk=pk),
                "name": str(self.spec["name"]).format(name=values.get("name")),
                "path": self.spec["path"], "type": self.spec["type"]}

    def written(self, kind: Kind, pk: ObjectId) -> None:
        """The account takes the source's new name (355)."""
        account = self.account(kind, pk)
        if account is not None:
            user = self.store.model.kinds["user"]
            renamed = self.account_values(pk, self.store.values[kind.name][pk])["name"]
            self.store.update(user, account, {"name": renamed})
            self.directory.written(user, account, {}, full=False)

    def deleted(self, kind: Kind, pk: ObjectId) -> list[ObjectId]:
        """The account goes with the source (358)."""
        account = self.account(kind, pk)
        return [] if account is None else [account]

    def account(self, kind: Kind, pk: ObjectId) -> ObjectId | None:
        if not self.owns(kind):
            return None
        token = self.store.held.get(pk, {}).get(TOKEN)
        account = token.get("user") if isinstance(token, dict) else None
        return account if account in self.store.values["user"] else None

    def token_obj(self, pk: ObjectId, render_user: Callable[[ObjectId], JsonObject]) -> Any:
        """`token_obj`: the token with its user expanded (352)."""
        token = self.store.held.get(pk, {}).get(TOKEN)
        if not isinstance(token, dict):
            return None
        order = list(self.spec["token_order"])
        shown = {**token, "user_obj": render_user(token["user"])}
        return {key: shown.get(key) for key in order}
