"""The README and docs/ name real code: every file they name exists, and each function,
class or method written right after a file (`store/locks.py` `cart_lines_for_checkout`) is
defined in that file."""

import ast
import re
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()
NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?")


def follow_one_order_rows() -> list[str]:
    section = README.split("## Follow one order", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]


def named_in(line: str) -> list[tuple[str, str]]:
    """(file, name) for each `name` written right after a `file.py` in the line."""
    return re.findall(r"`([\w/]+\.py)` `([^`]+)`", line)


def defined(path: Path) -> set[str]:
    """Top-level functions and classes, and Class.method."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_follow_one_order_has_its_rows():
    rows = follow_one_order_rows()
    assert len(rows) >= 15
    assert all(named_in(row) for row in rows), "each row names a file and what in it"


@pytest.mark.parametrize("row", follow_one_order_rows(), ids=lambda row: row.split("|")[1].strip())
def test_each_row_names_code_that_exists(row):
    for file, name in named_in(row):
        path = PROJECT_DIR / file
        assert path.is_file(), f"{file} does not exist"
        assert NAME.fullmatch(name), f"`{name}` after {file} is not a name"
        assert name in defined(path), f"{file} defines no {name}"


def test_every_file_the_readme_names_exists():
    files = set(re.findall(r"`(\w+/[\w/]+\.(?:py|md|yml|toml))`", README))
    files |= set(re.findall(r"\]\(([\w/]+\.md)\)", README))
    assert files
    missing = sorted(file for file in files if not (PROJECT_DIR / file).is_file())
    assert not missing


DOCS = sorted((PROJECT_DIR / "docs").glob("*.md"))


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.name)
def test_each_docs_page_names_code_that_exists(page):
    text = page.read_text()
    wrong = []
    for file, name in named_in(text):
        path = PROJECT_DIR / file
        if not path.is_file():
            wrong.append(f"{file} does not exist")
        elif NAME.fullmatch(name) and name not in defined(path):
            wrong.append(f"{file} defines no {name}")
    missing = {
        f for f in re.findall(r"`(\w+/[\w/]+\.py)`", text) if not (PROJECT_DIR / f).is_file()
    }
    wrong += [
        f"{dotted} does not exist"
        for dotted in dotted_in(text)
        if not resolves(dotted) and not is_model_label(dotted) and dotted not in LITERALS
    ]
    assert not wrong and not missing, wrong + sorted(missing)


PACKAGES = ("accounts", "analytics_app", "core", "devstack", "email_app", "messaging")
PACKAGES += ("notifications", "side_effects", "store", "worker")


def dotted_in(text: str) -> set[str]:
    """`store.services.checkout.order_place`: a dotted name in one of the project's packages."""
    packages = "|".join(PACKAGES)
    return set(re.findall(rf"`((?:{packages})(?:\.\w+)+)`", text))


def resolves(dotted: str) -> bool:
    """The longest prefix that is a module of the repository, then what it defines."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = PROJECT_DIR.joinpath(*parts[:cut])
        module = (
            base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        )
        if module.is_file():
            rest = ".".join(parts[cut:])
            return not rest or rest in defined(module) or rest in assigned(module)
    return False


def is_model_label(dotted: str) -> bool:
    app, _, model = dotted.partition(".")
    models = PROJECT_DIR / app / "models.py"
    return models.is_file() and model in defined(models)


def string_literals() -> set[str]:
    """Every string constant of the project's code: task names (`name="store.apply_inventory"`)."""
    found = set()
    for package in PACKAGES:
        for path in (PROJECT_DIR / package).rglob("*.py"):
            found.update(
                node.value
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            )
    return found


LITERALS = string_literals()


def assigned(path: Path) -> set[str]:
    """Module-level names bound by assignment (signals, constants, app objects)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))
        if isinstance(node, ast.ImportFrom | ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names
