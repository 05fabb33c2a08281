"""The secret state store: keyed fingerprints of the write-only values the tool last applied.

authentik never returns write-only fields (Duo `client_secret`, recordings 2023.10.7/11, 14), so a
plain diff either always or never sends them. The tool remembers an HMAC-SHA256 of each value it
applied, never the value, in a JSON file meant to be committed next to the manifests: it survives
ephemeral CI runners with no infrastructure, and a reviewer sees in the diff which secrets
changed without learning them."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Protocol

from reconciler.errors import ReconcilerError
from reconciler.files import write_atomically
from reconciler.repo import named_path
from reconciler.values import REDACTED, Json, JsonObject, typed_id

__all__ = ["StateFile", "OwnedRecord", "STATE_FILE", "STATE_KEY_ENV", "LockClock", "LOCK_WAIT", "read_servers",
           "state_key"]

log = logging.getLogger(__name__)

STATE_FILE = "reconciler.state.json"
STATE_KEY_ENV = "RECONCILER_STATE_KEY"
FORMAT_VERSION = 1
FORMAT_KEYS = frozenset({"format_version", "about", "servers", "key_id", "objects", "owned", "pk", "fields", "kind",
                         "id", "file"})
MAX_DIGITS = 100  # an id is at most 20 digits; a longer number is not one this tool wrote
LOCK_WAIT = 30.0  # seconds a save waits for another run's lock on the state file
LOCK_POLL = 0.05


KEY_CHECK = b"authentik-reconciler fingerprint key"

UNKNOWN_NOTE = "live value unknown (write-only, no record of the last apply): sent once"
RECREATED_NOTE = "the object was recreated since the last apply (another id): sent once"
NEW_KEY_NOTE = "the fingerprint key changed (RECONCILER_STATE_KEY, or the token): sent once"
CHANGED_NOTE = "changed since the last apply"


class OwnedRecord(NamedTuple):
    """An owned object: its kind, its id (None while not created yet) and the manifest file that
    describes it (absolute), so a plan of part of the repository prunes only within that part."""

    kind: str
    id: Json
    file: str | None


@dataclass
class StateFile:
    """The state file, per server: fingerprints by object address (`kind/name`), with the id of the
    object they were applied to (a same-named object created outside the tool has another id, so
    its secrets count as unknown); and the objects this repository owns (applied or adopted), by
    address, with their kind and id, which pruning may delete once the manifests leave them out.
    `path=None` keeps it in memory only (the sandbox, tests). `save` waits up to `LOCK_WAIT`
    seconds for another run's lock on the file, on `clock` (the system's by default)."""

    key: bytes = field(repr=False)
    server: str
    path: Path | None = None
    _servers: dict[str, JsonObject] = field(default_factory=dict, repr=False)
    key_changed: bool = False
    _holders_of: dict[tuple[str, Json], set[str]] | None = field(default=None, repr=False, compare=False)
    _shown_files: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _manifests: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)
    _loaded: dict[str, JsonObject] = field(default_factory=dict, repr=False, compare=False)
    clock: LockClock | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.path is None or not _exists(self.path):
            return
        self._servers = read_servers(self.path)
        self._loaded = json.loads(json.dumps(self._servers))  # what this run changes is told from it at save
        entry = self._servers.get(self.server)
        if entry is not None and entry.get("key_id") != self.key_id:
            # Fingerprints made with another key say nothing now; what is owned stays owned.
            self.key_changed = True
            self._servers[self.server] = {"key_id": self.key_id, "objects": {}, "owned": entry.get("owned", {})}

    @cached_property
    def key_id(self) -> str:
        """Names the key without revealing it: a saved plan checked with another key is refused."""
        return hmac.new(self.key, KEY_CHECK, hashlib.sha256).hexdigest()[:16]

    def digest(self, value: Json, length: int = 64) -> str:
        """A keyed fingerprint of any JSON value (live objects in saved plans): keyed, so a
        low-entropy value the server returns in clear cannot be guessed from it."""
        message = json.dumps(value, sort_keys=True, default=str).encode()
        return "hmac-sha256:" + hmac.new(self.key, message, hashlib.sha256).hexdigest()[:length]

    def _entry(self) -> JsonObject:
        """This server's entry of the file, made when it has none."""
        entry: JsonObject = self._servers.setdefault(self.server, {"key_id": self.key_id, "objects": {}})
        return entry

    def _objects(self) -> JsonObject:
        objects: JsonObject = self._entry().setdefault("objects", {})
        return objects

    def fingerprint(self, address: str, field_name: str, value: Json) -> str:
        message = json.dumps([address, field_name, value], sort_keys=True).encode()
        return "hmac-sha256:" + hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def check(self, address: str, pk: str, field_name: str, value: Json) -> str | None:
        """None when `value` is what was last applied to this very object; else why to send it."""
        record = self._objects().get(address)
        if record is None or field_name not in record.get("fields", {}):
            return NEW_KEY_NOTE if self.key_changed else UNKNOWN_NOTE
        if record.get("pk") != pk:
            return RECREATED_NOTE
        if record["fields"][field_name] != self.fingerprint(address, field_name, value):
            return CHANGED_NOTE
        return None

    def record(self, address: str, pk: str, field_name: str, value: Json) -> None:
        record = self._objects().setdefault(address, {"pk": pk, "fields": {}})
        if record.get("pk") != pk:
            record.update(pk=pk, fields={})
        record["fields"][field_name] = self.fingerprint(address, field_name, value)

    def forget(self, address: str) -> None:
        self._objects().pop(address, None)

    # -- the last apply -----------------------------------------------------------------------
    @property
    def last_apply(self) -> str | None:
        """When this repository last applied to this server (ISO 8601, UTC), if it ever did: what
        a plan tells apart drift made since by authentik's own blueprints with."""
        moment = self._servers.get(self.server, {}).get("last_apply")
        return moment if isinstance(moment, str) else None

    def mark_applied(self, moment: str) -> None:
        self._entry()["last_apply"] = moment

    # -- ownership ----------------------------------------------------------------------------
    def _owned(self) -> JsonObject:
        owned: JsonObject = self._entry().setdefault("owned", {})
        return owned

    def owned(self) -> dict[str, OwnedRecord]:
        """What this repository owns on this server, by address."""
        found = {}
        for address, record in self._owned().items():
            if isinstance(record, dict):
                file = record.get("file")
                found[address] = OwnedRecord(str(record.get("kind")), record.get("id"),
                                             self._from_state(file) if isinstance(file, str) else None)
        return found

    def own(self, address: str, kind: str, ident: Json, file: str | None = None) -> None:
        """Record `address` as owned: its kind, its id (None until it is created) and the manifest
        file describing it (kept from the earlier record when not given). Another address holding
        the same id (the object got a new address) is dropped."""
        owned = self._owned()
        holders = self._holders()
        earlier = owned.get(address, {})
        if ident is not None:
            for other in holders.get(_held(kind, ident), set()) - {address}:
                self.disown(other)
        record = {"kind": kind, "id": ident if ident is not None else earlier.get("id")}
        shown = self._to_state(file) if file else earlier.get("file")
        if shown:
            record["file"] = shown
        self.disown(address)
        owned[address] = record
        holders.setdefault(_held(kind, record["id"]), set()).add(address)

    def _holders(self) -> dict[tuple[str, Json], set[str]]:
        """The addresses holding each id, built once: an apply owns what it creates one by one,
        and a scan of every record per create would be quadratic."""
        if self._holders_of is None:
            self._holders_of = {}
            for address, record in self._owned().items():
                if isinstance(record, dict):
                    self._holders_of.setdefault(_held(record.get("kind"), record.get("id")), set()).add(address)
        return self._holders_of

    def disown(self, address: str) -> None:
        record = self._owned().pop(address, None)
        if isinstance(record, dict) and self._holders_of is not None:
            self._holders_of.get(_held(record.get("kind"), record.get("id")), set()).discard(address)

    def disown_objects(self, objects: Iterable[tuple[str, Json]]) -> None:
        """Drop every record of these (kind, id) pairs (deleted by this apply, or gone from the
        server)."""
        holders = self._holders()
        for kind, ident in objects:
            for address in list(holders.get(_held(kind, ident), ())):
                self.disown(address)

    def _to_state(self, file: str) -> str:
        """A manifest path as the state file keeps it: relative to the state file's folder (asked
        for every object an apply owns: worked out once per file)."""
        if file not in self._shown_files:
            self._shown_files[file] = self._relative(file)
        return self._shown_files[file]

    @cached_property
    def _folder(self) -> Path | None:
        """The state file's folder, resolved once: `owned()` turns every record's file back into
        a path, and resolving it per record made `owned()` of 10,000 objects take 0.85 s."""
        return self._target.parent if self.path is not None else None

    def _relative(self, file: str) -> str:
        try:  # the rule discovery and prune use: a symlinked manifest is known by its link
            path = named_path(file)
        except (RuntimeError, OSError, ValueError):  # a loop: RuntimeError on Python 3.11, OSError later
            log.warning("cannot resolve the manifest %s (a symlink loop): the state file records it as written", file)
            path = Path(os.path.abspath(file))
        if self._folder is None:
            return str(path)
        try:
            return path.relative_to(self._folder).as_posix()
        except ValueError:
            return str(path)

    def _from_state(self, file: str) -> str | None:
        """A recorded manifest as a path (worked out once per file: a few manifests hold every
        record); None, with a warning, when its folders run into a symlink loop: pruning then leaves
        its objects alone, as it does objects of manifests outside those planned. The file itself is
        as named (a link is known by its own path, as `_relative` records it): discovery says when
        it cannot be read."""
        if file not in self._manifests:
            path = str(self._folder / file) if self._folder is not None else file
            try:
                self._manifests[file] = str(named_path(path))
            except (RuntimeError, OSError):
                log.warning("the state file %s names the manifest %s, behind a symlink loop: what it described "
                            "is not pruned", self.path, file)
                self._manifests[file] = None
        return self._manifests[file]

    def save(self) -> None:
        """Write what this run changed into the file, under its lock: the file is read again and
        this run's changes (records added, changed or removed since it was read) go onto what is
        there now, so two applies sharing it (two CI jobs) lose no record; then it is written
        atomically (a temporary file in the same folder, synced, renamed over it). A failure is a
        `ReconcilerError` naming the file."""
        if self.path is None:
            return
        try:
            with _locked(self.path, self._lock, LOCK_WAIT, self.clock or CLOCK):
                servers = self._merged(read_servers(self.path) if _exists(self.path) else {})
                text = _render(servers)
                write_atomically(self._target, text.encode())
        except OSError as exc:
            raise ReconcilerError(f"cannot write the state file {self.path}: {exc.strerror or exc}") from exc
        self._servers, self._loaded, self._holders_of = servers, json.loads(text)["servers"], None
        log.info("saved the state (secret fingerprints, owned objects) to %s", self.path)

    @cached_property
    def _target(self) -> Path:
        """The file itself, a symlinked state file resolved: it is written in place of its target,
        never by replacing the link (its paths are relative to the target's folder)."""
        assert self.path is not None
        return Path(os.path.realpath(self.path))

    @property
    def _lock(self) -> Path:
        """The lock file: beside the target, so runs reaching it by different paths (a symlinked
        checkout, a link to it) share it."""
        return self._target.parent / (self._target.name + ".lock")

    def _merged(self, disk: dict[str, JsonObject]) -> dict[str, JsonObject]:
        """`disk` (the file as it is now) with this run's changes to its server's records. The
        fingerprints of another key say nothing to this one: they go when this run writes."""
        mine = self._servers.get(self.server)
        if mine is None:
            return disk
        before = self._loaded.get(self.server, {})
        entry = disk.setdefault(self.server, {})
        if entry.get("key_id") != self.key_id:
            entry.update(key_id=self.key_id, objects={})
        same_key = before.get("key_id") == self.key_id
        _apply_changes(entry.setdefault("objects", {}), before.get("objects", {}) if same_key else {},
                       mine.get("objects", {}))
        _apply_changes(entry.setdefault("owned", {}), before.get("owned", {}), mine.get("owned", {}))
        if mine.get("last_apply") and str(mine["last_apply"]) > str(entry.get("last_apply") or ""):
            entry["last_apply"] = mine["last_apply"]  # the later of two runs sharing the file
        return disk


