"""worker/flowerconfig.py, read as Flower reads it. Flower leaves the workers' task events
to their own switch: it never broadcasts enable_events (given on its command line,
Tornado took "off" and "no" for on, and Flower turned the workers' events back on every
5 s; with the broker away that broadcast kept Flower from stopping). It refuses to serve
without credentials."""

import subprocess

import pytest

from tests.support.processes import python_run

# The slow tier: Flower's options are read by a python process, as Flower reads them.
pytestmark = pytest.mark.slow

# Flower's own option definitions, and the file parsed as `flower --conf=` parses it.
READ_OPTION = (
    "from flower.options import options; from tornado.options import parse_config_file; "
    "parse_config_file('worker/flowerconfig.py', final=False); print(options.enable_events)"
)


def flower_conf(**env: str) -> subprocess.CompletedProcess:
    return python_run(
        "-c", READ_OPTION, env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "ops:secret", **env}
    )


def test_flower_never_broadcasts_enable_events_even_where_workers_send_them():
    result = flower_conf(CELERY_WORKER_SEND_TASK_EVENTS="1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"FLOWER_BASIC_AUTH": ""},
            "FLOWER_BASIC_AUTH must be user:password pairs, comma-separated, not ''.",
        ),
        (
            {"FLOWER_BASIC_AUTH": "ops:"},
            "FLOWER_BASIC_AUTH must be user:password pairs, comma-separated, not 'ops:'.",
        ),
        (
            {"SHOPFLOW_FLOWER_MAX_TASKS": "10"},
            "SHOPFLOW_FLOWER_MAX_TASKS must be a number of tasks, 100 or more, not '10'.",
        ),
    ],
)
def test_flower_without_credentials_or_with_too_few_tasks_does_not_start(env, line):
    result = flower_conf(**env)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == line


def test_flower_keeps_ten_thousand_tasks_in_memory_and_no_state_file():
    read = READ_OPTION.replace("options.enable_events", "options.max_tasks, options.persistent")
    result = python_run(
        "-c", read, env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "ops:secret"}
    )

    assert result.stdout.split() == ["10000", "False"], result.stderr
