"""The planning pipeline as public steps over typed values:

    load -> substitute variables -> validate -> resolve secrets -> fetch live -> match
         -> resolve references -> diff -> order

Each step is small and returns a value the next one takes, so plan, the apply of a saved plan,
drift reports, export and prune compose the steps they need. Nothing here prints."""
from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.config import RepoConfig, Safety, find_config, load_config
from reconciler.errors import CycleError, PlanError, Problem, ReconcilerError, UnsafePlanError
from reconciler.manifests.desired import DesiredObject
from reconciler.manifests.reading import load_manifests
from reconciler.manifests.schema import validate
from reconciler.manifests.secrets import FileRule, resolve_secrets
from reconciler.manifests.variables import Variables, substitute
from reconciler.model.kinds import ApiModel, Kind, known_versions, load_model
from reconciler.model.live import LiveState, OwnListScope, paths_for_deletes, paths_for_kinds, paths_for_targets
from reconciler.model.versions import latest_version
from reconciler.planning.changes import Change, Delete, Owned, Plan, Replace, Unmanaged, order_changes
from reconciler.planning.consequences import instances_path, may_conflict, with_blueprint_conflicts
from reconciler.planning.diff import DiffResult, diff
from reconciler.planning.impact import impact_paths, with_impact
from reconciler.planning.matching import Matching, match, prune, refuse_partial
from reconciler.planning.refs import resolve_refs
from reconciler.planning.stale import live_fingerprint, same_key_ids
from reconciler.repo import named_path, nearest, repository_root
from reconciler.server.client import Client
from reconciler.server.reading import fetch_live
from reconciler.state import STATE_FILE, STATE_KEY_ENV, OwnedRecord, StateFile, state_key
from reconciler.values import IdKey, Json, Key, Ref, Secret, display_key, refs_in

__all__ = ["PlanOptions", "PlanSession", "load", "substitute", "latest_version", "pick_version", "model_for",
           "validate", "resolve_secrets", "live_paths", "fetch", "match", "matched_paths", "fetch_more",
           "check_conflicts", "resolve_refs", "compare", "order", "stamp", "consequences", "unmanaged", "open_state",
           "state_path",
           "default_state_path", "shown_path", "make_plan", "check_ignored", "STATE_KEY_ENV", "prune", "check_safety",
           "guarded_deletes", "owns", "gone", "referenced_ids", "prunable_kinds", "check_mirrored"]

# Named for what it reports, not the module: the name shows in the CLI's log lines and users'
# log filters, and stays when modules move.
log = logging.getLogger("reconciler.pipeline")



@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """How to plan. `state_path=None` derives `reconciler.state.json` beside the manifests;
    `keep_state=False` keeps fingerprints in memory (the sandbox)."""

    api_version: str | None = None
    resend_secrets: bool = False
    ignore_changes: frozenset[str] = frozenset()
    state_path: Path | None = None
    keep_state: bool = True
    prune: bool | None = None
    """Plan deletes of owned objects that left the manifests; None: as `reconciler.toml` says."""
    prune_kinds: frozenset[str] = frozenset()
    """The kinds of data (users: `Kind.opt_in`) a prune may delete too, each named on purpose."""
    force: bool = False
    """Accept a plan over the safety thresholds."""
    config: RepoConfig | None = None
    """The repository's settings; None: the nearest `reconciler.toml` (or the defaults)."""
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    allow_file_outside: tuple[Path, ...] = ()
    """Folders outside the config repository that `{file}` secrets may be read from."""
    progress: Callable[[str], None] | None = field(default=None, compare=False)
    variables: Variables = field(default_factory=Variables)
    """What `{var: NAME}` stands for: an environment's variables (`load_variables`)."""

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def file_rule(self, paths: list[str | Path]) -> FileRule:
        """Where `{file}` secrets of the manifests under `paths` may be read from (for a saved plan,
        `paths=[]`: the repository of the working folder, which its paths are relative to)."""
        return FileRule(repository_root(paths), self.allow_file_outside)


