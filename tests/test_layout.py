"""The layout's size limits: no module of the project's packages, of bench/ or of tests/
over 400 lines, no function over 50 (migrations aside). The import rules are lint-imports' (make
test)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "config",
    "core",
    "worker",
    "side_effects",
    "store",
    "accounts",
    "email_app",
    "analytics_app",
    "messaging",
    "notifications",
    "devstack",
]
MODULE_LINES, FUNCTION_LINES = 400, 50


def modules():
    for package in [*PACKAGES, "bench", "tests"]:  # benchmarks and tests: the same rules
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_the_packages_are_the_ones_the_import_rules_cover():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted(PACKAGES)
    top_level = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert top_level == set(PACKAGES)


def test_no_module_over_400_lines_no_function_over_50():
    too_long = []
    for path in modules():
        source, name = path.read_text(), path.relative_to(ROOT)
        if len(source.splitlines()) > MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        too_long += [
            f"{name}: {node.name}, {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > FUNCTION_LINES
        ]
    assert too_long == []
