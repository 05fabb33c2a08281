"""`reconciler init`: a new config repository. Its manifests are the server's current login flow
(an export of the flow a brand logs in with, its bindings and their policies) or a small example;
beside them the manifest schema for editors, a pre-commit config, a README, a .gitignore and, on
request, the CI kit's GitHub or GitLab workflows. Nothing existing is ever overwritten."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.exporting.entries import ExportOptions, make_export, schema_file
from reconciler.exporting.folder import with_digest
from reconciler.model.kinds import ApiModel
from reconciler.model.versions import latest_version, schema_dir
from reconciler.planning import pipeline
from reconciler.server.client import Client

__all__ = ["CI_FLAVOURS", "CONFIG_DIR", "Scaffold", "ScaffoldOptions", "kit_dir", "make_scaffold", "example_scaffold",
           "write_scaffold", "Written"]

CONFIG_DIR = "config"
CI_FLAVOURS = {"github": (".github/workflows", ("plan.yml", "apply.yml", "drift.yml")),
               "gitlab": ("", (".gitlab-ci.yml",))}
"""Per `--ci` flavour: where its files go in the repository, and the kit's files it takes."""
DEFAULT_LOGIN_FLOW = "default-authentication-flow"
KIT_RELEASE = re.compile(r"(?<=OWNER/authentik-reconciler@v)\d+\.\d+\.\d+|(?<=authentik-reconciler:)\d+\.\d+\.\d+"
                         r"|(?<=rev: v)\d+\.\d+\.\d+")
"""Where the kit names the release it pins (the action, the image, the hook's rev)."""


@dataclass(frozen=True, kw_only=True)
class ScaffoldOptions:
    ci: str | None = None
    """"github" or "gitlab": that flavour of the CI kit's workflows; None: none."""
    version: str = ""
    """The tool's version: a release (X.Y.Z) is pinned in the files instead of the kit's own."""


@dataclass(frozen=True)
class Scaffold:
    """The files of a new config repository (path relative to it -> text), and what its manifests
    describe."""

    api_version: str
    files: dict[str, str]
    manifests: str


@dataclass(frozen=True)
class Written:
    written: tuple[Path, ...]
    kept: tuple[Path, ...]
    """Files that existed already: left as they are."""


def kit_dir() -> Path:
    """`reconciler/ci` in an installed wheel, the repository's `examples/ci` in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "ci"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent.parent / "examples" / "ci"


async def login_flow(client: Client, model: ApiModel) -> str:
    """The slug of the flow users log in with: the default brand's authentication flow (any
    brand's, else authentik's default flow)."""
    flows = {flow.get("pk"): flow.get("slug") for flow in await client.list(model.targets["flow"].path)}
    brand = model.targets.get("brand")
    brands = await client.list(brand.path) if brand is not None else []
    for candidate in sorted(brands, key=lambda b: not b.get("default")):
        slug = flows.get(candidate.get("flow_authentication"))
        if isinstance(slug, str):
            return slug
    if DEFAULT_LOGIN_FLOW in flows.values():
        return DEFAULT_LOGIN_FLOW
    raise ReconcilerError("the server has no login flow (no brand names one, and there is no "
                          f"{DEFAULT_LOGIN_FLOW}): run `reconciler init --example` for an example instead")


async def make_scaffold(client: Client, options: ScaffoldOptions, api_version: str | None = None) -> Scaffold:
    """A repository whose manifests are the server's login flow, exported: they plan no change."""
    model = pipeline.model_for(await client.version(), api_version)
    slug = await login_flow(client, model)
    export = await make_export(client, ExportOptions(api_version=model.version, families=("flows",), names=(slug,)))
    manifests = {f"{CONFIG_DIR}/{file.path}": with_digest(file.text) for file in export.files}
    what = f"the login flow `{slug}` of {client.connection.display_url}, as it was on `reconciler init`"
    return _scaffold(model.version, manifests, what, options)


def example_scaffold(options: ScaffoldOptions, api_version: str | None = None) -> Scaffold:
    """A repository with a small example login flow (offline)."""
    version = api_version or latest_version()
    text = EXAMPLE.format(schema=schema_file(version))
    return _scaffold(version, {f"{CONFIG_DIR}/example-login.yaml": text}, "an example login flow", options)


