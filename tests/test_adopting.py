"""The README's "Adopting an existing server" walkthrough, step by step, against a sandbox someone
configured by hand: the commands are read from the README, so the two cannot drift apart."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import calling, created
from support import run, served, writes

README = Path(__file__).parent.parent / "README.md"


def walkthrough() -> list[list[str]]:
    """The `reconciler` command lines of the walkthrough, in order."""
    section = README.read_text().split("## Adopting an existing server", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("reconciler ")]


def test_the_readme_walkthrough_adopts_a_server_configured_by_hand(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()  # a config repository
    monkeypatch.chdir(tmp_path)
    export, plan, adopt, apply = walkthrough()
    assert (export[0], plan[0], adopt[0], apply[0]) == ("export", "plan", "adopt", "apply")
    with served() as (sandbox, url):
        call = calling(sandbox)
        stage = created(call, "/stages/dummy/", {"name": "hand-dummy"})
        created(call, "/stages/authenticator/sms/", {"name": "hand-sms", "provider": "twilio", "from_number": "+1",
                                                     "account_sid": "AC1", "auth": "hand-sms-token-1"})
        policy = created(call, "/policies/expression/", {"name": "hand-policy", "expression": "return True"})
        flow = created(call, "/flows/instances/", {"name": "Hand", "slug": "hand-flow", "title": "Hand",
                                                   "designation": "authentication"})
        binding = created(call, "/flows/bindings/", {"target": flow["pk"], "stage": stage["pk"], "order": 10})
        policy_binding = created(call, "/policies/bindings/", {"target": binding["pk"], "policy": policy["pk"],
                                                               "order": 0})

        exported = run(url, *export)
        assert exported.exit_code == 0, exported.output
        assert (tmp_path / "config" / "flows" / "hand-flow.yaml").exists()
        # The SMS token the server returns in clear became a variable to set; its value is nowhere.
        [name] = re.findall(r"^  (\w+): authenticator_sms/hand-sms auth$", exported.output, re.M)
        variables = {name: "hand-sms-token-1"}
        assert "hand-sms-token-1" not in exported.output

        planned = run(url, *plan, env=variables)
        assert planned.exit_code == 0, planned.output

        sandbox.clear_log()
        adopted = run(url, *adopt, env=variables)
        assert adopted.exit_code == 0, adopted.output
        assert "  adopted: flow/hand-flow\n" in adopted.output and writes(sandbox) == []

        # Someone removes the hand-made flow from the manifests: --prune deletes it, its binding
        # and policy binding first, and nothing else.
        (tmp_path / "config" / "flows" / "hand-flow.yaml").unlink()
        applied = run(url, *apply, env=variables)
        assert applied.exit_code == 0, applied.output
        assert [(method, path) for method, path, _ in writes(sandbox)] == [
            ("DELETE", f"/api/v3/policies/bindings/{policy_binding['pk']}/"),
            ("DELETE", f"/api/v3/flows/bindings/{binding['pk']}/"),
            ("DELETE", "/api/v3/flows/instances/hand-flow/")]
        assert "hand-flow" not in {f["slug"] for f in sandbox.objects("flow")}
        assert "default-authentication-flow" in {f["slug"] for f in sandbox.objects("flow")}
        assert run(url, *plan, env=variables).exit_code == 0