@dataclass
class PlanSession:
    """A plan and what it was made from, so apply can run it on the same connection."""

    plan: Plan
    model: ApiModel
    live: LiveState
    secrets: StateFile


load = load_manifests
"""Step 1: read the manifest files (offline); what discovery skipped is logged and listed in
`Manifests.warnings`."""


def pick_version(server_version: str) -> str:
    """The model for a server: its own version, else the newest older model we have."""
    known = known_versions()
    if server_version in known:
        return server_version

    def numbers(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    older = [v for v in known if numbers(v) <= numbers(server_version)]
    if not older:
        raise ReconcilerError(f"authentik {server_version} is older than every API model this tool has "
                              f"({', '.join(known)})")
    log.warning("no API model for authentik %s; using %s", server_version, older[-1])
    return older[-1]


def model_for(server_version: str | None, requested: str | None) -> ApiModel:
    """The API model to plan with: `requested`, which must be the server's own version when the
    tool has a model of it (a wrong model writes values of the wrong type, TOTP digits 6 vs "6",
    that never plan clean), else the server's."""
    if requested and server_version in known_versions() and server_version != requested:
        raise ReconcilerError(f"the server runs authentik {server_version}, not {requested}: "
                              "drop --api-version to use the server's own model")
    version = requested or (pick_version(server_version) if server_version else latest_version())
    try:
        return load_model(version)
    except KeyError as exc:
        raise ReconcilerError(str(exc.args[0])) from exc


def live_paths(desired: list[DesiredObject], model: ApiModel, pruned: Collection[str] = ()) -> set[str]:
    """Step 4a: the lists a plan needs, each read once: the kinds described and what their keys
    point at, the targets their references name, the children of the sets manifests manage
    exactly, the kinds of the owned objects a prune may delete (`pruned`), what a delete would take
    with it, and the brands when a flow may be deleted. The family lists that only tell whether a
    new key is taken by another kind wait for `matched_paths`: most plans create nothing."""
    owned_kinds = {model.kinds[name] for name in pruned if name in model.kinds}
    managed_kinds = {model.kinds[n.kind] for o in desired for n in o.manages}
    kinds = {model.kinds[o.kind] for o in desired} | owned_kinds | managed_kinds
    doomed = {model.kinds[o.kind] for o in desired if o.state == "absent"} | managed_kinds | owned_kinds
    return paths_for_kinds(model, kinds) | paths_for_targets(model, _written_targets(desired, model)) \
        | paths_for_deletes(model, doomed)


def prunable_kinds(model: ApiModel, named: Collection[str]) -> frozenset[str]:
    """The kinds a prune may delete owned objects of: every kind of configuration, and the kinds of
    data (users) `named` (`--prune-kind user`); a name no kind of data has is an error."""
    data = {kind.name: kind for kind in model.kinds.values() if kind.opt_in}
    chosen = set()
    for name in named:
        kind = data.get(name) or next((k for k in data.values() if k.manifest_kind == name), None)
        if kind is None:
            raise ReconcilerError(f"--prune-kind {name}: not a kind of data in authentik {model.version} "
                                  f"(expected {', '.join(sorted(data)) or 'none'}); configuration kinds are "
                                  "pruned by --prune alone")
        chosen.add(kind.name)
    return frozenset(name for name, kind in model.kinds.items() if not kind.opt_in or name in chosen)


def _written_targets(desired: list[DesiredObject], model: ApiModel) -> set[str]:
    """The targets of the references the manifests write (to show them by key, and resolve them)."""
    return {spec.reference for o in desired for name, spec in model.kinds[o.kind].fields.items()
            if spec.reference and name in o.fields}


fetch = fetch_live
"""Step 4b: read the lists, one list call per path (plus pages), concurrently."""


def own_list_scope(desired: list[DesiredObject], owned: Mapping[str, OwnedRecord]) -> OwnListScope:
    """Step 4b's lists of their own (a role's permissions) for the objects the manifests name and
    the owned ones a prune may delete, whose fingerprints a saved plan's apply reads again."""
    return OwnListScope(frozenset((obj.kind, obj.key) for obj in desired),
                        frozenset((record.kind, str(record.id)) for record in owned.values() if record.id is not None))


def matched_paths(matching: Matching, model: ApiModel) -> set[str]:
    """Step 5a: the lists only the matching shows a plan needs, none for most plans:
    - the family lists `check_conflicts` needs: those of the objects to create whose key is unique
      across kinds (`/stages/all/` for a new stage);
    - the targets of the references a PUT carries over from the live object (every readable field
      the manifest leaves out goes into its body, `diff.full_body`): the plan shows them by key
      (`password_stage: pw-x`), which their target's list gives."""
    targets: set[str] = set()
    for pair in matching.pairs:
        kind = model.kinds[pair.desired.kind]
        if pair.desired.state != "present":
            continue
        if pair.live is None:
            targets |= {scope} if (scope := model.shared_scope(kind)) else set()
        elif pair.desired.update == "put":
            targets |= {str(spec.reference) for name, spec in kind.fields.items()
                        if spec.reference and not spec.write_only and pair.live.get(name) not in (None, [])}
    return paths_for_targets(model, targets)


async def fetch_more(client: Client, live: LiveState, paths: set[str],
                     progress: Callable[[str], None] | None = None) -> LiveState:
    """Step 5b: `live` with the lists of `paths` it lacks read too (a new state: indexes built
    from the lists read before would not see the new ones)."""
    missing = paths - set(live.lists)
    if not missing:
        return live
    more = await fetch_live(client, live.model, missing, progress, live.own_lists)
    return LiveState(model=live.model, lists={**live.lists, **more.lists}, own_lists=live.own_lists)


def check_mirrored(desired: list[DesiredObject], model: ApiModel) -> None:
    """Fields that hold one relation from two sides (a group's `users`, a user's `groups`) must not
    disagree: both written, an apply would set one side and the next plan would undo it from the
    other. A pair is in the relation on one side only when the other side writes the list too."""
    by_address = {obj.address: obj for obj in desired if obj.state == "present"}
    problems = []
    for obj in by_address.values():
        kind = model.kinds[obj.kind]
        for name, other in kind.mirrored.items():
            if name in obj.fields:
                problems += _disagreeing(obj, name, other, by_address, model)
    if problems:
        raise PlanError(problems)


def _disagreeing(obj: DesiredObject, name: str, other: str, by_address: Mapping[str, DesiredObject],
                 model: ApiModel) -> list[Problem]:
    """The members of `obj`'s list `name` (and the objects whose list `other`, `kind.field`, names
    `obj`) that the other side's written list leaves out (or names although `obj` does not)."""
    other_kind, other_field = other.split(".", 1)
    listed = _written_keys(obj.fields[name])
    problems = []
    for peer in by_address.values():
        if peer.kind != other_kind or other_field not in peer.fields:
            continue
        names_obj = obj.key in _written_keys(peer.fields[other_field])
        if names_obj != (peer.key in listed):
            problems.append(Problem(obj.file, *obj.position(name),
                                    f"{name} {'lists' if peer.key in listed else 'leaves out'} {peer.address}, whose "
                                    f"{other_field} {'leaves out' if peer.key in listed else 'lists'} {obj.address} "
                                    f"({peer.location(other_field)}): write the relation from one side only",
                                    obj.address, name))
    return problems


def _written_keys(value: Json) -> set[Key]:
    """The natural keys a written reference list names (`[{group: NAME}, ...]`, or references
    already resolved); ids written as such name no key."""
    keys: set[Key] = set()
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Ref) and item.key is not None:
            keys.add(item.key)
        elif isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), str):
            keys.add((next(iter(item.values())),))
    return keys


