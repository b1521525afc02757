"""What notification deliveries tell Prometheus (core.metrics serves it): each attempt's
outcome by channel, counted where it happens (live pushes in the web processes, email
and Web Push in the workers), and the deliveries pending, by channel, at scrape time."""

from django.db.models import Count
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from core.metrics import count_safely

from .models import NotificationDelivery

DELIVERIES = Counter(
    "shopflow_notification_deliveries",
    "Notification delivery attempts, by channel (live, email, push) and outcome "
    "(delivered, retried, failed, cancelled: read in the app first; live: published or "
    "failed, at most once by design).",
    ["channel", "outcome"],
)


def deliveries_count(*, channel: str, outcome: str, count: int = 1) -> None:
    if count:
        count_safely(lambda: DELIVERIES.labels(channel, outcome).inc(count))


class DeliveryCollector:
    """Email and push deliveries waiting to be sent or retried (one partial index)."""

    def collect(self):
        pending = GaugeMetricFamily(
            "shopflow_notification_deliveries_pending",
            "Email and Web Push deliveries not yet delivered nor failed, by channel.",
            labels=["channel"],
        )
        rows = (
            NotificationDelivery.objects.filter(status=NotificationDelivery.Status.PENDING)
            .values_list("channel")
            .annotate(n=Count("id"))
            .order_by()
        )
        counts = dict.fromkeys(NotificationDelivery.Channel.values, 0) | dict(rows)
        for channel, n in counts.items():
            pending.add_metric([channel], n)
        yield pending
