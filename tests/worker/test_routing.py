"""Each task goes to its own queue, so a slow SMTP server never delays stock updates."""

import pytest

from worker.celery import app
from worker.tasks_base import job_tasks

app.loader.import_default_modules()


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("email_app.send_confirmation_email", "emails"),
        ("email_app.send_welcome_email", "emails"),
        ("email_app.send_low_stock_alert", "emails"),
        ("store.apply_inventory", "inventory"),
        ("analytics_app.record_analytics", "analytics"),
        ("analytics_app.rollup_daily_summary", "analytics"),
        ("store.remove_abandoned_carts", "default"),
        ("email_app.send_duplicate_orders_alert", "emails"),
        ("accounts.prune_login_audit", "default"),
        ("store.alert_duplicate_orders", "default"),
        ("worker.prune_jobs", "default"),
        ("notifications.send_email_digests", "emails"),
        ("notifications.send_push", "default"),
    ],
)
def test_task_is_routed_to_its_queue(task, queue):
    assert task in app.tasks
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue
    assert route["queue"].routing_key == queue


def test_a_task_sent_by_name_goes_to_its_queue_without_its_module_imported():
    """The routes go by the task's name (CELERY_TASK_ROUTES), not by the task objects: a
    web process that never imported a task still publishes it to the right queue."""
    from worker.queues import queue_of

    assert queue_of(task_name="email_app.some_future_task") == "emails"
    assert queue_of(task_name="tests.unrouted") == "default"


def test_every_message_is_acknowledged_when_its_run_starts():
    """A job's wake-up carries no work (its row does: a lost one costs latency only), and
    beat's plain tasks are sent again at their next time: no message is held while its
    run goes on, so none whose run kills its worker comes back for ever."""
    app.loader.import_default_modules()
    assert {task.name for task in job_tasks().values()} >= {
        "store.apply_inventory",
        "email_app.send_welcome_email",
    }
    for task in app.tasks.values():
        assert not task.acks_late, task.name
    assert app.conf.worker_prefetch_multiplier == 1
    # A message a worker took and never started (it died with it prefetched) comes back
    # within two minutes, swept for every few seconds.
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] <= 100
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 10
