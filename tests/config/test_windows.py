"""What production refuses at start, in one line: eager tasks, and a window that would
break another (config/settings/windows.py)."""

import pytest

from tests.support.manage import manage, production

# The slow tier: the windows are checked as manage.py starts, in subprocesses.
pytestmark = pytest.mark.slow


def test_production_refuses_eager_tasks_in_one_line():
    # Eager tasks would send email and apply stock inside the checkout's transaction.
    result = manage("check", **production(CELERY_TASK_ALWAYS_EAGER="1"))

    assert result.returncode == 2
    assert result.stderr.strip() == "CELERY_TASK_ALWAYS_EAGER must be off in production, not '1'."


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"SHOPFLOW_EMAIL_SEND_SECONDS": "50"},
            "SHOPFLOW_JOB_LEASE_SECONDS must be longer than half CELERY_TASK_SOFT_TIME_LIMIT",
        ),
        (
            {"SHOPFLOW_JOB_LEASE_SECONDS": "60"},
            "SHOPFLOW_JOB_LEASE_SECONDS must be longer than CELERY_TASK_TIME_LIMIT",
        ),
    ],
    ids=["lease-vs-last-send", "lease-vs-time-limit"],
)
def test_a_window_that_would_break_another_is_refused_at_start_in_one_line(overrides, line):
    result = manage("check", DJANGO_DEBUG="1", **overrides)

    assert result.returncode == 2
    [refused] = result.stderr.splitlines()
    assert refused.startswith(line)
