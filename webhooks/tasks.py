from celery import shared_task

from worker.tasks_base import ReliableTask

from .services import deliveries, endpoints, sending


class DeliveryTask(ReliableTask):
    """A delivery's own failures (a bug, a message whose worker died every time) end in a
    dead letter, and the delivery fails with it; requeued, it is due again."""

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        if args:
            error = f"{type(exc).__name__}: {exc}"
            sending.delivery_fail(task=self, delivery_id=args[0], error=error)

    def on_requeue(self, *, args, kwargs) -> None:
        if args:
            deliveries.delivery_reopen(delivery_id=str(args[0]))


# Woken by an outbox row: at the event, at each try of the schedule, when a slot of its
# endpoint is free (webhooks.services.sending). Runs on the `webhooks` queue's threads.
@shared_task(base=DeliveryTask, bind=True, name="webhooks.deliver")
def deliver(self, delivery_id: str) -> str:
    return sending.delivery_send(task=self, delivery_id=delivery_id)


@shared_task(base=ReliableTask, name="webhooks.disable_failing_endpoints")
def disable_failing_endpoints() -> int:
    return endpoints.endpoints_disable_failing()


# Beat, every 30 s: deliveries whose message was lost (webhooks.services.sending).
@shared_task(name="webhooks.redrive_deliveries")
def redrive_deliveries() -> int:
    return sending.deliveries_redrive(task=deliver)


@shared_task(name="webhooks.prune_deliveries")
def prune_deliveries() -> int:
    return deliveries.deliveries_prune()