def check_conflicts(desired: list[DesiredObject], model: ApiModel, matching: Matching, live: LiveState) -> None:
    """An object whose key a live object of another kind in the same scope holds cannot be created
    (stage names: `stage with this name already exists`, recordings 71, 72; policy names: flows
    recordings 203, 204): say so at plan time."""
    problems = []
    for pair in matching.pairs:
        obj = pair.desired
        kind = model.kinds[obj.kind]
        if obj.state != "present" or pair.live is not None or model.shared_scope(kind) is None:
            continue
        other = live.member_kind(kind.family, obj.key)
        if other is not None and other != obj.kind:
            field_name = kind.key[0]
            problems.append(Problem(obj.file, *obj.position(field_name),
                                    f"a live {other} {kind.family} already has this {field_name} ({kind.family} "
                                    f"{field_name}s are unique across kinds); rename one or change the kind",
                                    obj.address, field_name))
    if problems:
        raise PlanError(problems)


def compare(matching: Matching, live: LiveState, model: ApiModel, secrets: StateFile,
            options: PlanOptions) -> DiffResult:
    """Step 7: the diff; its problems (a create missing a required field, a PUT without a
    write-only value, a delete that would take a kept object with it) fail the plan."""
    result = diff(matching, live, model, secrets, resend_secrets=options.resend_secrets,
                  ignore=options.ignore_changes)
    if result.problems:
        raise PlanError(result.problems)
    return result


