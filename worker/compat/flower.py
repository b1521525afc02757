"""Flower as Shopflow runs it: each of Flower's handlers is replaced in its route table
(`flower.urls.handlers`, read once Flower parsed the --conf file worker/flowerconfig.py
that calls this) by a subclass that adds what Flower's options cannot say; a route this
cannot find stops Flower rather than serve it unextended.

- **Every routed queue.** The Broker page and `/api/queues/length` list the queues live
  workers consume, so a queue whose workers are all down was not there; here every queue
  the app routes to is listed too. Upstream: https://github.com/mher/flower/issues/335,
  https://github.com/mher/flower/issues/559.
- **No public page.** `/metrics` and `/healthcheck` ask for the same credentials as the
  rest; Flower serves them to anyone. Upstream: https://github.com/mher/flower/issues/1342.
  Probes and Prometheus give them (`python -m core.flowerprobe`, docs/monitoring.md).

Canary: tests/worker/compat/test_flower.py, whose tests of Flower's own handlers fail once
Flower lists configured queues beside live workers' or asks credentials for /metrics. The
behaviour: tests/worker/test_flower.py."""

from flower import urls
from flower.views import BaseHandler
from tornado.web import HTTPError, URLSpec

from . import version_guard

version_guard("flower", checked=("2.2.0", "2.3"), patch=__name__)

# Flower's handlers that answer anyone, and the routes this module changes.
PRIVATE_PATHS = {"/metrics$", "/healthcheck$"}
QUEUE_PATHS = {"/broker$", "/api/queues/length$"}


class ShopflowFlowerError(Exception):
    pass


def flower_extension_install() -> None:
    """Give every Flower handler the behaviour above, in Flower's own route table."""
    patterns = set()
    for index, route in enumerate(urls.handlers):
        # Flower's table mixes URLSpecs and the (pattern, handler, ...) tuples they stand for.
        spec = route if isinstance(route, URLSpec) else URLSpec(*route)
        handler = spec.handler_class
        if not (isinstance(handler, type) and issubclass(handler, BaseHandler)):
            continue  # static files
        extended = type(handler.__name__, (ShopflowAccess, handler), {})
        urls.handlers[index] = URLSpec(spec.regex.pattern, extended, spec.kwargs, spec.name)
        patterns.add(spec.regex.pattern)  # ends with "$", as URLSpec anchors it
    missing = (PRIVATE_PATHS | QUEUE_PATHS) - patterns
    if missing:
        raise ShopflowFlowerError(
            f"Flower has no route {', '.join(sorted(missing))}: worker/compat/flower.py "
            "does not fit this Flower version."
        )


class ShopflowAccess(BaseHandler):
    """Mixed in before each Flower handler (see flower_extension_install)."""

    def prepare(self):
        if self.request.path.endswith(("/metrics", "/healthcheck")) and not self.current_user:
            raise HTTPError(401)  # Flower's basic auth raises this itself on a wrong pair
        return super().prepare()

    def get_active_queue_names(self):
        routed = {self.capp.conf.task_default_queue}
        routed |= {queue.name for queue in self.capp.conf.task_queues or () if queue.name}
        return sorted(set(super().get_active_queue_names()) | routed)
