"""Fuzzing the command line's inputs (issue #20): whole manifests of random structure through
`validate` and `plan`, mutated saved plans through `show` and `apply --plan`, mutated state files
through `plan`, and wrong server answers (the sandbox's faults and misanswers) through `plan` and
`apply`. Every run ends in exit 0, 1 or 2 with a message, never exit 3 (an internal error) nor a
traceback, and no output holds a secret (a marker) or the API token.

The CLI runs in-process (`CliRunner`) against the sandbox, so CI's budget is small and fixed
(`derandomize=True`); `RECONCILER_FUZZ_EXAMPLES=5000` runs each fuzz test that many times, with
fresh random inputs. An input that failed is saved under `fixtures/fuzz/cli/` (a regression case)
and replayed by the plain tests at the end."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from reconciler.cli.main import cli
from reconciler.model.kinds import load_model
from reconciler.sandbox import Sandbox, misanswers
from reconciler.sandbox.server import serve_in_thread

FUZZ = Path(__file__).parent / "fixtures" / "fuzz" / "cli"
EXAMPLES = Path(__file__).parent.parent / "examples" / "config"
VERSION = "2026.2.2"
MARKER = "fuzz-marker-5ecret-7c1d"
"""The value of every secret the fuzzed runs can reach: it must never be in their output."""
TOKEN = f"{MARKER}-token"
ENV = {"DUO_CLIENT_SECRET": f"{MARKER}-duo", "TWILIO_AUTH_TOKEN": f"{MARKER}-twilio", "FUZZ_SECRET": MARKER,
       "GRAFANA_CLIENT_SECRET": f"{MARKER}-grafana", "NO_COLOR": "1"}

LONG_RUN = int(os.environ.get("RECONCILER_FUZZ_EXAMPLES", "0"))


def budget(examples: int) -> settings:
    """CI: `examples` inputs, the same ones every run. By hand (`RECONCILER_FUZZ_EXAMPLES=N`): N fresh
    random ones."""
    return settings(max_examples=LONG_RUN or examples, derandomize=not LONG_RUN, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# -- running the CLI and checking how it ended ---------------------------------------------------------------

def invoke(*args: str) -> Result:
    """`reconciler ARGS` in-process, with only the marker secrets in the environment."""
    environ: dict[str, str | None] = {key: None for key in os.environ
                                      if key.startswith(("AUTHENTIK_", "RECONCILER_", "GITHUB_"))}
    environ.update(ENV)
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def crash_details(result: Result) -> str:
    """The traceback an exit 3 wrote to its log file (which is then removed)."""
    found = re.search(r"details in (\S+\.log)", result.output) or re.search(r'"traceback_file": "([^"]+)"',
                                                                           result.output)
    if not found:
        return ""
    log = Path(found.group(1))
    text = log.read_text() if log.is_file() else ""
    log.unlink(missing_ok=True)
    return text


def assert_ends_well(result: Result) -> None:
    """The property: exit 0, 1 or 2 with a message, no traceback, no secret."""
    crash = crash_details(result)
    assert result.exit_code in (0, 1, 2), f"exit {result.exit_code}\n{result.output}\n{crash}"
    assert result.output.strip(), "no message"
    assert "Traceback (most recent call last)" not in result.output
    assert MARKER not in result.output, result.output


@contextmanager
def kept(kind: str, data: bytes, suffix: str) -> Iterator[None]:
    """Save `data` as `fixtures/fuzz/cli/KIND/new-failure.*` when the block fails: a regression case
    (hypothesis shrinks a failing input, then runs the smallest last, so the file ends as that one;
    rename it after the failure)."""
    try:
        yield
    except Exception:
        folder = FUZZ / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"new-failure{suffix}").write_bytes(data)
        raise


# -- manifests: whole files of random structure ------------------------------------------------------------

MODEL = load_model(VERSION)
KINDS = {kind.manifest_kind: kind for kind in MODEL.kinds.values() if kind.section}
SECTIONS = sorted(MODEL.sections)
NAMES = ["default-authentication-flow", "default-authentication-password", "default-authentication-login",
         "default-authentication-identification", "default-password-change", "outside-office", "x", ""]
REFERENCES = [{"stage": name} for name in NAMES[1:4]] + [{"flow": NAMES[0]}, {"policy": "outside-office"},
                                                          {"flow": "missing"}, {"stage": None}]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10), st.sampled_from(NAMES),
    st.sampled_from(REFERENCES), st.sampled_from([{"env": "FUZZ_SECRET"}, {"env": "UNSET_VAR"}, {"file": "secret.txt"},
                                                  {"file": "../secret.txt"}, {"file": "/etc/passwd"}, {"env": None}]))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(["name", "kind", "env", "file", "stage", "flow",
                                                                      "x", "order", "target"]), children,
                                                    max_size=3)), max_leaves=8)
SECRET_VALUES = st.sampled_from([{"env": "FUZZ_SECRET"}, {"file": "secret.txt"}, MARKER, [MARKER], {"x": MARKER},
                                 {"env": "FUZZ_SECRET", "file": "secret.txt"}, 5, None, f"{MARKER}\x00"])


@st.composite
def manifest_objects(draw: st.DrawFn) -> dict[str, Any]:
    """An object of a real kind, some of its own fields with random values (its secrets: the marker,
    or a source of it), maybe a field it lacks."""
    kind = KINDS[draw(st.sampled_from(sorted(KINDS)))]
    obj: dict[str, Any] = {"kind": draw(st.one_of(st.just(kind.manifest_kind), VALUES))}
    for name in draw(st.lists(st.sampled_from(sorted(kind.fields)), max_size=5, unique=True)):
        obj[name] = draw(SECRET_VALUES if kind.fields[name].sensitive else VALUES)
    if kind.key and draw(st.booleans()):  # the settings singleton has no key
        obj[kind.key[0]] = draw(st.sampled_from(NAMES))
    if draw(st.integers(0, 9)) == 0:
        obj[draw(st.sampled_from(["x", "pk", "state", "ignore_changes"]))] = draw(VALUES)
    return obj


MANIFESTS = st.dictionaries(
    st.one_of(st.sampled_from(SECTIONS), st.sampled_from(["x", "stage", "kind"])),
    st.one_of(st.lists(manifest_objects(), max_size=4), VALUES), max_size=3,
).map(lambda sections: sections or {"stages": []})


def manifest_text(document: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(document).encode()
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


def check_manifest(data: bytes, suffix: str, folder: Path, args: tuple[str, ...]) -> None:
    (folder / "secret.txt").write_text(MARKER)
    path = folder / f"fuzzed{suffix}"
    path.write_bytes(data)
    with chdir(folder):
        assert_ends_well(invoke(args[0], str(path), *args[1:]))


MANIFEST_RUNS = [("validate",), ("validate", "--format", "json"), ("plan", "--sandbox"),
                 ("plan", "--sandbox", "--format", "json"), ("plan", "--sandbox", "--format", "markdown")]


@budget(60)
@given(MANIFESTS, st.booleans(), st.sampled_from(MANIFEST_RUNS))
def test_random_manifests_end_in_an_exit_code_and_a_message(document: Any, as_json: bool,
                                                             args: tuple[str, ...]) -> None:
    data, suffix = manifest_text(document, as_json), ".json" if as_json else ".yaml"
    with tempfile.TemporaryDirectory() as folder, kept("manifest", data, suffix):
        check_manifest(data, suffix, Path(folder), args)


# -- saved plans and state files: mutations of real ones ----------------------------------------------------

HUGE = "__fuzz_huge__"
DEEP = "__fuzz_deep__"
ODD_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1.5, 2**63, -2**63 - 1, 10**30, 1e308, float("inf"), float("nan"),
                     "", "x", [], {}, [None], {"": None}, HUGE, DEEP, MARKER, "../../etc/passwd", "\x00"]),
    st.text(max_size=8), st.integers())


def locations(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every node of `doc`, the root included."""
    yield at
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from locations(value, (*at, key))