def nesting_depth(model: ApiModel, kind: Kind) -> int:
    """0 for kinds written at the top of a manifest, 1 for a flow's bindings, 2 for the policy
    bindings of a binding: the deepest place a kind can be written."""
    parents = model.parents_of(kind)
    return 1 + max(nesting_depth(model, parent) for parent, _ in parents) if parents else 0


def guarded_deletes(changes: Iterable[Change], live: LiveState, model: ApiModel) -> list[tuple[str, Change]]:
    """The deletes of an object that another object's guarding field points at (a brand's
    authentication flow, ...: `Target.guards` in the model), each with the reason."""
    found: list[tuple[str, Change]] = []
    # Each delete's own scoped id and what it takes, worked out once, not per guarding object.
    deletes = [(c, model.kinds[c.kind].id_key(c.id), frozenset(c.takes)) for c in changes if isinstance(c, Delete)]
    going = {own for _, own, _ in deletes}
    for guard, spec in model.targets.items():
        for obj in live.lists.get(spec.path, []) if spec.guards and deletes else ():
            # an application deleted in the same plan no longer needs its provider
            if not going & set(model.ref_keys(Ref(guard, pk=obj.get(spec.id)))):
                found += _guarded_by(model, guard, obj, deletes)
    return found


def _guarded_by(model: ApiModel, guard: str, obj: Mapping[str, Json],
                deletes: list[tuple[Delete, IdKey, frozenset[IdKey]]]) -> list[tuple[str, Change]]:
    """The deletes among `deletes` of what `obj`, an object of the `guard` target, guards."""
    spec = model.targets[guard]
    listing = model.kind_listing(guard)
    noun = listing.manifest_kind if listing is not None \
        else spec.path.rstrip("/").rsplit("/", 1)[-1].removesuffix("s")  # a brand (2023: a tenant)
    name = display_key(tuple(obj.get(field) for field in spec.key))
    found: list[tuple[str, Change]] = []
    for guarding, target in spec.guards.items():
        value = obj.get(guarding)
        held = {key for ident in (value if isinstance(value, list) else [value])  # backchannel_providers: a list
                for key in model.ref_keys(Ref(target, pk=ident))}
        for change, own, takes in deletes if held else ():
            if own in held:
                found.append((f"it deletes {change.address}, the {guarding} of the {noun} {name}", change))
            elif held & takes:  # deleted with it in a cascade
                found.append((f"it deletes {change.address}, which takes the {guarding} of the {noun} {name} "
                              "with it", change))
    return found


