"""Python in manifests (expression policies, property mappings, prompt fields' expressions),
compiled offline the way authentik's expression evaluator compiles it before running it: the text
as the server stores it (trimmed, as DRF's CharField does), indented under `def handler(...):`
(authentik/lib/expression/evaluator.py, `wrap_expression`, the same in 2023.10 and 2026.2).
Nothing is run: only `compile`. A syntax error is reported where it was written."""
from __future__ import annotations

import keyword
import logging
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.errors import Problem
from reconciler.manifests.reading import KeyPath, RawObject
from reconciler.manifests.scalars import ScalarLocator
from reconciler.model.kinds import ApiModel, Kind
from reconciler.values import JsonObject

__all__ = ["PythonError", "python_error", "python_fields", "expression_problems", "source_problem"]

log = logging.getLogger("reconciler.manifest")

_HEADER = "def handler():\n"
"""The line authentik puts above the expression. Its parameters are the evaluator's context, which
the check on write leaves empty enough that the lab's servers took `global request` as this
check does; names are not looked up (flows recording 210: an undefined name is accepted)."""
_INDENT = "    "
_MENTIONED_LINE = re.compile(r"\bline (\d+)")
# Syntax an interpreter older than the server's may refuse although the server accepts it:
# f-strings reusing their quotes (3.12), type parameters and `type` statements (3.12).
_NEWER_SYNTAX = re.compile(r"""(?i)(?<![\w'"])[rb]?f[rb]?['"]|^\s*type\s+\w|\b(?:def|class)\s+\w+\s*\[""")


@dataclass(frozen=True)
class PythonError:
    """Why an expression does not compile, and where: `index` is the character of the value as
    written that Python points at; `lines` where each line of the value starts."""

    message: str
    index: int
    lines: tuple[int, ...]
    text: str
    """The offending line as written."""

    def worded(self, line_at: Callable[[int], str]) -> str:
        """Python's message, the lines it mentions (numbered in authentik's wrapped text) told by
        `line_at(index of that line's first character)`."""
        def told(match: re.Match[str]) -> str:
            number = int(match.group(1)) - 2  # the header, and 1-based
            return f"line {line_at(self.lines[number])}" if 0 <= number < len(self.lines) \
                else "the end of the expression"
        return _MENTIONED_LINE.sub(told, self.message)


def python_error(expression: str) -> PythonError | None:
    """Why `expression` does not compile as authentik compiles it, or None when it does."""
    body = expression.strip()
    lead = len(expression) - len(expression.lstrip())
    lines = body.splitlines(keepends=True) or [""]  # how textwrap.indent splits it
    starts = [lead]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line))
    wrapped = _HEADER + textwrap.indent(body, _INDENT) + "\nresult = handler()"
    try:
        compile(wrapped, "<expression>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        number = (exc.lineno or 2) - 2
        if not 0 <= number < len(lines):  # past the end (an unclosed block): its last character
            return PythonError(exc.msg, lead + len(body), tuple(starts), lines[-1].rstrip("\r\n"))
        line = lines[number]
        shift = len(_INDENT) if line.strip() else 0  # textwrap.indent leaves blank lines alone
        column = min(max(0, (exc.offset or 1) - 1 - shift), len(line.rstrip("\r\n")))
        return PythonError(exc.msg, starts[number] + column, tuple(starts), line.rstrip("\r\n"))
    except ValueError as exc:  # a NUL character, a lone surrogate
        return PythonError(str(exc), lead, tuple(starts), lines[0].rstrip("\r\n"))
    except (RecursionError, MemoryError):  # how Python's parser and compiler give up on deep nesting
        return PythonError("nested too deeply for Python to compile", lead, tuple(starts), "")
    return None


def python_fields(kind: Kind, written: JsonObject) -> list[str]:
    """The fields of an entry that hold Python, given what it writes."""
    return [name for name in kind.python_fields if name in written and kind.fields[name].holds_python(written)]


def _checkable(error: PythonError, model: ApiModel) -> bool:
    """False when this interpreter is older than the Python the server runs and the line may use
    syntax only the newer one has: not reported (logged), as it may well be valid there."""
    if model.python is None or sys.version_info[:2] >= model.python[:2] or not _NEWER_SYNTAX.search(error.text):
        return True
    log.info("not checking a Python line that may use syntax of Python %s (this is Python %d.%d): %s",
             ".".join(map(str, model.python)), *sys.version_info[:2], error.message)
    return False


def expression_problems(raw: RawObject, kind: Kind, model: ApiModel, subject: str,
                        locator: ScalarLocator) -> list[Problem]:
    """The Python syntax errors of an entry (and of the entries nested in it), each at the line
    and column of the file where the offending character was written."""
    return _entry_problems(raw, raw.data, (), kind, model, subject, locator)


def _entry_problems(raw: RawObject, data: JsonObject, path: KeyPath, kind: Kind, model: ApiModel, subject: str,
                    locator: ScalarLocator) -> list[Problem]:
    problems = []
    for name in python_fields(kind, data):
        value = data[name]
        error = python_error(value) if isinstance(value, str) else None
        if error is None or not _checkable(error, model):
            continue
        def where(index: int, name: str = name) -> tuple[int, int]:
            return locator.position(raw.file, raw.position_of(path), name, index) or raw.position_of((*path, name))
        message = error.worded(lambda index: str(where(index)[0]))
        problems.append(Problem(raw.file, *where(error.index), f"Python syntax error: {message}", subject,
                                _label((*path, name))))
    for list_name, nested in kind.nested.items():
        entries = data.get(list_name)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):
                problems += _entry_problems(raw, entry, (*path, list_name, index), model.kinds[nested.kind], model,
                                            subject, locator)
    return problems


def _label(path: KeyPath) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def source_problem(expression: str, model: ApiModel, origin: dict[str, str], manifest: tuple[str, int, int],
                   subject: str, field: str) -> Problem | None:
    """A syntax error in Python read from a source: at its line and column in a `{file}`, or at
    the field in the manifest naming the line and column of an `{env}` variable. The value is a
    secret source's: Python's message keeps only keywords and punctuation it quotes."""
    error = python_error(expression)
    if error is None or not _checkable(error, model):
        return None
    line, column = _line_column(expression, error.index)
    message = _without_code(error.worded(lambda index: str(_line_column(expression, index)[0])))
    if "file" in origin:
        return Problem(origin["file"], line, column, f"Python syntax error: {message}", subject, field)
    return Problem(*manifest, f"Python syntax error in environment variable {origin.get('env')}, line {line} "
                   f"column {column}: {message}", subject, field)


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of `text[index]`."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _without_code(message: str) -> str:
    """Python quotes bits of the code in some messages (`'x' is parameter and global`): only
    keywords and punctuation are kept, so no part of a secret source shows."""
    return re.sub(r"'([^']*)'", lambda match: match.group(0) if keyword.iskeyword(match.group(1))
                  or not re.search(r"\w", match.group(1)) else "'…'", message)
