#!/usr/bin/env python3
"""Copy what the model generator needs from the shared material into the project.

    python scripts/derive_inputs.py [--shared ../shared] [--out scripts/inputs]

Writes, per API version, `scripts/inputs/<version>/openapi.json`: authentik's OpenAPI spec as
compact JSON, trimmed to the paths of the families the tool models now or next and the components
they reference (descriptions kept where the generator reads them: in components, which hold the
field descriptions), and, at their paths in the recordings folder, exactly the recordings
`generate_model.py` reads, plus `blueprints.json`: the blueprints the release ships
(authentik-blueprints/<version>.json). With them committed, the generated files are checked without the
shared folder beside the checkout.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from generate_model import BLUEPRINTS_FILE, INPUTS, PROJECT, SPEC_FILE, VERSIONS, JsonObject, recording_reads

# The path prefixes of the families the tool models, and of those it will model next.
PREFIXES = ("/stages/", "/policies/", "/flows/", "/core/", "/providers/", "/propertymappings/", "/crypto/",
            "/outposts/", "/rac/", "/sources/", "/events/", "/managed/", "/rbac/", "/tenants/", "/admin/settings/",
            "/enterprise/", "/endpoints/", "/authenticators/", "/lifecycle/rules/")


def without_descriptions(node: Any) -> Any:
    """`node` without its `description` texts (the generator reads no operation's)."""
    if isinstance(node, dict):
        return {key: without_descriptions(value) for key, value in node.items()
                if not (key == "description" and isinstance(value, str))}
    if isinstance(node, list):
        return [without_descriptions(value) for value in node]
    return node


def refs_in(node: Any) -> Iterator[str]:
    """Every `$ref` below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def referenced_components(spec: JsonObject, paths: JsonObject) -> JsonObject:
    """The components `paths` reference, directly or through other components, in spec order."""
    seen: set[tuple[str, str]] = set()
    pending = list(refs_in(paths))
    while pending:
        _, _, section, name = pending.pop().split("/", 3)
        if (section, name) not in seen:
            seen.add((section, name))
            pending.extend(refs_in(spec["components"][section][name]))
    return {section: {name: body for name, body in entries.items() if (section, name) in seen}
            for section, entries in spec["components"].items()
            if any(kept == section for kept, _ in seen)}


def trimmed_spec(spec: JsonObject) -> JsonObject:
    """The spec with only the modelled paths, their components, and no operation descriptions."""
    paths = {path: without_descriptions(ops) for path, ops in spec["paths"].items() if path.startswith(PREFIXES)}
    return {"openapi": spec["openapi"], "info": without_descriptions(spec["info"]), "paths": paths,
            "components": referenced_components(spec, paths)}


def derive_version(shared: Path, out: Path, version: str) -> None:
    """Write one version's trimmed spec and recordings into `out/<version>/`, replacing it."""
    source = yaml.load((shared / "authentik-openapi" / f"authentik-{version}.yml").read_text(),
                       Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec = trimmed_spec(source)
    recordings = shared / "authentik-recordings" / version
    target = out / version
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / SPEC_FILE).write_text(json.dumps(spec, separators=(",", ":"), ensure_ascii=False) + "\n")
    for path in recording_reads(spec, recordings):
        copy = target / path.relative_to(recordings)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    shipped = shared / "authentik-blueprints" / f"{version}.json"
    if shipped.exists():  # the blueprints the release ships: facts, copied whole
        shutil.copyfile(shipped, target / BLUEPRINTS_FILE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", type=Path, default=PROJECT.parent / "shared",
                        help="the shared specs and recordings (default: ../shared)")
    parser.add_argument("--out", type=Path, default=INPUTS, help="where to write (default: scripts/inputs)")
    args = parser.parse_args(argv)
    for version in VERSIONS:
        derive_version(args.shared, args.out, version)
        files = sorted(p for p in (args.out / version).rglob("*") if p.is_file())
        print(f"{version}: {len(files)} files, {sum(p.stat().st_size for p in files)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