def _scaffold(version: str, manifests: dict[str, str], what: str, options: ScaffoldOptions) -> Scaffold:
    files = dict(manifests)
    files[f"{CONFIG_DIR}/{schema_file(version)}"] = (schema_dir() / schema_file(version)).read_text(encoding="utf-8")
    release = options.version if re.fullmatch(r"\d+\.\d+\.\d+", options.version) else ""
    files[".pre-commit-config.yaml"] = PRE_COMMIT
    files[".gitignore"] = GITIGNORE
    files["README.md"] = README.format(what=what, ci=CI_README.get(options.ci or "", ""))
    if options.ci is not None:
        folder, names = CI_FLAVOURS[options.ci]
        source = kit_dir() / options.ci
        for name in names:
            files[f"{folder}/{name}".lstrip("/")] = (source / name).read_text(encoding="utf-8")
    if release:
        files = {path: KIT_RELEASE.sub(release, text) for path, text in files.items()}
    files[".pre-commit-config.yaml"] = KIT_RELEASE.sub(release or _kit_release(), files[".pre-commit-config.yaml"])
    return Scaffold(version, files, what)


def _kit_release() -> str:
    """The release the CI kit pins (its GitLab image's tag)."""
    text = (kit_dir() / "gitlab" / ".gitlab-ci.yml").read_text(encoding="utf-8")
    found = KIT_RELEASE.search(text)
    return found.group(0) if found else "0.0.0"


def write_scaffold(scaffold: Scaffold, directory: Path) -> Written:
    """Write the files under `directory`, each only where no file is (created exclusively, so a
    file or link made meanwhile is not replaced either)."""
    if directory.exists() and not directory.is_dir():
        raise ReconcilerError(f"cannot make a repository in {directory}: it is not a folder")
    written, kept = [], []
    for relative, text in sorted(scaffold.files.items()):
        path = directory / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8", newline="\n") as out:
                out.write(text)
        except FileExistsError:
            kept.append(path)
            continue
        except OSError as exc:
            raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from exc
        written.append(path)
    return Written(tuple(written), tuple(kept))


EXAMPLE = """\
# yaml-language-server: $schema={schema}
# An example to start from: a login flow of three stages. `reconciler plan config/` shows what
# applying it would create; `reconciler explain KIND` lists a kind's fields.
stages:
  - kind: identification
    name: example-identification
    user_fields: [username, email]
    password_stage: {{stage: example-password}}
  - kind: password
    name: example-password
    backends: [authentik.core.auth.InbuiltBackend]
  - kind: user_login
    name: example-login
    session_duration: hours=8

flows:
  - slug: example-login
    name: Example login
    title: Welcome
    designation: authentication
    bindings:
      - stage: example-identification
        order: 10
      - stage: example-password
        order: 20
      - stage: example-login
        order: 100
"""

PRE_COMMIT = """\
# pre-commit (https://pre-commit.com): `pre-commit install`, then every commit that changes a
# manifest validates config/ offline first.
repos:
  - repo: https://github.com/OWNER/authentik-reconciler
    rev: v0.0.0
    hooks:
      - id: reconciler-validate
        args: [config/]
"""

GITIGNORE = """\
# Saved plans and what CI makes of them: artifacts, not sources.
plan.json
plan.md
plan-meta.json
*.plan.json
# The state file's lock, held while a run writes it (the state file itself is committed).
*.state.json.lock
reconciler.state.json.lock
.venv/
"""

README = """\
# authentik configuration

The configuration of our authentik, as [authentik-reconciler](https://github.com/OWNER/authentik-reconciler)
manifests in `config/`. It started as {what}.

```sh
reconciler validate config/                  # offline: are the manifests valid?
reconciler plan config/                      # what would change (AUTHENTIK_URL, AUTHENTIK_TOKEN)
reconciler apply config/                     # make the changes, after a confirmation
reconciler export --out config/ --kind KIND  # bring more of the server into the manifests
```

- `config/manifest-*.schema.json` is the schema the first line of each manifest points editors at.
- Secrets never go into a manifest: write `{{env: VAR}}` or `{{file: PATH}}` instead.
- Commit `reconciler.state.json` (written by `apply`): it keeps keyed fingerprints of the secrets
  sent, never a secret, and which objects this repository owns.
- `pre-commit install` validates the manifests before each commit (`.pre-commit-config.yaml`).
{ci}"""

CI_README = {
    "github": """- `.github/workflows/`: every pull request is planned (the plan as a comment), merging applies
  exactly that plan, and a nightly run reports drift. Set the variable `AUTHENTIK_URL` and the
  secrets `AUTHENTIK_TOKEN` and `RECONCILER_STATE_KEY` (Settings > Secrets and variables >
  Actions), and create the environment `authentik-production`.
""",
    "gitlab": """- `.gitlab-ci.yml`: every merge request is planned, merging applies exactly that plan, and a
  scheduled pipeline reports drift. Set the CI/CD variables `AUTHENTIK_URL`, `AUTHENTIK_TOKEN`,
  `RECONCILER_STATE_KEY` and `RECONCILER_GITLAB_TOKEN`.
""",
}