def check_safety(changes: list[Change], owned: int, live: LiveState, model: ApiModel, safety: Safety) -> None:
    """Step 7b: refuse, with `UnsafePlanError`, a plan that deletes or replaces more than a share of
    the owned objects, or deletes a flow a brand uses (octoDNS's `raise_if_unsafe`); `--force`
    skips this step."""
    reasons: list[str] = []
    listed: list[str] = []
    destructive = [c for c in changes if isinstance(c, Delete | Replace)]
    if owned >= safety.min_owned and len(destructive) > safety.max_delete_share * owned:
        reasons.append(f"it deletes or replaces {len(destructive)} of the {owned} objects this repository owns "
                       f"(more than {safety.max_delete_share:.0%}):")
        listed += [f"{c.action} {c.address}" for c in destructive]
    if safety.protect_brand_flows:
        for reason, change in guarded_deletes(changes, live, model):
            reasons.append(reason)
            listed.append(f"{change.action} {change.address}")
    if reasons:
        raise UnsafePlanError(reasons, listed)


def order(changes: list[Change], desired: list[DesiredObject], model: ApiModel) -> tuple[Change, ...]:
    """Step 8: the order apply makes the calls in: stages, policies and flows, then bindings, then
    policy bindings (deletes the other way round), each after what it references; a reference
    cycle fails the plan at each of its members' manifests."""
    depth = {name: nesting_depth(model, kind) for name, kind in model.kinds.items()}
    try:
        return order_changes(sorted(changes, key=lambda change: depth[change.kind]))
    except CycleError as exc:
        members = set(exc.members)
        problems = [Problem(o.file, *o.position(), str(exc), o.address) for o in desired if o.address in members]
        if not problems:  # a cycle of deletes: its members are in no manifest any more
            raise
        raise PlanError(problems) from exc


def deletes_after_referrers(changes: list[Change], live: LiveState, model: ApiModel) -> list[Change]:
    """Each delete after the deletes of the objects that point at it: an application goes before
    the provider it uses, an outpost before its providers (issue 17: a provider deleted first
    would leave the application without one, apps 521, 522)."""
    deletes = {model.kinds[c.kind].id_key(c.id): c.address for c in changes if isinstance(c, Delete)}
    after: dict[str, set[str]] = {}
    for change in changes:
        if isinstance(change, Delete):
            for key in _referenced_keys(change, live, model):
                if key in deletes and deletes[key] != change.address:
                    after.setdefault(deletes[key], set()).add(change.address)
    return [replace(c, depends_on=c.depends_on | after[c.address]) if c.address in after else c for c in changes]


def _referenced_keys(change: Change, live: LiveState, model: ApiModel) -> Iterator[IdKey]:
    """The scoped ids the live object of a delete points at. A relation both sides hold (a
    group's users, a user's groups) is followed from one side only: from both, a group and its
    member would each wait for the other."""
    kind = model.kinds[change.kind]
    current = live.by_id(kind, change.id) or {}
    for name, spec in kind.fields.items():
        value = current.get(name) if spec.reference and name not in kind.mirrored else None
        for ident in value if isinstance(value, list) else [value] if value is not None else []:
            yield from model.ref_keys(Ref(str(spec.reference), pk=ident))


def stamp(changes: tuple[Change, ...], live: LiveState, model: ApiModel, secrets: StateFile) -> tuple[Change, ...]:
    """Add to each change what a saved plan is checked with before it is applied: the fingerprint
    of the live object it was computed from (for a create, the live objects that already share its
    key), and of each secret value it sends."""
    stamped = []
    for change in changes:
        kind = model.kinds[change.kind]
        current = live.written(kind, change.id)
        body = change.body() or {}
        stamped.append(replace(
            change,
            live=live_fingerprint(kind, current, secrets) if current is not None else None,
            same_key=tuple(same_key_ids(kind, change, live, model)) if change.id is None and not kind.singleton else (),
            secrets={name: secrets.fingerprint(change.address, name, value.reveal())
                     for name, value in body.items() if isinstance(value, Secret)}))
    return tuple(stamped)


