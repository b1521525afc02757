"""The layout's size limits: no module of the project's packages, of bench/ or of tests/
over 400 lines, no function over 50 (migrations aside); and a domain layer without the web's
exceptions. The import rules are lint-imports' (make test), which cannot name django.http."""

import ast

from tests.support import PROJECT_DIR

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
    "webhooks",
    "devstack",
]
MODULE_LINES, FUNCTION_LINES = 400, 50


def modules():
    for package in [*PACKAGES, "bench", "tests"]:  # benchmarks and tests: the same rules
        for path in sorted((PROJECT_DIR / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_the_packages_are_the_ones_the_import_rules_cover():
    import tomllib

    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted(PACKAGES)
    top_level = {p.parent.name for p in PROJECT_DIR.glob("*/__init__.py")} - {"tests", "bench"}
    assert top_level == set(PACKAGES)


def test_no_module_over_400_lines_no_function_over_50():
    too_long = []
    for path in modules():
        source, name = path.read_text(), path.relative_to(PROJECT_DIR)
        if len(source.splitlines()) > MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        too_long += [
            f"{name}: {node.name}, {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > FUNCTION_LINES
        ]
    assert too_long == []


# The web's modules whose exceptions (Http404, get_object_or_404, DRF's) are the views' to
# raise: services and selectors raise their app's domain errors, which the views answer.
WEB_MODULES = ("django.http", "django.shortcuts", "rest_framework")


def domain_modules():
    for package in PACKAGES:
        for layer in ("services", "selectors"):
            yield from sorted((PROJECT_DIR / package).glob(f"{layer}.py"))
            yield from sorted((PROJECT_DIR / package / layer).rglob("*.py"))


def _web(name: str) -> bool:
    return any(name == web or name.startswith(web + ".") for web in WEB_MODULES)


def test_no_service_or_selector_imports_the_webs_exceptions():
    found = []
    for path in domain_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            found += [f"{path.relative_to(PROJECT_DIR)}: {name}" for name in names if _web(name)]
    assert found == []
