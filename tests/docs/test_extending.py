"""docs/extending.md follows the code: its snippets compile, import what exists, call the
project with arguments it takes, and declare the side-effect task as the real ones are."""

import ast
import importlib
import inspect
import re
import textwrap
import tomllib

import pytest

from tests.support import PROJECT_DIR

PAGE = PROJECT_DIR / "docs" / "extending.md"
RULES = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
PROJECT = {*RULES["root_packages"], "tests"}  # not the page's own app, which does not exist
SIDE_EFFECT_TASKS = ["analytics_app/tasks.py", "store/tasks.py", "email_app/tasks.py"]
# Dedented: a snippet may be one method of a class the page showed before.
SNIPPETS = [textwrap.dedent(s) for s in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)]


def imported_from_the_project(tree: ast.AST) -> dict[str, object]:
    """{name: object} for each name the snippet imports from the project (ImportError)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or ".").split(".")[0] in PROJECT:
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:  # `from store import selectors`: a submodule not imported yet
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                names[alias.asname or alias.name] = value
    return names


def called(func: ast.expr, names: dict[str, object]):
    """What `func` is when it reaches the project through an imported name, else None."""
    if isinstance(func, ast.Attribute):
        owner = called(func.value, names)
        return None if owner is None else getattr(owner, func.attr, None)
    return names.get(func.id) if isinstance(func, ast.Name) else None


def side_effect_task_options(source: str) -> list[set[str]]:
    """The keyword names of each `@shared_task(base=SideEffectTask, ...)` in `source`."""
    return [
        {keyword.arg for keyword in call.keywords}
        for call in ast.walk(ast.parse(source))
        if isinstance(call, ast.Call)
        and ast.unparse(call.func) == "shared_task"
        and "base=SideEffectTask" in map(ast.unparse, call.keywords)
    ]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.splitlines()[0].strip("# "))
def test_each_snippet_compiles_and_calls_the_project_as_it_is(snippet):
    tree = compile(snippet, str(PAGE), "exec", ast.PyCF_ONLY_AST)
    names, wrong = imported_from_the_project(tree), []
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        keywords = {k.arg: k.value for k in call.keywords}
        target = called(call.func, names)
        if target is None or None in keywords or any(isinstance(a, ast.Starred) for a in call.args):
            continue  # not the project's, or arguments unpacked at run time
        try:
            inspect.signature(target).bind_partial(*call.args, **keywords)
        except TypeError as exc:
            wrong.append(f"{ast.unparse(call)}: {exc}")
        if ast.unparse(call.func).endswith(".connect") and "dispatch_uid" not in keywords:
            wrong.append(f"{ast.unparse(call)}: no dispatch_uid")
    assert wrong == []


def test_the_side_effect_task_is_declared_as_the_real_ones_are():
    real = [
        o
        for p in SIDE_EFFECT_TASKS
        for o in side_effect_task_options((PROJECT_DIR / p).read_text())
    ]
    documented = [options for s in SNIPPETS for options in side_effect_task_options(s)]
    assert real and len(documented) == 1
    # Every option all the real ones give (base, side_effect, name); none that none gives.
    assert set.intersection(*real) <= documented[0] <= set.union(*real)


def test_the_settings_snippet_pasted_as_written_keeps_every_queue_and_route():
    """A fork pastes it over config/settings/base.py's: no queue or route of the project's
    may go missing (the snippet adds gift_wrap's)."""
    from django.conf import settings
    from kombu import Exchange, Queue

    [snippet] = [s for s in SNIPPETS if s.startswith("# config/settings/base.py")]
    pasted = {"Queue": Queue, "Exchange": Exchange}
    exec(compile(snippet, str(PAGE), "exec"), pasted)

    queues = {queue.name for queue in pasted["CELERY_TASK_QUEUES"]}
    assert {queue.name for queue in settings.CELERY_TASK_QUEUES} < queues
    routes = pasted["CELERY_TASK_ROUTES"]
    assert settings.CELERY_TASK_ROUTES.items() < routes.items()
    assert routes["gift_wrap.*"] == {"queue": "gift_wrap"} and "gift_wrap" in queues
