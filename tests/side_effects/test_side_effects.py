"""Where an order's side effects stand, as the API shows it."""

from datetime import UTC, datetime

import pytest

from side_effects import services as side_effect_services
from side_effects.models import OrderSideEffect
from tests.factories import OrderSideEffectFactory
from tests.support.orders import place_order
from worker.dead_letters import dead_letter_record, dead_letters_requeue

pytestmark = pytest.mark.django_db


def effects(client, order_id) -> dict:
    return client.get(f"/api/orders/{order_id}/").json()["side_effects"]


def test_dead_lettered_task_shows_failed_and_a_requeue_sets_it_back_to_pending(client, customer):
    from email_app.tasks import send_confirmation_email

    order_id = place_order(customer)["id"]
    send_confirmation_email.on_dead_letter(
        exc=RuntimeError("smtp says no"), args=[[order_id]], kwargs={}
    )
    letter = dead_letter_record(
        task_id="t1",
        task_name=send_confirmation_email.name,
        args=[[order_id]],
        kwargs={},
        queue="emails",
        exception="SMTPDataError: 554",
        traceback="",
        attempts=1,
    )
    assert effects(client, order_id)["confirmation_email"] == "failed"
    assert (
        "smtp says no"
        in OrderSideEffect.objects.get(order_id=order_id, kind="confirmation_email").error
    )

    assert dead_letters_requeue(dead_letter_ids=[letter.pk]) == 1

    assert effects(client, order_id) == {
        "confirmation_email": "pending",
        "inventory": "pending",
        "analytics": "pending",
    }


def test_a_late_failure_report_does_not_undo_done(client, customer):

    order_id = place_order(customer)["id"]
    side_effect_services.side_effect_mark_done(order_id=order_id, kind="inventory")
    side_effect_services.side_effect_mark_failed(
        order_id=order_id, kind="inventory", error="old attempt"
    )
    assert effects(client, order_id)["inventory"] == "done"


def test_side_effects_of_someone_elses_order_are_not_visible(customer):
    from tests.factories import UserFactory
    from tests.support.clients import client_for

    order_id = place_order(customer)["id"]
    assert client_for(UserFactory()).get(f"/api/orders/{order_id}/").status_code == 404


def test_marking_a_done_side_effect_done_again_keeps_the_time_it_was_done():
    done_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    effect = OrderSideEffectFactory(kind="confirmation_email", status="done", updated_at=done_at)

    side_effect_services.side_effect_mark_done(order_id=effect.order_id, kind="confirmation_email")

    effect.refresh_from_db()
    assert (effect.status, effect.updated_at) == ("done", done_at)


def test_marking_a_failed_side_effect_done_sets_its_done_time():
    failed_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    effect = OrderSideEffectFactory(kind="inventory", status="failed", updated_at=failed_at)

    side_effect_services.side_effect_mark_done(order_id=effect.order_id, kind="inventory")

    effect.refresh_from_db()
    assert effect.status == "done"
    assert effect.updated_at > failed_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_deliveries_marking_one_email_done_at_once_only_the_first_did_it():
    """A redelivery beside a re-drive: the second mark waits for the first's row lock,
    then finds the side effect done: only the first says it did it (and its task observes
    the lag, once)."""
    import threading

    from django.db import connection, transaction

    from tests.support.polling import wait_for_a_lock_wait

    effect = OrderSideEffectFactory(kind="confirmation_email", status="pending")
    marked, release, did = threading.Event(), threading.Event(), {}

    def first_delivery():
        try:
            with transaction.atomic():
                did["first"] = side_effect_services.side_effect_mark_done(
                    order_id=effect.order_id, kind="confirmation_email"
                )
                marked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    def second_delivery():
        try:
            did["second"] = side_effect_services.side_effect_mark_done(
                order_id=effect.order_id, kind="confirmation_email"
            )
        finally:
            connection.close()

    first = threading.Thread(target=first_delivery)
    first.start()
    assert marked.wait(timeout=10)
    second = threading.Thread(target=second_delivery)
    second.start()
    wait_for_a_lock_wait()  # the second waits on the first's row lock
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert did == {"first": True, "second": False}
