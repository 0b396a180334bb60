"""A lint of the extension's C source (STYLE 53): calls that must be paired are, in each function.

Each pair is (opening call, closing call): every C function of python/ext
that opens must also close, at least as many times (a function may close on
several exit paths). The source is read as text, so this runs anywhere the
repository does.
"""
import re
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "python" / "ext"

PAIRS = [
    ("Py_EnterRecursiveCall", "Py_LeaveRecursiveCall"),
    ("push_frame", "pop_frame"),
    ("PyGILState_Ensure", "PyGILState_Release"),
    ("Py_BEGIN_ALLOW_THREADS", "Py_END_ALLOW_THREADS"),
]

# A definition starts at column 0 with its return type, on one line with its name.
_FUNCTION = re.compile(r"^(?:[A-Za-z_][\w]*[ \t\*]+)+(\w+)\(([^;{}]*)\)\s*\{", re.MULTILINE)


def functions(source: str):
    """(name, body) of each top-level function, found by brace matching."""
    for match in _FUNCTION.finditer(source):
        depth, i = 1, match.end()
        while depth and i < len(source):
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        yield match.group(1), source[match.end() : i]


def calls(body: str, name: str) -> int:
    """How many times `name` appears in `body` (calls and macros alike)."""
    return len(re.findall(rf"\b{name}\b", body))


SOURCES = sorted(EXT.glob("*.c"))


def test_extension_lint__finds_the_sources():
    assert {p.name for p in SOURCES} >= {"module.c", "types.c", "engine.c"}
    names = [name for name, _ in functions((EXT / "engine.c").read_text())]
    assert "exec_run" in names and "core_run" in names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_extension_lint__paired_calls_are_closed_in_the_same_function(path):
    problems = []
    for name, body in functions(path.read_text()):
        if name in {opening for opening, _ in PAIRS} | {closing for _, closing in PAIRS}:
            continue  # the definitions of the pair themselves
        for opening, closing in PAIRS:
            opened, closed = calls(body, opening), calls(body, closing)
            if opened > closed:
                problems.append(f"{path.name}:{name}: {opened} {opening} but {closed} {closing}")
    assert problems == []


def test_extension_lint__catches_an_unpaired_call():
    source = "static int f(void)\n{\n    if (Py_EnterRecursiveCall(\" x\"))\n        return -1;\n    return 0;\n}\n"
    [(name, body)] = list(functions(source))
    assert name == "f"
    assert calls(body, "Py_EnterRecursiveCall") == 1
    assert calls(body, "Py_LeaveRecursiveCall") == 0
