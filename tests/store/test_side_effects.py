"""Where an order's side effects stand, as the API shows it."""

import pytest

from store.models import OrderSideEffect
from tests.factories import ProductFactory, cart_with
from worker.dead_letters import dead_letter_record, dead_letters_requeue

pytestmark = pytest.mark.django_db


def place(client, customer) -> int:
    cart = cart_with(customer, (ProductFactory(), 1))
    return client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]


def effects(client, order_id) -> dict:
    return client.get(f"/api/orders/{order_id}/").json()["side_effects"]


def test_dead_lettered_task_shows_failed_and_a_requeue_sets_it_back_to_pending(client, customer):
    from email_app.tasks import send_order_confirmation

    order_id = place(client, customer)
    send_order_confirmation.on_dead_letter(
        exc=RuntimeError("smtp says no"), args=[order_id], kwargs={}
    )
    letter = dead_letter_record(
        task_id="t1",
        task_name=send_order_confirmation.name,
        args=[order_id],
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
    from store.services import order_side_effect_mark

    order_id = place(client, customer)
    order_side_effect_mark(order_id=order_id, kind="inventory", status="done")
    order_side_effect_mark(
        order_id=order_id, kind="inventory", status="failed", error="old attempt"
    )
    assert effects(client, order_id)["inventory"] == "done"


def test_side_effects_of_someone_elses_order_are_not_visible(client, customer):
    from tests.conftest import client_for
    from tests.factories import UserFactory

    order_id = place(client, customer)
    assert client_for(UserFactory()).get(f"/api/orders/{order_id}/").status_code == 404