async def consequences(client: Client, live: LiveState, model: ApiModel, changes: tuple[Change, ...],
                       secrets: StateFile, progress: Callable[[str], None] | None = None,
                       ) -> tuple[LiveState, tuple[Change, ...]]:
    """Step 10: what the changes set off, read with one list call per kind the plan has not read:
    the blueprint instances that will set a change back (`blueprint_conflicts`, and drift they made
    since the last apply the state file records), and what runs or uses each changed object
    (`impact`)."""
    paths = impact_paths(changes, model)
    instances = instances_path(model)
    if instances is not None and may_conflict(changes, model):
        paths.add(instances)
    live = await fetch_more(client, live, paths, progress)
    return live, with_impact(with_blueprint_conflicts(changes, live, model, secrets.last_apply), live, model)


def unmanaged(matching: Matching, model: ApiModel) -> tuple[Unmanaged, ...]:
    """Live objects of the kinds the manifests describe that no manifest describes."""
    return tuple(sorted((Unmanaged(o.kind, o.address, o.live.get(model.kinds[o.kind].id_field))
                         for o in matching.orphans if not o.managed), key=lambda item: item.address))


def check_ignored(names: Collection[str], desired: Iterable[DesiredObject], model: ApiModel) -> None:
    """`--ignore-changes FIELD` names a field of a kind the manifests describe, in the model in
    use: a misspelt field would otherwise ignore nothing, silently."""
    kinds = sorted({obj.kind for obj in desired})
    fields = sorted({name for kind in kinds for name in model.kinds[kind].fields})
    reasons = []
    for name in sorted(set(names) - set(fields)):
        close = difflib.get_close_matches(name, fields, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        reasons.append(f"--ignore-changes {name}: no kind in the manifests has this field in authentik "
                       f"{model.version}{hint}")
    if reasons:
        raise ReconcilerError("; ".join(reasons))


def default_state_path(paths: list[str | Path]) -> Path:
    """The state file for manifests under `paths`: the nearest `reconciler.state.json` from the
    first path up to the repository root, so `plan repo/` and `plan repo/sub/` share one; a new
    one goes to the repository root (the folder holding `.git`), else beside the manifests."""
    return nearest(paths, STATE_FILE) or repository_root(paths) / STATE_FILE


def open_state(client: Client, options: PlanOptions, paths: list[str | Path],
                 recorded: str | None = None) -> StateFile:
    """The fingerprint store: keyed by `RECONCILER_STATE_KEY` (else the token), at `--state`, the
    path a saved plan recorded (a `reconciler.state.json` inside the working folder only), or the
    nearest `reconciler.state.json`."""
    key = state_key(options.env, client.connection.token) or ""
    return StateFile(key=key.encode(), server=client.connection.display_url,
                       path=state_path(options, paths, recorded))


def state_path(options: PlanOptions, paths: list[str | Path], recorded: str | None = None) -> Path | None:
    """The state file a run reads and writes: `--state`, the one a saved plan names, else the
    nearest `reconciler.state.json` from `paths`; None when it is kept in memory (the sandbox).
    The CLI says which before it runs."""
    if not options.keep_state:
        return None
    return options.state_path or _recorded_state(recorded) or default_state_path(paths)


def _recorded_state(recorded: str | None) -> Path | None:
    if not recorded:
        return None
    path = Path(recorded)
    if path.is_absolute() or ".." in path.parts or path.name != STATE_FILE:
        log.warning("ignoring the state file the plan names (%s): not a %s inside this folder", recorded, STATE_FILE)
        return None
    return path


def shown_path(path: Path | None) -> str | None:
    """A path as plans and the CLI show it: relative to the working folder when inside it."""
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError):  # outside; or a symlink loop (Python 3.11), which reading it reports
        return str(path)


