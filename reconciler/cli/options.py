"""The options commands share, the global options (given before or after the command), and what
they build: the connection to authentik and the options of a run with its state file."""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from reconciler.cli.logs import SCRUBBER_KEY, LogScrubber, log_to_stderr
from reconciler.cli.outcomes import REPORTER_KEY, Reporter
from reconciler.cli.progress import ReadProgress, announce_wait
from reconciler.errors import ReconcilerError
from reconciler.model.versions import known_versions
from reconciler.values import JsonObject

if TYPE_CHECKING:
    from reconciler.engine import PlanOptions
    from reconciler.manifests.variables import Variables
    from reconciler.server.client import Connection

__all__ = ["VERBOSE", "FORMAT", "connection_options", "server_options", "plan_options", "variables_options",
           "ReconcilerCommand", "connection", "run_options", "StateLine", "SANDBOX_TOKEN", "variables_given",
           "command_variables", "complete_kind"]

SANDBOX_TOKEN = "sandbox-token"
TIMEOUT_KEY = "reconciler.timeout"
RETRIES_KEY = "reconciler.retries"
VARS_KEY = "reconciler.vars"
ENV_KEY = "reconciler.env"
POLICY_OPTIONS = {"timeout": TIMEOUT_KEY, "retries": RETRIES_KEY}
VARIABLE_OPTIONS = {"vars_file": VARS_KEY, "environment": ENV_KEY}
"""Options `ReconcilerCommand` moves from the parameters into the context for `connection` and
`command_variables`, so each command's signature stays as it is."""
TIMEOUT_RANGE = (0.1, 3600)
RETRIES_RANGE = (0, 20)
"""`Connection`'s bounds (`reconciler.server.client`; not imported: --help stays light), pinned by
a test."""


class Seconds(click.FloatRange):
    """A finite number of seconds in a range: `inf` would wait forever, and `nan` compares false
    with every bound (a deadline of nan seconds fails every call at once, blaming the server)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return super().convert(value, param, ctx)  # click's own words for what is no number
        if not math.isfinite(seconds):
            self.fail(f"{seconds} is not a finite number of seconds.", param, ctx)
        return super().convert(seconds, param, ctx)


VERBOSE = click.option("-v", "--verbose", count=True, help="log what the tool does (to stderr; -vv: more)")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                      show_default=True, help="output format")


def _decorate(func: Callable[..., Any], options: list[Callable[[Callable[..., Any]], Any]]) -> Callable[..., Any]:
    """`func` with `options`, listed in `--help` in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where authentik is: the options every command that talks to a server takes."""
    return _decorate(func, [
        click.option("--url", envvar="AUTHENTIK_URL", help="authentik base URL [env AUTHENTIK_URL]"),
        click.option("--token", envvar="AUTHENTIK_TOKEN", help="API token [env AUTHENTIK_TOKEN]"),
        click.option("--insecure", envvar="AUTHENTIK_INSECURE", is_flag=True,
                     help="skip TLS verification [env AUTHENTIK_INSECURE]"),
        click.option("--sandbox", is_flag=True, help="run against the embedded authentik emulator"),
        click.option("--api-version", type=click.Choice(known_versions()),
                     help="API model to use (default: the server's version)"),
        click.option("--timeout", envvar="AUTHENTIK_TIMEOUT", metavar="SECONDS",
                     type=Seconds(*TIMEOUT_RANGE),
                     help="give up on a call after SECONDS, its answer read in full (default 30) "
                          "[env AUTHENTIK_TIMEOUT]"),
        click.option("--retries", envvar="AUTHENTIK_RETRIES", metavar="N", type=click.IntRange(*RETRIES_RANGE),
                     help="send a call that failed on throttling, a gateway error or no connection again, up "
                          "to N times, where that is safe; apply also makes good a write whose answer was lost "
                          "up to N times (0: never, it is reported unknown) (default 3) [env AUTHENTIK_RETRIES]"),
    ])


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The connection, and the state file (secret fingerprints and owned objects)."""
    func = click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="the state file: secret fingerprints and owned objects (default: the nearest "
                             "reconciler.state.json, up to the repository root)")(func)
    return connection_options(func)


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return _decorate(func, [
        click.option("--resend-secrets", is_flag=True, help="send every write-only secret again"),
        click.option("--ignore-changes", multiple=True, metavar="FIELD",
                     help="never plan changes to FIELD (repeatable)"),
        click.option("--prune/--no-prune", default=None,
                     help="plan deletes of owned objects that left the manifests (default: reconciler.toml's "
                          "prune, else no)"),
        click.option("--prune-kind", "prune_kinds", multiple=True, metavar="KIND",
                     help="with --prune, also delete owned objects of this kind of data (user), which --prune "
                          "alone never deletes (repeatable)"),
        click.option("--force", is_flag=True, help="accept a plan over the safety thresholds"),
        click.option("--allow-file-outside", multiple=True, metavar="DIR",
                     type=click.Path(file_okay=False, path_type=Path),
                     help="read {file: PATH} secrets from DIR too, outside the repository (repeatable)"),
    ])


