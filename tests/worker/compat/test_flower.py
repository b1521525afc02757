"""The canary of worker/compat/flower.py: Flower's own handlers, as Flower 2.2 serves
them. Each test fails once Flower does by itself what the patch adds (then that part of
it goes); Shopflow's behaviour is tested with a real Flower in tests/worker/test_flower.py.
"""

from types import SimpleNamespace

from flower import urls
from flower.app import Flower
from flower.options import options
from flower.views import BaseHandler
from tornado.testing import AsyncHTTPTestCase

from worker.celery import app


def test_flowers_handlers_are_its_own_in_this_process():
    # The canary reads Flower as it comes: nothing here installed the patch.
    handlers = [
        route.handler_class if hasattr(route, "handler_class") else route[1]
        for route in urls.handlers
    ]
    assert all(handler.__module__.startswith(("flower.", "tornado.")) for handler in handlers)


def test_flower_lists_only_the_queues_live_workers_consume():
    """https://github.com/mher/flower/issues/335: with one worker on `emails`, Flower's
    Broker page and /api/queues/length leave the other routed queues out."""
    handler = SimpleNamespace(
        application=SimpleNamespace(workers={"w@host": {"active_queues": [{"name": "emails"}]}}),
        capp=app,
    )

    assert BaseHandler.get_active_queue_names(handler) == ["emails"]


class TestFlowerServesMetricsAndHealthcheckToAnyone(AsyncHTTPTestCase):
    """https://github.com/mher/flower/issues/1342: with basic auth on, /metrics and
    /healthcheck still answer without credentials (the rest asks for them)."""

    def get_app(self):
        self.addCleanup(setattr, options, "basic_auth", options.basic_auth)
        options.basic_auth = ["ops:secret"]
        return Flower(capp=app, options=options, **urls.settings)

    def test_without_credentials(self):
        assert self.fetch("/api/workers").code == 401
        assert self.fetch("/healthcheck").code == 200
        assert self.fetch("/metrics").code == 200
