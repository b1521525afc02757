"""A worker's spans reach the collector when it stops, however long the SDK would have
kept them: its prefork pool processes end with os._exit, past the SDK's atexit flush, so
they flush on worker_process_shutdown (worker.celery)."""

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from worker.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_stopped_after_a_task_has_exported_that_tasks_span(
    own_redis, smtp_server, tmp_path
):
    with OtlpReceiver() as otlp:
        env = worker_env(
            own_redis,
            smtp_server,
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
            OTEL_BSP_SCHEDULE_DELAY="600000",  # ms: nothing leaves on the SDK's own timer
        )
        worker = WorkerProcess(
            env, tmp_path / "worker.log", concurrency=1, include="tests.e2e.worker_tasks"
        ).start()
        try:
            marker = tmp_path / "ran"
            app.send_task("tests.sleeps", args=[0, str(marker)], queue="default")
            wait_until(marker.exists, timeout=30, message=f"the task; {worker.output()[-2000:]}")
        finally:
            # As long as its deployments let a worker stop (terminationGracePeriodSeconds,
            # stop_grace_period): beside another suite it took over 30 s, and was killed.
            worker.stop(timeout=120)

        assert worker.process.returncode == 0, worker.output()[-2000:]
        assert otlp.traces_named("run/tests.sleeps"), sorted({s.name for s in otlp.spans})
