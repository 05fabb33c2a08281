"""Applying a plan: one call per change, changes whose dependencies are done made concurrently (at
most `parallelism` at once; 1 keeps the plan's order), stopping at the first failure with an exact
account of every change: applied, failed, unknown outcome (a write whose answer never came, or in
flight at an interruption) or not attempted. A write whose answer was lost is made good, as often
as the connection retries (`--retries`; 0: never, its outcome is then unknown): a create is looked
up by its key before each sending, an update or a delete is sent again."""
from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.applying.result import APPLIED, FAILED, NOT_ATTEMPTED, UNKNOWN_OUTCOME, ApplyResult, ChangeOutcome
from reconciler.errors import ApiError, ApplyError, ReconcilerError
from reconciler.model.kinds import ApiModel, Kind
from reconciler.model.live import id_fields
from reconciler.planning.changes import Change, Create, Delete, Plan, with_values
from reconciler.server.client import Client
from reconciler.state import StateFile
from reconciler.values import IdKey, Json, JsonObject, Ref, Secret, Value, plain, refs_in, secrets_in, walk

__all__ = ["DEFAULT_PARALLELISM", "PARALLELISM_RANGE", "check_parallelism", "ChangeOutcome", "ApplyResult", "OnChange",
           "apply_plan", "dependencies"]

# Named for what it reports, not the module: the name shows in the CLI's log lines and users'
# log filters, and stays when modules move.
log = logging.getLogger("reconciler.apply")

DEFAULT_PARALLELISM = 8
"""Measured with bench/apply_parallel.py on 2 cores at load 0.6 (sandbox over HTTP, 20 ms per
request, 300 creates / 300 PATCHes, seconds): 1: 7.7/7.6, 4: 2.5/2.4, 8: 1.4/1.2, 10: 1.4/1.6,
16: 2.2/1.9. Past 8 the calls wait on the server's work, not the network's latency, and more at
once only loads the server more (the client's reads are bounded at 8 too)."""
PARALLELISM_RANGE = (1, 64)
"""The CLI's `--parallelism` range (`reconciler.cli.commands`), pinned by a test."""


OnChange = Callable[[ChangeOutcome], None]

FOUND_NOTE = "found on the server after its answer was lost"
"""The note of a create made good by finding it: its answer was lost, or sending it again refused."""


def dependencies(changes: Sequence[Change], model: ApiModel) -> list[set[int]]:
    """For each change, the indexes of the earlier changes it must wait for: the rules
    `order_changes` orders by (`depends_on`: a write after the creates it references, a delete
    after the deletes of what points at it) plus the one the split into writes-then-deletes
    stands for: a delete after the writes that stop referencing the object it deletes (or an
    object the delete takes with it). Only earlier changes count, so a plan in any order runs."""
    index = {change.address: i for i, change in enumerate(changes)}
    doomed = _doomed(changes, model)
    waits: list[set[int]] = [set() for _ in changes]
    for i, change in enumerate(changes):
        waits[i] |= {index[a] for a in change.depends_on if index.get(a, i) < i}
        if isinstance(change, Delete):
            continue
        for ref in (ref for f in change.fields for ref in refs_in(f.before)):
            for held in model.ref_keys(ref):
                deleting = doomed.get(held)
                if deleting is not None and deleting > i:
                    waits[deleting].add(i)
    return waits


def _doomed(changes: Sequence[Change], model: ApiModel) -> dict[IdKey, int]:
    """The scoped ids a plan deletes, each with the index of the first delete that removes it (by
    hand, or in a cascade)."""
    doomed: dict[IdKey, int] = {}
    for i, change in enumerate(changes):
        if isinstance(change, Delete):
            for held in (model.kinds[change.kind].id_key(change.id), *change.takes):
                doomed.setdefault(held, i)
    return doomed