def node(doc: Any, at: tuple[Any, ...]) -> Any:
    for key in at:
        doc = doc[key]
    return doc


@st.composite
def mutations(draw: st.DrawFn, base: Any) -> bytes:
    """`base` with 1 to 3 nodes changed: a value of another type, a key dropped or added, a list
    emptied or doubled; as JSON, with huge numbers and deep nesting spliced into the text."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(list(locations(doc))))
        target = node(doc, at)
        action = draw(st.sampled_from(["swap", "swap", "drop", "add", "empty", "double"]))
        if action == "swap" and at:
            node(doc, at[:-1])[at[-1]] = draw(ODD_VALUES)
        elif action == "drop" and at:
            parent = node(doc, at[:-1])
            del parent[at[-1]]
        elif action == "add" and isinstance(target, dict):
            target[draw(st.sampled_from(["x", "id", "kind", "action", "changes", "servers", "objects", ""]))] = \
                draw(ODD_VALUES)
        elif action == "empty" and isinstance(target, (dict, list)):
            target.clear()
        elif action == "double" and isinstance(target, list):
            target.extend(copy.deepcopy(target))
    text = json.dumps(doc, indent=1)
    depth = draw(st.sampled_from([64, 2_000, 200_000]))
    return text.replace(f'"{HUGE}"', "9" * 5_000).replace(f'"{DEEP}"', "[" * depth + "]" * depth).encode()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real saved plan and state file of the examples against the sandbox (its install: each run
    of `--sandbox` starts from it, so the plan applies again and again)."""
    folder = tmp_path_factory.mktemp("real")
    shutil.copytree(EXAMPLES, folder / "config")
    with chdir(folder):
        made = invoke("plan", "config", "--sandbox", "--out", "plan.json", "--state", "state.json")
        applied = invoke("apply", "config", "--sandbox", "--auto-approve", "--state", "state.json")
    assert (made.exit_code, applied.exit_code) == (0, 0), made.output + applied.output
    return {"plan": json.loads((folder / "plan.json").read_text()),
            "state": json.loads((folder / "state.json").read_text()), "config": folder / "config"}


