"""The webhooks contract checked from outside `make run`'s stack (SHOPFLOW_WEBHOOKS_ALLOW_
LOOPBACK=1, its webhooks worker among its services), black-box: the API over HTTP as
staff, and a receiver outside the project (tests.support.webhooks) that verifies every
request with the Standard Webhooks reference library."""

import requests

from tests.support.metrics import Metrics
from tests.support.polling import wait_until
from tests.support.stack import FLOWER_AUTH, checkout_as_a_new_customer
from tests.support.webhooks import WebhookReceiver

ADMIN = {"username": "admin", "password": "admin-test-secret"}


def webhook_contract_kept(stack, receiver: WebhookReceiver) -> None:
    """Endpoints are staff's; a private address is refused; a test event and an order
    reach the receiver signed and are listed delivered; a redelivery comes under the same
    webhook-id; after a rotation both secrets sign, a 410 disables the endpoint; /metrics
    counts it all."""
    api = f"{stack.base}/api/webhooks"
    staff = staff_session(stack)
    assert requests.get(f"{api}/endpoints/", timeout=5).status_code == 401
    refused = staff.post(
        f"{api}/endpoints/", json={"url": "http://10.0.0.1/", "events": ["order.created"]}
    )
    assert refused.status_code == 400 and "url" in refused.json()
    made = staff.post(
        f"{api}/endpoints/",
        json={"url": receiver.url(), "events": ["order.created"], "description": "ERP"},
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()
    receiver.behave(secrets=[endpoint["secret"]])

    order_delivery = order_and_test_delivered(stack, staff, receiver, endpoint)
    assert staff.post(f"{api}/deliveries/{order_delivery}/redeliver/").status_code == 202
    wait_until(lambda: len(receiver.at("/hook")) == 3, timeout=30, message="the redelivery")
    assert receiver.at("/hook")[-1].id == order_delivery
    rotated_then_gone(stack, staff, receiver, endpoint)

    metrics_counted(stack, endpoint)


def metrics_counted(stack, endpoint) -> None:
    """/metrics shows the endpoint's deliveries ended and its attempts, the queue empty."""
    ended = "shopflow_webhook_deliveries_ended_total"
    attempts = "shopflow_webhook_attempt_seconds_count"
    labels = {"endpoint": str(endpoint["id"])}

    def scrape():
        answer = requests.get(f"{stack.base}/metrics", auth=FLOWER_AUTH, timeout=5)
        return Metrics(answer.text)

    # Counted by the worker once its transaction committed: a moment after the API shows it,
    # each figure as its own write lands (a loaded CI machine saw the attempts 3 of 4).
    wait_until(lambda: scrape().value(ended, status="failed", **labels) == 1, timeout=30)
    wait_until(lambda: scrape().value(attempts, **labels) == 4, timeout=30)
    scraped = scrape()
    assert scraped.value(ended, status="delivered", **labels) == 3  # the redelivery too
    assert scraped.value(attempts, **labels) == 4
    assert scraped.value("shopflow_queue_messages", queue="webhooks", state="ready") == 0


class Staff(requests.Session):
    def request(self, *args, **kwargs):
        return super().request(*args, **{"timeout": 10, **kwargs})


def staff_session(stack) -> Staff:
    answer = requests.post(f"{stack.base}/api/auth/token/", json=ADMIN, timeout=10)
    staff = Staff()
    staff.headers["Authorization"] = f"Token {answer.json()['token']}"
    return staff


def order_and_test_delivered(stack, staff, receiver, endpoint) -> str:
    """A test event and a customer's checkout reach the receiver, signed, the order as the
    API shows it, and are listed as delivered; the order's webhook-id."""
    api = f"{stack.base}/api/webhooks"
    assert staff.post(f"{api}/endpoints/{endpoint['id']}/test/").status_code == 202
    customer, order_id = checkout_as_a_new_customer(stack, username="hooked")
    wait_until(lambda: len(receiver.at("/hook")) == 2, timeout=60, message=stack.log()[-3000:])
    by_type = {r.event["type"]: r for r in receiver.at("/hook")}
    assert set(by_type) == {"webhook.test", "order.created"}
    assert all(r.verified_by == [endpoint["secret"]] for r in by_type.values())
    order = customer.get(f"{stack.base}/api/orders/{order_id}/", timeout=5).json()
    order.pop("side_effects")
    assert by_type["order.created"].event["data"] == order

    deliveries = f"{api}/endpoints/{endpoint['id']}/deliveries/"
    wait_until(  # recorded once answered
        lambda: staff.get(deliveries, params={"status": "delivered"}).json()["count"] == 2,
        timeout=30,
    )
    listed = staff.get(deliveries).json()["results"]
    assert [a["status_code"] for a in listed[0]["attempts"]] == [200]
    return by_type["order.created"].id


def rotated_then_gone(stack, staff, receiver, endpoint) -> None:
    """After a rotation both secrets sign; a 410 disables the endpoint."""
    path = f"{stack.base}/api/webhooks/endpoints/{endpoint['id']}/"
    rotated = staff.post(f"{path}rotate-secret/").json()
    receiver.behave(secrets=[endpoint["secret"], rotated["secret"]], status=410)
    staff.post(f"{path}test/")
    wait_until(
        lambda: not staff.get(path).json()["enabled"], timeout=30, message="410 to disable it"
    )
    assert receiver.at("/hook")[-1].verified_by == [endpoint["secret"], rotated["secret"]]
    shown = staff.get(path).json()
    assert shown["disabled_reason"] == "it answered 410 Gone" and "secret" not in shown