def _apply_changes(records: JsonObject, before: JsonObject, after: JsonObject) -> None:
    """Make on `records` the changes from `before` to `after`: removed, added and changed records."""
    for address in before.keys() - after.keys():
        records.pop(address, None)
    for address, record in after.items():
        if before.get(address) != record:
            records[address] = record


def _render(servers: dict[str, JsonObject]) -> str:
    data = {
        "format_version": FORMAT_VERSION,
        "about": "HMAC-SHA256 fingerprints of write-only values applied by authentik-reconciler, and the "
                 "objects this repository owns; no secret is stored. Commit this file next to the manifests.",
        "servers": {server: {"key_id": entry.get("key_id"),
                             **({"last_apply": entry["last_apply"]} if entry.get("last_apply") else {}),
                             "objects": dict(sorted(entry.get("objects", {}).items())),
                             "owned": dict(sorted(entry.get("owned", {}).items()))}
                    for server, entry in sorted(servers.items())},
    }
    return json.dumps(data, indent=2) + "\n"


class LockClock(Protocol):
    """Time as waiting for the state file's lock sees it (tests pass a fake one)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemLockClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


CLOCK: LockClock = SystemLockClock()


@contextmanager
def _locked(path: Path, lock: Path, wait: float, clock: LockClock) -> Iterator[None]:
    """Hold the lock of the state file at `path` (`fcntl.flock` on `lock`, which holds this run's
    pid and command so a run that waits can name it); wait for it up to `wait` seconds, then raise
    naming the holder. The lock file goes when it is let go."""
    deadline = clock.monotonic() + wait
    while (descriptor := _take(lock)) is None:
        if clock.monotonic() >= deadline:
            raise ReconcilerError(f"cannot write the state file {path}: {_holder(lock)} still holds its lock {lock} "
                                  f"after {wait:g} s; run again once it has finished")
        clock.sleep(LOCK_POLL)
    try:
        os.write(descriptor, json.dumps({"pid": os.getpid(), "command": _running_command()}).encode())
        yield
    finally:
        with suppress(OSError):
            lock.unlink()  # before letting go: a run that opened it meanwhile sees it went, and takes a new one
        os.close(descriptor)


def _take(lock: Path) -> int | None:
    """The lock file's descriptor, locked; None while another run holds it."""
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        if _same_file(descriptor, lock):
            os.ftruncate(descriptor, 0)
            return descriptor
        os.close(descriptor)  # its holder removed it as we opened it: take the one there now


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _holder(lock: Path) -> str:
    """The run holding `lock`, as its lock file says."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
        return f"another run (pid {int(holder['pid'])}: {str(holder['command'])})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"


def _running_command() -> str:
    """This run's command line, without a `--token` or a URL's credentials (the lock file lies
    beside a file meant to be committed)."""
    shown: list[str] = []
    for arg in sys.orig_argv:
        if shown and shown[-1] == "--token":
            arg = REDACTED
        elif arg.startswith("--token="):
            arg = f"--token={REDACTED}"
        shown.append(re.sub(r"(\w+://)[^/\s]*@", r"\1", arg))  # up to the last @ of the authority
    return shlex.join(shown)


def _held(kind: Json, ident: Json) -> tuple[str, Json]:
    """How the holders index knows an object: by kind and id, never by a bare id (a provider and a
    user may both be 3), and an integer id whether the record holds it as a number or as text (a
    text of more digits than any id stays text: Python refuses to convert 4,300 digits)."""
    return str(kind), typed_id("int", str(ident))


def _exists(path: Path) -> bool:
    """Whether the state file exists; a symlink loop is an error (`exists()` says False for a loop,
    and `resolve()` raises RuntimeError on one)."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReconcilerError(f"cannot read the state file {path}: a symlink loop") from exc
        return False
    return True