def check_plan_file(data: bytes, folder: Path, args: tuple[str, ...]) -> None:
    path = folder / "plan.json"
    path.write_bytes(data)
    with chdir(folder):
        assert_ends_well(invoke(*(str(path) if arg == "PLAN" else arg for arg in args)))


PLAN_RUNS = [("show", "PLAN"), ("show", "PLAN", "--format", "json"),
             ("apply", "--plan", "PLAN", "--sandbox", "--auto-approve"),
             ("apply", "--plan", "PLAN", "--sandbox", "--auto-approve", "--format", "json")]


@budget(50)
@given(st.data(), st.sampled_from(PLAN_RUNS))
def test_mutated_saved_plans_end_in_an_exit_code_and_a_message(real: dict[str, Any], data: st.DataObject,
                                                               args: tuple[str, ...]) -> None:
    plan_file = data.draw(mutations(real["plan"]))
    with tempfile.TemporaryDirectory() as folder, kept("plan", plan_file, ".json"):
        check_plan_file(plan_file, Path(folder), args)


def check_state_file(data: bytes, folder: Path, config: Path, args: tuple[str, ...]) -> None:
    shutil.copytree(config, folder / "config", dirs_exist_ok=True)
    (folder / "state.json").write_bytes(data)
    with chdir(folder):
        assert_ends_well(invoke("plan", "config", "--sandbox", "--state", "state.json", *args))


@budget(40)
@given(st.data(), st.sampled_from([(), ("--prune",), ("--format", "json")]))
def test_mutated_state_files_end_in_an_exit_code_and_a_message(real: dict[str, Any], data: st.DataObject,
                                                               args: tuple[str, ...]) -> None:
    state_file = data.draw(mutations(real["state"]))
    with tempfile.TemporaryDirectory() as folder, kept("state", state_file, ".json"):
        check_state_file(state_file, Path(folder), real["config"], args)


# -- server answers: the sandbox's faults and misanswers ----------------------------------------------------

