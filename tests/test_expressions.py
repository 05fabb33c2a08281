"""Python in manifests is compiled offline the way authentik's evaluator compiles it (wrapped in
`def handler():`, authentik/lib/expression/evaluator.py, read through the search tool), and a
syntax error is reported at the file line and column where the offending character was written,
whatever the YAML scalar style. The server refuses the same expressions on write (flows
recording 208: `"return ("` -> `'(' was never closed`; apps recording 160 for property mappings)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import generator, run, served

from reconciler import ManifestError
from reconciler.engine import validate_paths
from reconciler.model.kinds import load_model

VERSIONS = ("2023.10.7", "2026.2.2")
HEAD = "policies:\n  - kind: expression\n    name: ex-p\n"


def validate(path: Path, version: str, *options: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = run("http://127.0.0.1:9", "validate", "--api-version", version, *options, str(path), env=env)
    return result.exit_code, result.output


def policy(tmp_path: Path, expression_lines: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(HEAD + expression_lines)
    return path


# (how the expression is written, the line and column of the offending character, Python's message)
STYLES = {
    "plain": ("    expression: return (1 +\n", 4, 24, "'(' was never closed"),
    "plain over lines": ("    expression: return\n      [1,\n      2\n      3]\n", 6, 7,
                         "invalid syntax. Perhaps you forgot a comma?"),
    "single-quoted": ("    expression: 'return ''a'' )'\n", 4, 31, "unmatched ')'"),
    "double-quoted with escapes": ('    expression: "x = \\"a\\"\\n\\tif x:\\n\\t\\treturn (1,"\n', 4, 29,
                                   "unexpected indent"),
    # Columns count characters, not bytes.
    "double-quoted, not ASCII": ('    expression: "é = \\"ü\\" + )"\n', 4, 30, "unmatched ')'"),
    "literal": ("    expression: |\n      user = request.user\n      if user.is_active\n"
                "          return True\n      return False\n", 6, 24, "expected ':'"),
    # Python points at the last space of an unexpected indent: the block's own indentation is not it.
    "literal, unexpected indent": ("    expression: |\n      x = 1\n        return x\n", 6, 8, "unexpected indent"),
    "literal with tabs": ("    expression: |-\n      if x:\n      \treturn 1 )\n", 6, 17, "unmatched ')'"),
    "literal, indentation indicator": ("    expression: |2\n        x = 1\n      return x )\n", 6, 16,
                                       "unmatched ')'"),
    "literal, keep": ("    expression: |+\n      if True:\n\n\n", 5, 15,
                      "expected an indented block after 'if' statement on line 5"),
    "folded": ("    expression: >\n      return [1,\n      2 3]\n", 6, 7,
               "invalid syntax. Perhaps you forgot a comma?"),
    "folded, strip": ("    expression: >-\n      return (\n\n      1 +\n", 5, 14, "'(' was never closed"),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("style", list(STYLES))
def test_a_syntax_error_is_reported_where_it_was_written(tmp_path: Path, style: str, version: str) -> None:
    written, line, column, message = STYLES[style]
    path = policy(tmp_path, written)
    code, output = validate(path, version)
    assert (code, output) == (1, f"{path}:{line}:{column}: expression_policy/ex-p: expression: "
                                 f"Python syntax error: {message}\n1 problem found.\n")


def test_an_error_in_a_flow_mapping_points_inside_it(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text("policies:\n  - {kind: expression, name: ex-f, expression: 'return [1 +'}\n")
    assert validate(path, "2026.2.2") == (1, f"{path}:2:56: expression_policy/ex-f: expression: "
                                             "Python syntax error: '[' was never closed\n1 problem found.\n")


def test_windows_line_ends_keep_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_bytes(b"policies:\r\n  - kind: expression\r\n    name: ex-crlf\r\n    expression: |\r\n"
                     b"      x = 1\r\n      return x )\r\n")
    assert validate(path, "2026.2.2") == (1, f"{path}:6:16: expression_policy/ex-crlf: expression: "
                                             "Python syntax error: unmatched ')'\n1 problem found.\n")


def test_the_lines_python_mentions_are_the_files(tmp_path: Path) -> None:
    """Python numbers lines in authentik's wrapped text (one more than the expression's, the
    server says `line 2` for the first); the message names the file's line instead."""
    path = policy(tmp_path, "    expression: |\n      x = [\n        1,\n        2\n      )\n")
    assert validate(path, "2026.2.2") == (1, f"{path}:8:7: expression_policy/ex-p: expression: Python syntax "
                                             "error: closing parenthesis ')' does not match opening parenthesis "
                                             "'[' on line 5\n1 problem found.\n")