def variables_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where `{var: NAME}` values come from: a variables file, or an environment's by name."""
    return _decorate(func, [
        click.option("--vars", "vars_file", envvar="RECONCILER_VARS", metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="a YAML file of the values {var: NAME} stands for [env RECONCILER_VARS]"),
        click.option("--env", "environment", metavar="NAME", shell_complete=_complete_environment,
                     help="the variables of environments/NAME.yaml (the nearest from the manifests up to the "
                          "repository root)"),
    ])


def _complete_environment(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """The names of the `environments/*.yaml` files above the manifests given so far (or here)."""
    from reconciler.repo import folders_up

    paths = list(ctx.params.get("paths") or ())
    names = {path.stem for folder in folders_up(paths) for path in (folder / "environments").glob("*.yaml")}
    return sorted(name for name in names if name.startswith(incomplete))


def complete_kind(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a kind: the manifest kinds (`expression`) and the model kinds
    (`expression_policy`) of the API version given so far, else the newest."""
    from reconciler.model.kinds import load_model
    from reconciler.model.versions import latest_version

    model = load_model(ctx.params.get("api_version") or latest_version())
    names = {name for kind in model.kinds.values() for name in (kind.name, kind.manifest_kind)}
    return sorted(name for name in names if name.startswith(incomplete))


def variables_given() -> bool:
    """Whether the command line names variables (RECONCILER_VARS set for a whole CI job does not
    count: `apply --plan` ignores it)."""
    ctx = click.get_current_context()
    return any(ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE for name in ("vars_file", "environment"))


def command_variables(paths: list[Path]) -> Variables:
    """The variables `--vars FILE` (or RECONCILER_VARS) or `--env NAME` name, for the manifests
    under `paths`; none when neither is given."""
    from reconciler.manifests.variables import Variables, environment_file, load_variables

    context = click.get_current_context(silent=True)
    meta = context.meta if context is not None else {}
    vars_file, environment = meta.get(VARS_KEY), meta.get(ENV_KEY)
    if vars_file is not None and environment is not None:
        raise click.UsageError("give --vars FILE (or RECONCILER_VARS) or --env NAME, not both")
    if environment is not None:
        return load_variables(environment_file(list(paths), environment))
    return Variables() if vars_file is None else load_variables(vars_file)


class ReconcilerCommand(click.Command):
    """A command that also takes the options the group takes, like kubectl's global flags: given
    before the command (`reconciler --sandbox -v plan x`) they count as the command's own, given
    after it they win. Each is checked against the command's own option (its choices), and one
    the command does not take is a usage error. `report_keys`: the top-level keys of the
    command's JSON report, which a failure reported as JSON keeps (`Reporter`)."""

    def __init__(self, *args: Any, report_keys: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report_keys = report_keys
        VERBOSE(self)  # every command takes -v, wherever it is written

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:
            _take_group_options(ctx, ctx.parent)
        log_to_stderr(ctx, ctx.params.pop("verbose"))
        for name, key in {**POLICY_OPTIONS, **VARIABLE_OPTIONS}.items():
            value = ctx.params.pop(name, None)
            if value is not None:
                ctx.meta[key] = value
        # From here on a failure is the command's own: written in the format it was asked for.
        ctx.meta[REPORTER_KEY] = Reporter(ctx.params.get("fmt", "text"), self.report_keys)
        return super().invoke(ctx)


def _take_group_options(ctx: click.Context, group: click.Context) -> None:
    """Fill `ctx`'s parameters from the options written before the command name."""
    own = {param.name: param for param in ctx.command.params}
    for param in group.command.params:
        name = param.name
        if name is None or group.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        if name not in own:
            raise click.UsageError(f"'{ctx.command_path}' does not take {param.opts[-1]}", ctx)
        if name == "verbose":
            ctx.params[name] += group.params[name]
        elif ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            ctx.params[name] = own[name].type_cast_value(ctx, group.params[name])


def connection(url: str | None, token: str | None, insecure: bool, sandbox: bool,
               api_version: str | None) -> Connection:
    """The connection the options describe: the sandbox in-process, or a server with its token
    (which the log scrubber learns, so `-v` never shows it)."""
    from reconciler.model.versions import latest_version
    from reconciler.server.client import Connection

    context = click.get_current_context(silent=True)
    meta = context.meta if context is not None else {}
    # Connection's own defaults where no option gave a value: one place holds them.
    policy: JsonObject = {name: meta[key] for name, key in POLICY_OPTIONS.items() if meta.get(key) is not None}
    policy["on_wait"] = announce_wait
    if sandbox:
        from reconciler.sandbox import Sandbox  # the emulator only loads when asked for

        emulator = Sandbox(api_version=api_version or latest_version(), token=SANDBOX_TOKEN)
        return Connection(url="http://sandbox", token=SANDBOX_TOKEN, transport=emulator.transport(), **policy)
    if not url:
        raise ReconcilerError("no server: set AUTHENTIK_URL or --url (or use --sandbox)")
    if not token:
        raise ReconcilerError("no API token: set AUTHENTIK_TOKEN or --token")
    scrubber = meta.get(SCRUBBER_KEY)
    if isinstance(scrubber, LogScrubber):
        scrubber.secrets.add(token.strip())
    return Connection(url=url, token=token, insecure=insecure, **policy)


def run_options(paths: list[Path], sandbox: bool, api_version: str | None, state_path: Path | None, *,
                recorded: str | None = None, resend_secrets: bool = False, ignore_changes: tuple[str, ...] = (),
                prune: bool | None = None, force: bool = False, allow_file_outside: tuple[Path, ...] = (),
                reads: ReadProgress | None = None, saved: bool = False,
                prune_kinds: tuple[str, ...] = ()) -> tuple[PlanOptions, StateLine]:
    """The options of a run over `paths` (or, `saved`, a saved plan's file, whose state file is
    `recorded` and whose values are in it: no variables are read), with the state file it uses
    settled (`pipeline.state_path`), so what is said is what is used."""
    from reconciler.engine import PlanOptions
    from reconciler.manifests.variables import Variables
    from reconciler.planning import pipeline

    options = PlanOptions(api_version=api_version, state_path=state_path,
                          keep_state=not sandbox or state_path is not None,
                          resend_secrets=resend_secrets, ignore_changes=frozenset(ignore_changes),
                          prune=prune, force=force, allow_file_outside=allow_file_outside, progress=reads,
                          prune_kinds=frozenset(prune_kinds),
                          variables=Variables() if saved else command_variables(paths))
    settled = pipeline.state_path(options, list(paths), recorded)
    return replace(options, state_path=settled), StateLine(pipeline.shown_path(settled))


@dataclass
class StateLine:
    """The state file a run uses, as the JSON output shows it (None: kept in memory), said once
    on stderr when the run has used it: a run that fails before (an invalid manifest, an
    unreachable server) says nothing of it."""

    shown: str | None
    said: bool = False

    def say(self) -> None:
        if self.said:
            return
        self.said = True
        if self.shown is None:
            click.echo("state: none (sandbox)", err=True)
        else:
            click.echo(f"state: {self.shown if Path(self.shown).is_absolute() else os.path.join('.', self.shown)}",
                       err=True)