class Dispatcher:
    """One server on 127.0.0.1 for the whole module, answering with a fresh sandbox per example
    (starting a server takes longer than a plan)."""

    def __init__(self) -> None:
        self.sandbox = Sandbox(api_version=VERSION, token=TOKEN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sandbox.app(scope, receive, send)


CURRENT = Dispatcher()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread(CURRENT, "127.0.0.1", 0) as address:
        yield address


PATHS = ["/admin/version/", "/stages/all/", "/stages/password/", "/stages/identification/", "/stages/authenticator/",
         "/stages/", "/flows/instances/", "/flows/bindings/", "/policies/", "/policies/bindings/", "/"]
METHODS = ["GET", "GET", "POST", "PATCH", "PUT", "DELETE", "*"]
MISANSWERS = st.one_of(
    st.tuples(st.just("wrong_shape"), st.sampled_from(METHODS), st.sampled_from(PATHS),
              st.sampled_from(misanswers.SHAPES)),
    st.tuples(st.just("redirect"), st.sampled_from(METHODS), st.sampled_from(PATHS),
              st.sampled_from([None, f"https://admin:{MARKER}@auth.example.com/api/v3/?token={MARKER}",
                               "/api/v3/stages/all/", "", "\u00e9t\u00e9"])),
    st.tuples(st.just("wrong_pages"), st.sampled_from(PATHS), st.sampled_from(misanswers.PAGINGS)),
    st.tuples(st.just("fail"), st.sampled_from(METHODS), st.sampled_from(PATHS),
              st.sampled_from([400, 401, 403, 404, 405, 409, 413, 500, 502, 503, 504])),
    st.tuples(st.just("drop"), st.sampled_from(METHODS), st.sampled_from(PATHS)),
    st.tuples(st.just("lose_answer"), st.sampled_from(METHODS[2:]), st.sampled_from(PATHS)),
)
ANSWER_RUNS = [("plan",), ("plan", "--format", "json"), ("apply", "--auto-approve"),
               ("apply", "--auto-approve", "--format", "json"), ("apply", "--auto-approve", "--verify")]


def schedule(sandbox: Sandbox, misanswer: list[Any]) -> None:
    how, *args = misanswer
    if how == "redirect":
        sandbox.redirect_next(args[0], args[1], location=args[2])
    else:
        getattr(sandbox, f"{how}_next")(*args)


def check_answers(case: dict[str, Any], url: str, config: Path) -> None:
    CURRENT.sandbox = Sandbox(api_version=VERSION, token=TOKEN)
    for misanswer in case["misanswers"]:
        schedule(CURRENT.sandbox, misanswer)
    assert_ends_well(invoke(*case["args"], str(config), "--url", url, "--token", TOKEN,
                            "--retries", str(case["retries"]), "--timeout", "5"))


@budget(40)
@given(st.lists(MISANSWERS, min_size=1, max_size=3), st.sampled_from(ANSWER_RUNS), st.sampled_from([0, 0, 1]))
def test_wrong_server_answers_end_in_an_exit_code_and_a_message(real: dict[str, Any], url: str,
                                                                wrong: list[Any], args: tuple[str, ...],
                                                                retries: int) -> None:
    case = {"misanswers": [list(m) for m in wrong], "args": list(args), "retries": retries}
    with kept("answers", json.dumps(case, indent=1).encode(), ".json"):
        check_answers(case, url, real["config"])


# -- every input that once failed, replayed ------------------------------------------------------------------

KNOWN: dict[str, str] = {}
"""Regression cases whose fix is on another branch (file name -> module), expected to fail until merged."""


def cases(kind: str) -> list[Any]:
    return [pytest.param(path, id=path.name, marks=[pytest.mark.xfail(
        strict=True, reason=f"issue #20: {KNOWN[path.name]} — fixed on another branch")] if path.name in KNOWN else [])
        for path in sorted((FUZZ / kind).glob("*")) if path.suffix in (".yaml", ".json")]


@pytest.mark.parametrize("path", cases("manifest"))
def test_a_manifest_that_once_failed_ends_well(path: Path, tmp_path: Path) -> None:
    for args in MANIFEST_RUNS:
        check_manifest(path.read_bytes(), path.suffix, tmp_path, args)


@pytest.mark.parametrize("path", cases("plan"))
def test_a_saved_plan_that_once_failed_ends_well(path: Path, tmp_path: Path) -> None:
    for args in PLAN_RUNS:
        check_plan_file(path.read_bytes(), tmp_path, args)


@pytest.mark.parametrize("path", cases("state"))
def test_a_state_file_that_once_failed_ends_well(path: Path, tmp_path: Path, real: dict[str, Any]) -> None:
    check_state_file(path.read_bytes(), tmp_path, real["config"], ())


@pytest.mark.parametrize("path", cases("answers"))
def test_server_answers_that_once_failed_end_well(path: Path, url: str, real: dict[str, Any]) -> None:
    check_answers(json.loads(path.read_text()), url, real["config"])