def read_servers(path: Path) -> dict[str, JsonObject]:
    """The records of a state file, by server, every one checked: a file edited by hand, or
    merged badly, is one error naming the file and the first wrong key, never a crash later."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_int=_whole_number)
    except RecursionError as exc:
        raise ReconcilerError(f"cannot read the state file {path}: nested too deeply") from exc
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"cannot read the state file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    problems = _too_long(data) or _file_problems(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReconcilerError(f"cannot read the state file {path}: {problems[0]}{more}")
    servers: dict[str, JsonObject] = data["servers"]
    return servers


class _TooLong(NamedTuple):
    """A JSON integer of more digits than any id: kept as a marker so the error can name its key."""

    digits: int


def _whole_number(text: str) -> int | _TooLong:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_DIGITS else _TooLong(digits)


def _too_long(data: Json) -> list[str]:
    """Where the file holds a number too long to be an id (walked without recursion: the parser
    allows deeper nesting than a recursive walk on top of the stack would)."""
    found = []
    pending: list[tuple[str, Json]] = [("", data)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, _TooLong):
            found.append(f"{where or 'the file'} is a number of {value.digits} digits (at most {MAX_DIGITS})")
        elif isinstance(value, dict):
            pending.extend((_key(where, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return found


def _key(where: str, key: str) -> str:
    """`servers["http://x"].owned`: a name of the format as is, a server, address or field quoted."""
    if key in FORMAT_KEYS:
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key)}]"


def _file_problems(data: Json) -> list[str]:
    if not isinstance(data, dict):
        return ["the file must hold a JSON object"]
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        return [f"format_version must be {FORMAT_VERSION} (the format this tool reads), not {json.dumps(version)}"]
    if "servers" not in data:
        return ["servers is missing"]
    servers = data["servers"]
    if not isinstance(servers, dict):
        return ["servers must be an object"]
    return [problem for server, entry in servers.items()
            for problem in _server_problems(f"servers[{json.dumps(server)}]", entry)]


def _server_problems(where: str, entry: Json) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} must be an object"]
    problems = [] if _is(entry.get("key_id"), str, None) else [f"{where}.key_id must be text"]
    problems += [] if _is(entry.get("last_apply"), str, None) else [f"{where}.last_apply must be text"]
    for section, check in (("objects", _fingerprint_problems), ("owned", _owned_problems)):
        records = entry.get(section, {})
        if not isinstance(records, dict):
            problems.append(f"{where}.{section} must be an object")
            continue
        problems += [problem for address, record in records.items()
                     for problem in check(f"{where}.{section}[{json.dumps(address)}]", record)]
    return problems


def _fingerprint_problems(where: str, record: Json) -> list[str]:
    """A record of `objects`: the id of the object the fingerprints went to, and one fingerprint
    (text) per write-only field."""
    if not isinstance(record, dict):
        return [f"{where} must be an object"]
    problems = [] if _is(record.get("pk"), str, int) else [f"{where}.pk must be text or a whole number"]
    fields = record.get("fields")
    if not isinstance(fields, dict):
        return [*problems, f"{where}.fields must be an object"]
    return problems + [f"{where}.fields[{json.dumps(name)}] must be text"
                       for name, fingerprint in fields.items() if not isinstance(fingerprint, str)]


def _owned_problems(where: str, record: Json) -> list[str]:
    """A record of `owned`: the object's kind, its id (null until it is created) and the manifest
    that describes it (optional)."""
    if not isinstance(record, dict):
        return [f"{where} must be an object"]
    problems = [] if isinstance(record.get("kind"), str) else [f"{where}.kind must be text"]
    if not _is(record.get("id"), str, int, None):
        problems.append(f"{where}.id must be text or a whole number")
    if not _is(record.get("file"), str, None) or "\x00" in str(record.get("file") or ""):
        problems.append(f"{where}.file must be text" if not _is(record.get("file"), str, None)
                        else f"{where}.file must be a path (it holds a NUL character)")
    return problems


def _is(value: Json, *types: type | None) -> bool:
    """Whether a JSON value is of one of `types` (None: null); a boolean is not a number."""
    if value is None or isinstance(value, bool):
        return value is None and None in types
    return isinstance(value, tuple(t for t in types if t is not None))


def state_key(env: Mapping[str, str], token: str | None) -> str | None:
    """The key of the state file's fingerprints (and of saved plans' digests by default):
    `RECONCILER_STATE_KEY`, else the API token."""
    return env.get(STATE_KEY_ENV) or token