def test_an_error_on_line_n_of_a_long_block(tmp_path: Path) -> None:
    body = "".join(f"      value_{n} = {n}\n" for n in range(1, 40)) + "      return value_1 +* 2\n"
    path = policy(tmp_path, "    expression: |\n" + body)
    assert validate(path, "2023.10.7") == (1, f"{path}:44:23: expression_policy/ex-p: expression: "
                                              "Python syntax error: invalid syntax\n1 problem found.\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_valid_python_passes_and_is_not_run(tmp_path: Path, version: str) -> None:
    """Only compiled: a name authentik defines at run time is fine (flows recording 210), and
    nothing runs (the expression would raise)."""
    path = policy(tmp_path, "    expression: |\n      if ak_is_group_member(request.user, name=\"admins\"):\n"
                            "          raise SystemExit(3)\n      return undefined_name\n")
    assert validate(path, version) == (0, f"1 object valid for authentik {version}.\n")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """An entry with a schema problem has its Python checked too, and so do other entries."""
    path = tmp_path / "policies.yaml"
    path.write_text("policies:\n  - kind: expression\n    name: ex-a\n    expresion_typo: 1\n"
                    "    expression: return (\n  - kind: expression\n    name: ex-b\n    expression: 'return )'\n")
    code, output = validate(path, "2026.2.2")
    assert (code, output.splitlines()) == (1, [
        f"{path}:4:5: expression_policy/ex-a: expresion_typo: unknown field (did you mean 'expression'?)",
        f"{path}:5:24: expression_policy/ex-a: expression: Python syntax error: '(' was never closed",
        f"{path}:8:25: expression_policy/ex-b: expression: Python syntax error: unmatched ')'",
        "3 problems found."])


def prompt(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "stages.yaml"
    path.write_text("stages:\n  - kind: prompt_field\n    name: ex-field\n    field_key: ex\n    label: Ex\n"
                    f"    type: dropdown\n{flags}    initial_value: return ['a',\n    placeholder: 'return )'\n")
    return path


@pytest.mark.parametrize("version", VERSIONS)
def test_prompt_fields_hold_python_only_when_their_flag_says_so(tmp_path: Path, version: str) -> None:
    """authentik evaluates a prompt field's initial value and placeholder when their
    `*_expression` flag is set (authentik/stages/prompt/models.py); otherwise they are text. The
    server does not check them on write (the lab's 2023.10.7 and 2026.2.2 both took `return (`),
    and at run time falls back to the text: only this check finds the mistake."""
    assert validate(prompt(tmp_path, ""), version) == (0, f"1 object valid for authentik {version}.\n")
    path = prompt(tmp_path, "    initial_value_expression: true\n    placeholder_expression: false\n")
    assert validate(path, version) == (1, f"{path}:9:27: prompt_field/ex-field: initial_value: Python syntax error: "
                                          "'[' was never closed\n1 problem found.\n")
    path = prompt(tmp_path, "    initial_value_expression: true\n    placeholder_expression: true\n")
    assert validate(path, version)[1].splitlines()[1] == \
        f"{path}:10:26: prompt_field/ex-field: placeholder: Python syntax error: unmatched ')'"


def test_json_and_github_formats_carry_the_place(tmp_path: Path) -> None:
    path = policy(tmp_path, "    expression: |\n      return (\n")
    code, output = validate(path, "2026.2.2", "--format", "json")
    assert code == 1
    assert json.loads(output)["problems"] == [{
        "file": str(path), "line": 5, "column": 14, "message": "Python syntax error: '(' was never closed",
        "subject": "expression_policy/ex-p", "field": "expression"}]
    code, output = validate(path, "2026.2.2", env={"GITHUB_ACTIONS": "true"})
    assert output.splitlines()[0] == (f"::error file={path},line=5,col=14::expression_policy/ex-p: expression: "
                                      "Python syntax error: '(' was never closed")


@pytest.mark.parametrize("expression", ["-" * 100_000 + "1", "a" + ".b" * 100_000])
def test_python_too_deep_to_compile_is_a_problem_not_a_crash(tmp_path: Path, expression: str) -> None:
    """Python's parser gives up with a MemoryError, its compiler with a RecursionError: authentik's
    would too, so it is reported like a syntax error."""
    path = policy(tmp_path, f"    expression: {expression}\n")
    assert validate(path, "2026.2.2") == (1, f"{path}:4:17: expression_policy/ex-p: expression: Python syntax "
                                             "error: nested too deeply for Python to compile\n1 problem found.\n")


@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_plan_and_apply_validate_first(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Nothing is read from or sent to the server when an expression does not compile."""
    path = policy(tmp_path, "    expression: |\n      return (\n")
    with served("2026.2.2") as (sandbox, url):
        result = run(url, *command, str(tmp_path))
        assert [r for r in sandbox.requests if r.path.startswith("/api/v3/policies/")] == []
    assert (result.exit_code, result.output.splitlines()[-2:]) == (1, [
        f"{path}:5:14: expression_policy/ex-p: expression: Python syntax error: '(' was never closed",
        "1 problem found."])


def test_the_python_api_raises_with_the_problem(tmp_path: Path) -> None:
    path = policy(tmp_path, "    expression: 'return )'\n")
    with pytest.raises(ManifestError) as caught:
        validate_paths([path], "2026.2.2")
    assert [(p.line, p.column, p.message) for p in caught.value.problems] == [
        (4, 25, "Python syntax error: unmatched ')'")]


@pytest.mark.parametrize("version", VERSIONS)
def test_explain_says_which_fields_hold_python(version: str) -> None:
    def fields(kind: str, *options: str) -> str:
        return run("http://127.0.0.1:9", "explain", kind, "--api-version", version, *options).output

    assert "  expression <string>  required, Python (validate compiles it)\n" in fields("expression")
    assert "  initial_value <string>  default: \"\", Python when initial_value_expression is true (validate " \
           "compiles it)\n" in fields("prompt_field")
    listed = {field["name"]: field.get("python") for field in json.loads(fields("prompt_field", "--format",
                                                                              "json"))["fields"]}
    assert {name: python for name, python in listed.items() if python} == {
        "initial_value": "initial_value_expression", "placeholder": "placeholder_expression"}


NEWER = "    expression: return f\"{request.context[\"x\"]}\"\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_syntax_of_a_newer_python_than_this_one_is_not_refused(tmp_path: Path, version: str) -> None:
    """2026.2.2 runs Python 3.13 (the lab's /admin/system/), where an f-string may reuse its
    quotes; an older interpreter cannot tell, so it does not refuse that line. For 2023.10.7
    (Python 3.11) it is an error, as long as this interpreter is old enough to see it."""
    assert load_model(version).python == {"2023.10.7": (3, 11), "2026.2.2": (3, 13)}[version]
    code, _ = validate(policy(tmp_path, NEWER), version)
    refused = version == "2023.10.7" and sys.version_info < (3, 12)
    assert code == (1 if refused else 0)


def source_manifest(tmp_path: Path, source: str) -> None:
    (tmp_path / "policies.yaml").write_text(HEAD + f"    expression: {source}\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_python_from_a_file_is_reported_in_that_file(tmp_path: Path, version: str) -> None:
    """`validate` compiles the Python of a `{file}` inside the repository, and plan as it reads
    it: the problem names the file's own line and column."""
    (tmp_path / "check.py").write_text("\n# a comment\nif request.user.is_superuser:\n    return True\n"
                                       "return request.user.username == 'x' )\n")
    source_manifest(tmp_path, "{file: check.py}")
    problem = f"{tmp_path}/check.py:5:37: expression_policy/ex-p: expression: Python syntax error: unmatched ')'"
    assert validate(tmp_path, version) == (1, f"{problem}\n1 problem found.\n")
    with served(version) as (_, url):
        result = run(url, "plan", str(tmp_path))
    assert (result.exit_code, result.output.splitlines()[-2:]) == (1, [problem, "1 problem found."])


def test_validate_leaves_variables_and_unreadable_files_to_plan(tmp_path: Path) -> None:
    """Offline, `validate` reads no variable, and a `{file}` it cannot read is plan's to report
    (with every other source)."""
    (tmp_path / "policies.yaml").write_text(HEAD + "    expression: {env: EX_EXPRESSION}\n"
                                            "  - kind: expression\n    name: ex-q\n    expression: {file: gone.py}\n")
    assert validate(tmp_path, "2026.2.2", env={"EX_EXPRESSION": "return ("}) == (
        0, "2 objects valid for authentik 2026.2.2.\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_python_from_a_variable_names_its_line_and_keeps_its_code_out(tmp_path: Path, version: str) -> None:
    source_manifest(tmp_path, "{env: EX_EXPRESSION}")
    with served(version) as (_, url):
        result = run(url, "plan", str(tmp_path), env={"EX_EXPRESSION": "secret_name = 1\nglobal secret_name"})
    assert result.exit_code == 1
    assert f"{tmp_path}/policies.yaml:4:5: expression_policy/ex-p: expression: Python syntax error in environment " \
           "variable EX_EXPRESSION, line 2 column 1: name '…' is assigned to before global declaration" \
        in result.output
    assert "secret_name" not in result.output


def test_a_valid_expression_from_a_source_plans(tmp_path: Path) -> None:
    source_manifest(tmp_path, "{env: EX_EXPRESSION}")
    with served("2026.2.2") as (_, url):
        result = run(url, "plan", str(tmp_path), env={"EX_EXPRESSION": "return True"})
    assert result.exit_code == 0, result.output
    # A value read from a source is shown as sensitive, like any other.
    assert "  + expression_policy/ex-p  (create: POST /api/v3/policies/expression/)\n" \
           "      + name       = \"ex-p\"\n      + expression = (sensitive)\n" in result.output


DOODAD = {
    "path": "/doodads/", "lookup": "id", "url_field": "pk", "id_field": "pk", "id_type": "uuid", "model": "Doodad",
    "section": "doodads", "manifest_kind": "doodad", "family": "doodad", "key": ["name"], "disambiguator": None,
    "nested": {}, "required": ["name"], "cascade": [], "patch_required": [], "write_companions": [],
    "fields": {"name": {"type": "string", "minLength": 1}, "scripted": {"type": "boolean"},
               "script": {"type": "string", "python": "scripted"}},
    "read_only": ["pk"], "response_order": ["pk", "name", "scripted", "script"], "defaults": {}, "no_default": [],
    "constants": {}, "recorded": False,
}


def test_a_new_family_with_python_is_model_data(tmp_path: Path) -> None:
    """Which fields hold Python is data (`python` on a field, from the generator's
    `Family.python`): a family that exists only in this test, whose `script` is Python when its
    `scripted` flag is true, is checked by the unchanged tool (as property mappings will be)."""
    folder = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parent.parent / "schemas", folder)
    model = json.loads((folder / "api-2026.2.2.json").read_text())
    model["kinds"]["doodad"] = DOODAD
    model["sections"]["doodads"] = {"doodad": "doodad"}
    model["section_nouns"]["doodads"] = ["doodad", "doodads"]
    (folder / "api-2026.2.2.json").write_text(json.dumps(model))
    (folder / "manifest-2026.2.2.schema.json").write_text(json.dumps(generator().build_manifest_schema(model)))
    families = json.loads((folder / "families.json").read_text())
    families["sections"]["doodads"] = ["doodad", "doodads"]
    (folder / "families.json").write_text(json.dumps(families))
    manifest = tmp_path / "doodads.yaml"
    manifest.write_text("doodads:\n  - name: plain\n    script: return (\n"
                        "  - name: run\n    scripted: true\n    script: return (\n")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("RECONCILER_", "GITHUB_"))}
    result = subprocess.run([sys.executable, "-m", "reconciler", "validate", "--api-version", "2026.2.2",
                             str(manifest)], capture_output=True, text=True, timeout=120,
                            env={**environ, "RECONCILER_MODEL_DIR": str(folder), "NO_COLOR": "1"})
    assert (result.returncode, result.stderr) == (1, f"{manifest}:6:20: doodad/run: script: Python syntax error: "
                                                     "'(' was never closed\n1 problem found.\n")