def _with_ids(change: Change, created: Mapping[str, Json]) -> Change:
    """References to objects created earlier in this apply get the ids the server gave them."""
    def leaf(value: Secret | Ref) -> Value:
        if isinstance(value, Ref) and value.pk is None and value.address is not None:
            for held in (f"{value.address}@{value.target}", value.address):  # an alias's id first
                if held in created:
                    return Ref(value.target, value.key, created[held], value.address)
        return value

    return with_values(change, lambda value: walk(value, leaf))


def check_parallelism(parallelism: int) -> None:
    low, high = PARALLELISM_RANGE
    if not (isinstance(parallelism, int) and low <= parallelism <= high):
        raise ReconcilerError(f"parallelism must be a whole number from {low} to {high}, not {parallelism!r}")


async def apply_plan(plan: Plan, client: Client, model: ApiModel, secrets: StateFile,
                     on_change: OnChange | None = None, parallelism: int = DEFAULT_PARALLELISM) -> ApplyResult:
    """Make every call of `plan`, at most `parallelism` at once; record fingerprints of the
    write-only values sent and the ownership of what was created, and save them whatever ends the
    apply. Raises `ApplyError` carrying the `ApplyResult` when a call fails, an answer is lost for
    good, the apply is interrupted (`interrupted`) or our own code fails (`internal`, chained to
    the exception)."""
    check_parallelism(parallelism)
    for change in plan.changes:
        client.add_secrets(secrets_in(change.body()))
    run = _Run(plan.changes, client, model, secrets, on_change)
    await run.run(parallelism)
    result = ApplyResult(run.outcomes())
    secrets.disown_objects((c.kind, c.id) for c in result.applied if isinstance(c, Delete))
    try:
        secrets.save()  # the fingerprints and ownership of what was applied, however the apply ended
    except ReconcilerError as exc:
        if result.ok and run.internal is None:
            raise ApplyError(f"every change was applied, but {exc}", result) from exc
        log.error("%s", exc)
    if run.internal is not None:
        raise ApplyError("unexpected internal error", result, internal=True) from run.internal
    if run.interrupted:
        raise ApplyError("interrupted", result, interrupted=True)
    if not result.ok:
        first = next((o for o in result.outcomes if o.status in (FAILED, UNKNOWN_OUTCOME)), None)
        raise ApplyError(f"{first.change.address}: {first.error}" if first else "the apply stopped",
                         result) from (first.exception if first else None)
    return result


@dataclass
class _Attempt:
    """How far one change got: a request sent, an answer read (so an error in our own code after
    it still counts the change applied)."""

    sent: bool = False
    answered: bool = False


class _Queue:
    """The changes ready to start, lowest plan index first, and those waiting for others; once
    stopped, it starts nothing new."""

    def __init__(self, waits: list[set[int]]) -> None:
        self.waits = waits
        self.dependents: dict[int, list[int]] = {}
        for i, needed in enumerate(waits):
            for j in needed:
                self.dependents.setdefault(j, []).append(i)
        self.ready = [i for i, needed in enumerate(waits) if not needed]
        heapq.heapify(self.ready)
        self.stopped = False

    @property
    def open(self) -> bool:
        """Whether a change may start now."""
        return bool(self.ready) and not self.stopped

    def pop(self) -> int:
        return heapq.heappop(self.ready)

    def stop(self) -> None:
        self.stopped = True

    def applied(self, i: int) -> None:
        """Change `i` is applied: the changes it held up that wait for nothing else are ready."""
        for j in self.dependents.get(i, []):
            self.waits[j].discard(i)
            if not self.waits[j]:
                heapq.heappush(self.ready, j)


