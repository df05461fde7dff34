"""The one-way imports of DESIGN.md "Layout", checked by reading the source with `ast`.

`rooms/` is the pure domain: it may import its own modules and a short list of standard
library modules that do no I/O and have no clock or randomness. Anything else (asyncio, time,
random, logging, the other Hearth packages, any third-party module) is a violation named by
file and line. `signaling/` may import `rooms` but never `server`.

The checker is tested on source strings too, so it cannot pass by seeing nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Standard library modules a pure domain may use. Add to this list with care: a module that
# reads the clock, the disk, the network or the environment does not belong here.
ROOMS_ALLOWED = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "hashlib",
        "heapq",
        "itertools",
        "math",
        "operator",
        "re",
        "string",
        "textwrap",
        "types",
        "typing",
        "unicodedata",
    }
)

# Named so that a change to the allowlist that lets one of these in fails loudly.
ROOMS_FORBIDDEN = (
    "asyncio",
    "time",
    "datetime",
    "random",
    "uuid",
    "secrets",
    "logging",
    "os",
    "io",
    "socket",
    "threading",
    "subprocess",
    "pathlib",
    "sqlite3",
    "signaling",
    "server",
    "typing_extensions",
    "msgpack",
    "starlette",
    "redis",
    "hypothesis",
)


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


def imports(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """Every module the tree imports, as (line, absolute dotted name).

    Relative imports are resolved against `package`; one that climbs above the top-level
    package resolves to a top-level name, so `from .. import server` inside `signaling/`
    is seen as `server`. A call to `__import__` is reported as the module `__import__`.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or ""
                continue
            parts = package.split(".") if package else []
            base = parts[: max(len(parts) - (node.level - 1), 0)]
            if node.module:
                yield node.lineno, ".".join([*base, node.module])
            else:
                for alias in node.names:
                    yield node.lineno, ".".join([*base, alias.name])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            yield node.lineno, "__import__"


def top(module: str) -> str:
    return module.partition(".")[0]


def rooms_violations(source: str, path: str = "rooms/x.py") -> list[Violation]:
    """Imports in a `rooms/` module that are neither its own package nor allowed stdlib."""
    tree = ast.parse(source, filename=path)
    package = ".".join(Path(path).parent.parts)
    found = [
        Violation(path, line, module)
        for line, module in imports(tree, package)
        if top(module) != "rooms"
        and module not in ROOMS_ALLOWED
        and top(module) not in ROOMS_ALLOWED
    ]
    return sorted(found, key=lambda v: v.line)


def signaling_violations(source: str, path: str = "signaling/x.py") -> list[Violation]:
    """Imports in a `signaling/` module that reach the `server` package."""
    tree = ast.parse(source, filename=path)
    package = ".".join(Path(path).parent.parts)
    found = [
        Violation(path, line, module)
        for line, module in imports(tree, package)
        if top(module) in {"server", "__import__"}
    ]
    return sorted(found, key=lambda v: v.line)


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def check_tree(folder: str, checker: Callable[[str, str], list[Violation]]) -> list[str]:
    """Run `checker` on every module under `folder`; one line per violation."""
    found: list[str] = []
    for path in sources(folder):
        relative = str(path.relative_to(ROOT))
        found.extend(str(v) for v in checker(path.read_text(encoding="utf-8"), relative))
    return found


# The real tree.


def test_rooms_imports_only_itself_and_pure_stdlib() -> None:
    assert sources("rooms"), "rooms/ has no Python files: the guard would check nothing"
    violations = check_tree("rooms", rooms_violations)
    assert not violations, "rooms/ must stay pure:\n" + "\n".join(violations)


def test_signaling_does_not_import_server() -> None:
    assert sources("signaling"), "signaling/ has no Python files: the guard would check nothing"
    violations = check_tree("signaling", signaling_violations)
    assert not violations, "signaling/ must not import server:\n" + "\n".join(violations)


# The checker itself.


def test_checker_sees_import_time() -> None:
    assert rooms_violations("import time\n") == [Violation("rooms/x.py", 1, "time")]


def test_allowlist_and_forbidden_list_do_not_overlap() -> None:
    assert not ROOMS_ALLOWED & set(ROOMS_FORBIDDEN)


@pytest.mark.parametrize("module", ROOMS_FORBIDDEN)
def test_rooms_forbids(module: str) -> None:
    source = f"import {module}\nfrom {module} import thing\nimport {module}.sub as s\n"
    assert [v.line for v in rooms_violations(source)] == [1, 2, 3]


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "from collections.abc import Mapping",
        "import dataclasses, enum, typing",
        "from typing import assert_never",
        "import rooms",
        "from rooms.state import RoomState",
        "from . import state",
        "from .events import Event",
        "def f():\n    from itertools import chain",
    ],
)
def test_rooms_allows(source: str) -> None:
    assert rooms_violations(source) == []


def test_rooms_sees_nested_and_dynamic_imports() -> None:
    source = (
        "def f():\n    import datetime\nif True:\n    from os import path\n__import__('time')\n"
    )
    assert [(v.line, v.module) for v in rooms_violations(source)] == [
        (2, "datetime"),
        (4, "os"),
        (5, "__import__"),
    ]


def test_rooms_resolves_relative_imports_that_leave_the_package() -> None:
    violations = rooms_violations("from .. import signaling\n", "rooms/x.py")
    assert [v.module for v in violations] == ["signaling"]
    nested = rooms_violations("from .. import state\nfrom ... import server\n", "rooms/a/b.py")
    assert [v.module for v in nested] == ["server"]


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("import server", "signaling/x.py"),
        ("import server.cli", "signaling/x.py"),
        ("from server.settings import Settings", "signaling/x.py"),
        ("from .. import server", "signaling/x.py"),
        ("from ..server import cli", "signaling/x.py"),
        ("from ...server import cli", "signaling/redis/x.py"),
    ],
)
def test_signaling_forbids_server(source: str, path: str) -> None:
    assert len(signaling_violations(source, path)) == 1


@pytest.mark.parametrize(
    "source",
    ["import rooms", "from rooms.events import Event", "from .server_limits import X"],
)
def test_signaling_allows(source: str) -> None:
    assert signaling_violations(source) == []