def owns(matching: Matching, model: ApiModel) -> tuple[Owned, ...]:
    """The objects the manifests describe, with the file describing each: an apply of the plan
    makes the repository own them (an object it creates has its id once created). A singleton
    (the settings) is nobody's: it is never pruned."""
    return tuple(Owned(pair.desired.address, pair.desired.kind,
                       pair.live[model.kinds[pair.desired.kind].id_field] if pair.live is not None else None,
                       pair.desired.file)
                 for pair in matching.pairs
                 if pair.desired.state == "present" and not model.kinds[pair.desired.kind].singleton)


def gone(owned: Mapping[str, OwnedRecord], live: LiveState, model: ApiModel) -> set[tuple[str, Any]]:
    """The (kind, id) of owned objects the lists read show gone (deleted by hand, or in a cascade)."""
    found = set()
    for record in owned.values():
        kind = model.kinds.get(record.kind)
        if kind is not None and record.id is not None and kind.path in live.lists \
                and live.by_id(kind, record.id) is None:
            found.add((record.kind, record.id))
    return found


def owned_count(owned: Mapping[str, OwnedRecord], live: LiveState, model: ApiModel) -> int:
    """How many owned objects exist: records of objects gone do not count, so the safety threshold
    does not loosen over time."""
    missing = gone(owned, live, model)
    return sum(1 for r in owned.values() if r.id is not None and r.kind in model.kinds
               and (r.kind, r.id) not in missing)


def referenced_ids(desired: list[DesiredObject], model: ApiModel) -> set[IdKey]:
    """The scoped ids the described objects point at: those objects must stay, owned or not."""
    return {key for obj in desired if obj.state == "present" for ref in refs_in(obj.fields)
            for key in model.ref_keys(ref)}


async def make_plan(client: Client, paths: list[str | Path], options: PlanOptions,
                    secrets: StateFile | None = None) -> PlanSession:
    """Every step, in order, for the manifests under `paths`."""
    manifests = substitute(load(paths), options.variables)
    config = options.config or load_config(find_config(paths))
    pruning = config.prune if options.prune is None else options.prune
    model = model_for(await client.version(), options.api_version)
    desired = resolve_secrets(validate(manifests, model), model, options.env, options.file_rule(paths))
    check_ignored(options.ignore_changes, desired, model)
    check_mirrored(desired, model)
    if secrets is None:
        secrets = open_state(client, options, paths)
    owned = secrets.owned()
    if pruning and not manifests.files:
        raise ReconcilerError("--prune with no manifest file would delete everything the repository owns: "
                              "give the folder of the manifests")
    if pruning:
        refuse_partial(manifests.skipped)
    prunable = prunable_kinds(model, options.prune_kinds) if pruning else frozenset()
    live = await fetch(client, model, live_paths(desired, model, {r.kind for r in owned.values()} & prunable),
                       options.progress, own_list_scope(desired, owned))
    matching = match(desired, live, model)
    live = await fetch_more(client, live, matched_paths(matching, model), options.progress)
    check_conflicts(desired, model, matching, live)
    desired = resolve_refs(desired, model, live, matching)
    matching = matching.rebind(desired)
    if pruning:
        within = [named_path(p) for p in paths]
        matching = prune(matching, live, model, owned, within, referenced_ids(desired, model), manifests.links,
                         prunable)
    result = compare(matching, live, model, secrets, options)
    if not options.force:
        check_safety(result.changes, owned_count(owned, live, model), live, model, config.safety)
    changes = stamp(order(deletes_after_referrers(result.changes, live, model), desired, model), live, model, secrets)
    live, changes = await consequences(client, live, model, changes, secrets, options.progress)
    plan = Plan(api_version=model.version, changes=changes, unchanged=result.unchanged,
                server=client.connection.display_url, unmanaged=unmanaged(matching, model),
                manifests_digest=manifests.digest, manifest_files=len(manifests.files), key_id=secrets.key_id,
                created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                state_file=shown_path(secrets.path), owns=owns(matching, model), forced=options.force,
                guarded=config.safety.protect_brand_flows)
    return PlanSession(plan=plan, model=model, live=live, secrets=secrets)