class _Run:
    """One apply: the dependency graph, the changes in flight, and what became of each."""

    def __init__(self, changes: Sequence[Change], client: Client, model: ApiModel, secrets: StateFile,
                 on_change: OnChange | None) -> None:
        self.changes = changes
        self.client = client
        self.model = model
        self.secrets = secrets
        self.on_change = on_change
        self.done: dict[int, ChangeOutcome] = {}
        self.created: JsonObject = {}
        self.interrupted = False
        self.internal: BaseException | None = None

    def outcomes(self) -> list[ChangeOutcome]:
        return [self.done.get(i) or ChangeOutcome(change, NOT_ATTEMPTED) for i, change in enumerate(self.changes)]

    async def run(self, parallelism: int) -> None:
        """Start every change whose dependencies are applied, lowest plan index first; after a
        failure, or an internal error (in `make` or in the `on_change` callback alike), start
        nothing new and let the changes in flight finish, so each ends applied or failed rather
        than unknown; on an interruption (Ctrl-C: this coroutine cancelled, or a call cancelled)
        cancel them: their outcome is unknown. An error of this loop itself cancels them too."""
        queue = _Queue(dependencies(self.changes, self.model))
        running: dict[asyncio.Task[ChangeOutcome], int] = {}
        try:
            while running or queue.open:
                while queue.open and len(running) < parallelism:
                    i = queue.pop()
                    running[asyncio.create_task(self.make(i))] = i
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                self.collect(finished, running, queue)
                if self.interrupted and running:
                    await self.cancel(running)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.interrupted = True
            await self.cancel(running)
        except Exception as exc:  # a bug of ours still gets the exact report
            self.internal = exc
            await self.cancel(running)

    def collect(self, finished: set[asyncio.Task[ChangeOutcome]], running: dict[asyncio.Task[ChangeOutcome], int],
                queue: _Queue) -> None:
        """Account for the changes that finished, in plan order: an applied one frees the changes
        waiting for it; anything else (or an internal error) stops the queue."""
        for task in sorted(finished, key=lambda t: running[t]):
            i = running.pop(task)
            outcome = task.result()
            self.finish(i, outcome)
            if outcome.status != APPLIED or self.internal is not None:
                queue.stop()
            else:
                queue.applied(i)

    async def cancel(self, running: dict[asyncio.Task[ChangeOutcome], int]) -> None:
        """Cancel the changes in flight and account for each: `make` turns the cancellation of a
        call into an unknown outcome (the server may have acted); a change that finished
        meanwhile counts as it ended."""
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for task, i in sorted(running.items(), key=lambda item: item[1]):
            if task.cancelled():
                continue  # cancelled before its first step: nothing was sent, it stays not attempted
            error = task.exception()
            self.finish(i, task.result() if error is None else
                        ChangeOutcome(self.changes[i], UNKNOWN_OUTCOME, "interrupted while in flight", exception=error))
        running.clear()

    def finish(self, i: int, outcome: ChangeOutcome) -> None:
        """Record how change `i` ended and tell `on_change`. The callback is the caller's code (the
        CLI's progress lines: a closed stderr raises on each one), so its error is kept as the
        internal error, as one in `make` is, and never ends the accounting: the report stays exact
        and the state is saved. Later errors of the callback are only logged."""
        self.done[i] = outcome
        if self.on_change is None:
            return
        try:
            self.on_change(outcome)
        except Exception as exc:  # the caller's bug still gets the exact report
            if self.internal is None:
                self.internal = exc
            else:
                log.error("%s: the on_change callback failed again (%s: %s)", outcome.change.address,
                          exc.__class__.__name__, exc)

    async def make(self, i: int) -> ChangeOutcome:
        """One change, start to end; never raises: every ending is an outcome."""
        planned = self.changes[i]
        attempt = _Attempt()
        try:
            note = await self.calls(_with_ids(planned, self.created), attempt)
            return ChangeOutcome(planned, APPLIED, note=note)
        except ApiError as exc:
            return ChangeOutcome(planned, UNKNOWN_OUTCOME if exc.outcome_unknown else FAILED, str(exc), exception=exc)
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Ctrl-C while the call was in flight: the server may or may not have acted.
            self.interrupted = True
            return ChangeOutcome(planned, UNKNOWN_OUTCOME, "interrupted while in flight")
        except Exception as exc:  # a bug of ours: the report says how far the change got
            if self.internal is None:
                self.internal = exc
            error = f"internal error ({exc.__class__.__name__}); see the traceback file"
            if attempt.answered:
                return ChangeOutcome(planned, APPLIED, note=error)
            return ChangeOutcome(planned, UNKNOWN_OUTCOME if attempt.sent else FAILED, error)

    async def calls(self, change: Change, attempt: _Attempt) -> str:
        """The change's call, then the calls of its own of the fields set apart from the body (a
        user's password); what was made is recorded. Returns the note of the call, if any."""
        kind = self.model.kinds[change.kind]
        body = change.body()
        sent = None if body is None else plain(body)
        own_calls = {name: sent.pop(name) for name in kind.action_fields & set(sent or {})} if sent else {}
        if own_calls and not sent and not isinstance(change, Create):
            answer, note = None, ""  # only fields set by calls of their own changed
        else:
            answer, note = await self.send(change, kind, sent, attempt)
        await self.send_own_calls(change, kind, answer, own_calls, attempt)
        self.record(change, kind, body, answer)
        log.info("%s %s: %s %s%s", change.action, change.address, change.method, change.path,
                 f" ({note})" if note else "")
        return note

    async def send(self, change: Change, kind: Kind, body: JsonObject | None,
                   attempt: _Attempt) -> tuple[Any, str]:
        """The call; when its answer is lost, made good as often as the connection retries (see
        the module's docstring). A create's answer must carry the new object's id."""
        attempt.sent = True
        note = ""
        try:
            answer = await self.client.request(change.method, change.path, body=body)
        except ApiError as exc:
            if not exc.outcome_unknown:
                raise
            log.warning("%s: the answer to %s %s was lost (%s)", change.address, change.method, change.path, exc)
            answer, note = await self.after_lost_answer(change, kind, body, exc)
        attempt.answered = True
        if isinstance(change, Create) and (not isinstance(answer, dict) or answer.get(kind.id_field) is None):
            raise ApiError(f"{change.method} {change.path}: authentik's answer carries no {kind.id_field}: the "
                           "object may have been created", method=change.method, path=change.path,
                           outcome_unknown=True)
        return answer, note

    async def send_own_calls(self, change: Change, kind: Kind, answer: Any, values: JsonObject,
                             attempt: _Attempt) -> None:
        """The fields set by calls of their own, after the object's own write: a user's password
        (`POST /core/users/{pk}/set_password/`, directory recording 92), a role's permissions
        (the additions assigned, the removals unassigned: directory recordings 162, 176)."""
        if not values:
            return
        pk = answer[kind.id_field] if isinstance(change, Create) else change.id
        detail = kind.detail_path(answer) if isinstance(change, Create) else change.path
        before = {c.field: c.before for c in change.fields}
        for name, value in sorted(values.items()):
            action = kind.fields[name].action or {}
            if "add" in action:
                calls = _set_calls(action, pk, before.get(name), value, name)
            else:
                calls = [(str(action["method"]), f"{detail}{action['path']}", {name: value})]
            for method, path, body in calls:
                attempt.sent = True
                await self.client.request(method, path, body=body)
                attempt.answered = True

    async def after_lost_answer(self, change: Change, kind: Kind, body: JsonObject | None,
                                lost: ApiError) -> tuple[Any, str]:
        """Make a write whose answer was lost good, as often as the connection retries (none: the
        `lost` error stands, the outcome unknown): a create is looked up by its key before each
        sending, so it is never made twice; an update or a delete is sent again (a delete that
        finds the object gone is done)."""
        retries = self.client.connection.retries
        for again in range(retries):
            if isinstance(change, Create):
                found = await self.found(change, kind, body, lost,
                                         f"after the answer to {change.method} {change.path} was lost")
                if found is not None:
                    return found, FOUND_NOTE
                log.warning("%s: not on the server after the answer was lost: sending %s %s again", change.address,
                            change.method, change.path)
            else:
                log.warning("%s: sending %s %s again", change.address, change.method, change.path)
            try:
                answer = await self.client.request(change.method, change.path, body=body)
            except ApiError as exc:
                if isinstance(change, Delete) and exc.status == 404:
                    return None, "gone when sent again after its answer was lost"
                if isinstance(change, Create) and exc.status == 400:
                    # A slow server may carry out the lost send after the look-up: its key is then
                    # taken and the new send refused. Look again before calling it failed.
                    found = await self.found(change, kind, body, exc, "once sending it again was refused")
                    if found is not None:
                        return found, FOUND_NOTE
                if not exc.outcome_unknown or again + 1 >= retries:
                    raise
                log.warning("%s: the answer to %s %s was lost again (%s)", change.address, change.method,
                            change.path, exc)
                lost = exc
                continue
            return answer, "sent again after its answer was lost"
        raise lost  # reached with no retries: the write may or may not have been made

    async def found(self, change: Change, kind: Kind, body: JsonObject | None, error: ApiError,
                    when: str) -> JsonObject | None:
        """The object a create whose fate `error` left unknown made, if it is on the server (logged
        as found `when`); a look-up that fails keeps the outcome unknown, naming both errors."""
        try:
            found = await self.look_up(change, kind, body or {})
        except ApiError as failed:
            raise ApiError(f"{error}; looking it up failed: {failed}", method=change.method, path=change.path,
                           outcome_unknown=True) from failed
        if found is not None:
            log.warning("%s: found on the server %s: it was created (id %s)", change.address, when,
                        found.get(kind.id_field))
        return found

    async def look_up(self, change: Change, kind: Kind, body: Mapping[str, Json]) -> JsonObject | None:
        """The object `change` creates, if it exists: the list filtered by the kind's key fields
        (and disambiguator), each checked here too, leaving out the objects that already shared
        the key when planned (`same_key`)."""
        names = [*kind.key, *([kind.disambiguator] if kind.disambiguator else [])]
        # A policy binding's `target` filter takes the target's binding-model UUID, not the flow's
        # or binding's pk the body sends (recordings flows 264, 265): that field is compared here only.
        params = {name: _param(body[name]) for name in names if isinstance(body.get(name), str | int | bool)
                  and not (name in kind.fields and kind.fields[name].reference == "binding_target")}
        params.update(kind.list_params)  # the application list's filters need its cache bypassed (apps 434)
        taken = {kind.id_key(ident) for ident in change.same_key}
        require = sorted(id_fields(self.model, kind.path))  # checked as a plan's reads are
        for obj in await self.client.list(kind.path, require=require, **params):
            if kind.id_key(obj.get(kind.id_field)) not in taken and all(
                    _same(obj.get(name), body.get(name)) for name in names):
                return obj
        return None

    def record(self, change: Change, kind: Kind, body: JsonObject | None, answer: Value) -> None:
        """What the state file keeps of an applied change: ownership and write-only fingerprints."""
        pk = answer[kind.id_field] if isinstance(change, Create) else change.id
        if isinstance(change, Create):
            self.created[change.address] = pk
            for alias in self.model.aliases(kind):  # a user's UUID, for a lifecycle rule's reviewers
                if isinstance(answer, dict):
                    self.created[f"{change.address}@{alias}"] = answer.get(self.model.targets[alias].id)
            self.secrets.own(change.address, change.kind, pk)  # what the repository creates, it owns
        if isinstance(change, Delete):
            self.secrets.forget(change.address)
        elif body is not None:
            for name in kind.write_only_fields & set(body):
                value = body[name]
                self.secrets.record(change.address, str(pk), name,
                                    value.reveal() if isinstance(value, Secret) else value)


def _set_calls(action: JsonObject, pk: Json, before: Json, after: Json, name: str) -> list[tuple[str, str, JsonObject]]:
    """The calls that turn the set `before` into `after`: one adding what is new, one removing
    what went (none for either when there is nothing to do)."""
    old = set(before) if isinstance(before, list) else set()
    new = set(after) if isinstance(after, list) else set()
    calls = []
    for step, items in (("add", new - old), ("remove", old - new)):
        if items:
            call = action[step]
            calls.append((str(call["method"]), str(call["path"]).format(id=pk), {name: sorted(items)}))
    return calls


def _param(value: str | int | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _same(live: Value, sent: Value) -> bool:
    if live is None or sent is None:
        return live is None and sent is None
    return live == sent or str(live) == str(sent)
