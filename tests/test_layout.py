"""The tests tree's layout: what modules share lives in tests/fixtures, and nothing imports any other test module.

Test modules, conftest.py files (pytest_plugins included) and the helpers themselves may import from tests.fixtures
only; a helper one test module needs from another moves to tests/fixtures. `eventually` is defined there, once.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = "tests.fixtures"


def modules() -> dict[str, Path]:
    """Every module under tests/, by dotted name."""
    found: dict[str, Path] = {}
    for path in sorted(TESTS.rglob("*.py")):
        parts = path.relative_to(TESTS.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module) for every module of tests/ that the module `name` at `path` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                # `from tests.x import y` imports the module tests.x.y if there is one, else a name of tests.x.
                found.append((node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base))
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins" for target in node.targets
        ):
            found += [
                (node.lineno, value.value)
                for value in ast.walk(node.value)
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
            ]
    return sorted({(line, module) for line, module in found if module == "tests" or module.startswith("tests.")})


def test_no_module_imports_a_test_module_only_tests_fixtures() -> None:
    """Every import of a module under tests/, by any module there, is of tests/fixtures."""
    known = modules()
    shared, others = [], []
    for name, path in known.items():
        for line, module in imported(name, path, known):
            where = f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
            (shared if module == SHARED or module.startswith(f"{SHARED}.") else others).append(where)
    assert others == [], "move what is shared to tests/fixtures"
    assert any("conftest.py" in where and "tests.fixtures.processes" in where for where in shared)  # plugins seen


def test_eventually_is_defined_once_in_tests_fixtures() -> None:
    """One `eventually` for every test that polls, in tests/fixtures."""
    definitions = [
        f"{path.relative_to(TESTS.parent)}:{node.lineno}"
        for path in modules().values()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "eventually"
    ]
    assert len(definitions) == 1, definitions
    assert definitions[0].startswith("tests/fixtures/"), definitions
