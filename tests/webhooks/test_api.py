"""The staff's webhook API as docs/webhooks.md has it: validation errors in JSON with
nothing written, staff only, secrets shown once, deliveries with their attempts."""

import base64

import pytest

from core.clock import db_now
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.row_locks import held_by_another_transaction
from tests.support.webhooks import job_of, status_of
from webhooks.models import JOB_KIND, Attempt, Delivery, Endpoint
from worker.models import Job

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/webhooks/endpoints/"
PUBLIC = "https://hooks.example.net/shop"
FIELDS = {"id", "url", "events", "description", "enabled", "disabled_reason", "disabled_at"}


def add(staff, url=PUBLIC, events=("order.created",), **more):
    response = staff.post(ENDPOINTS, {"url": url, "events": list(events), **more}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_staff_add_an_endpoint_and_see_its_secret_in_that_answer_only(staff, dns):
    made = add(staff, events=["order.created", "product.low_stock", "order.created"])

    assert set(made) == FIELDS | {"created_at", "secret"}
    assert made["events"] == ["order.created", "product.low_stock"]  # once each
    assert made["enabled"] is True and made["description"] == ""
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) == 32
    listed = staff.get(ENDPOINTS).json()["results"]
    one = staff.get(f"{ENDPOINTS}{made['id']}/").json()
    assert "secret" not in listed[0] and "secret" not in one
    assert one == {key: made[key] for key in FIELDS | {"created_at"}}


def test_customers_are_refused_403_and_anonymous_callers_401(dns, anon_client, staff):
    endpoint = add(staff)
    delivery = staff.post(f"{ENDPOINTS}{endpoint['id']}/test/").json()
    customer = client_for(UserFactory())
    paths = [
        ("get", ENDPOINTS),
        ("post", ENDPOINTS),
        ("get", f"{ENDPOINTS}{endpoint['id']}/"),
        ("patch", f"{ENDPOINTS}{endpoint['id']}/"),
        ("delete", f"{ENDPOINTS}{endpoint['id']}/"),
        ("post", f"{ENDPOINTS}{endpoint['id']}/rotate-secret/"),
        ("post", f"{ENDPOINTS}{endpoint['id']}/test/"),
        ("get", f"{ENDPOINTS}{endpoint['id']}/deliveries/"),
        ("post", f"/api/webhooks/deliveries/{delivery['id']}/redeliver/"),
    ]
    for method, path in paths:
        as_customer = getattr(customer, method)(path, {}, format="json")
        anonymous = getattr(anon_client, method)(path, {}, format="json")
        assert (as_customer.status_code, anonymous.status_code) == (403, 401), path
        assert "detail" in as_customer.json() and "detail" in anonymous.json()
    assert Endpoint.objects.count() == 1 and Delivery.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"events": ["order.shipped"]}, "events", "Unknown event type 'order.shipped'"),
        ({"events": ["webhook.test"]}, "events", "Unknown event type"),
        ({"events": []}, "events", "non-empty list"),
        ({"events": "order.created"}, "events", "non-empty list"),
        ({"events": [{"a": 1}]}, "events", "Unknown event type"),
        ({"url": "http://hooks.example.net/x"}, "url", "must be an https URL"),
        ({"url": "ftp://hooks.example.net/x"}, "url", "must be an https URL"),
        ({"url": "https://me:pw@hooks.example.net/x"}, "url", "credentials"),
        ({"url": "https://10.0.0.5/x"}, "url", "not on the public internet"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url", "not on the public"),
        ({"url": "https://127.0.0.1/x"}, "url", "not on the public internet"),
        ({"url": "https://[::ffff:192.168.1.1]/x"}, "url", "not on the public internet"),
        ({"url": "https://inside.example.net/x"}, "url", "not on the public internet"),
        ({"url": "https://nowhere.example.net/x"}, "url", "does not resolve"),
        ({"url": "https://hooks.example.net:99999/x"}, "url", "not a URL"),
        ({"url": 42}, "url", "must be an https URL"),
        ({"url": ["https://hooks.example.net/x"]}, "url", "Not a valid string"),
        ({"url": "https://x/" + "a" * 1000}, "url", "no more than 1000"),
        ({"description": "d" * 501}, "description", "no more than 500"),
    ],
)
def test_a_bad_endpoint_gets_a_400_naming_its_field_and_nothing_is_written(
    staff, dns, body, field, words
):
    dns["inside.example.net"] = ["93.184.216.34", "10.1.2.3"]  # one private answer is enough
    response = staff.post(
        ENDPOINTS, {"url": PUBLIC, "events": ["order.created"], **body}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert response.json()["detail"].startswith(f"{field}: ")
    assert not Endpoint.objects.exists()


def test_plain_http_to_loopback_only_when_the_setting_allows_it(staff, settings):
    body = {"url": "http://127.0.0.1:9/hook", "events": ["order.created"]}
    assert staff.post(ENDPOINTS, body, format="json").status_code == 400
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    assert staff.post(ENDPOINTS, body, format="json").status_code == 201
    body["url"] = "http://10.0.0.5/hook"  # loopback only, not the private network
    assert staff.post(ENDPOINTS, body, format="json").status_code == 400


def test_patch_changes_what_it_names_checks_it_and_disabling_fails_pending_deliveries(staff, dns):
    endpoint = add(staff, description="ERP")
    path = f"{ENDPOINTS}{endpoint['id']}/"
    pending = staff.post(f"{path}test/").json()

    refused = staff.patch(path, {"url": "https://10.0.0.5/x", "events": []}, format="json")
    assert refused.status_code == 400 and set(refused.json()) >= {"url", "events"}
    changed = staff.patch(path, {"events": ["product.price_changed"]}, format="json").json()
    assert (changed["events"], changed["description"]) == (["product.price_changed"], "ERP")

    disabled = staff.patch(path, {"enabled": False}, format="json").json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "disabled by staff")
    assert status_of(pending["id"]) == "failed"
    assert job_of(pending["id"]).last_error == "the endpoint was disabled: disabled by staff"
    assert staff.post(f"{path}test/").status_code == 400  # disabled: nothing to send to
    enabled = staff.patch(path, {"enabled": True}, format="json").json()
    assert (enabled["enabled"], enabled["disabled_reason"], enabled["disabled_at"]) == (
        True,
        "",
        None,
    )


def test_delete_removes_the_endpoint_with_its_deliveries_but_one_an_attempt_holds(staff, dns):
    endpoint = add(staff)
    ended, _waiting, held = (staff.post(f"{ENDPOINTS}{endpoint['id']}/test/").json() for _ in "123")
    Attempt.objects.create(delivery=Delivery.objects.get(key=ended["id"]), status_code=200)
    Delivery.objects.filter(key=ended["id"]).update(status="done")
    Delivery.objects.filter(key=held["id"]).update(leased_until=db_now(plus_seconds=60))

    assert staff.delete(f"{ENDPOINTS}{endpoint['id']}/").status_code == 204

    assert staff.get(f"{ENDPOINTS}{endpoint['id']}/").status_code == 404
    assert staff.delete(f"{ENDPOINTS}{endpoint['id']}/").status_code == 404
    # The one under way goes as its attempt ends (it finds no endpoint).
    assert list(Delivery.objects.values_list("key", flat=True)) == [held["id"]]
    assert not Attempt.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_delete_waits_for_no_delivery_another_transaction_holds(staff, dns):
    """An attempt ending holds its delivery's row, then asks for its endpoint's: a delete,
    which holds the endpoint's row, passes that delivery by rather than wait for it (the
    two would deadlock)."""
    endpoint = add(staff)
    ending, _other = (staff.post(f"{ENDPOINTS}{endpoint['id']}/test/").json() for _ in "12")
    ending_job = Delivery.objects.filter(key=ending["id"])

    with held_by_another_transaction(lambda: ending_job.update(last_error="ending")):
        assert staff.delete(f"{ENDPOINTS}{endpoint['id']}/").status_code == 204

    assert list(Delivery.objects.values_list("key", flat=True)) == [ending["id"]]


def test_a_rotation_answers_the_new_secret_and_keeps_the_old_one_signing_for_a_day(staff, dns):
    from django.utils import timezone

    endpoint = add(staff)
    rotated = staff.post(f"{ENDPOINTS}{endpoint['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != endpoint["secret"]
    row = Endpoint.objects.get(pk=endpoint["id"])
    assert (row.secret, row.previous_secret) == (rotated.json()["secret"], endpoint["secret"])
    overlap = (row.previous_secret_until - timezone.now()).total_seconds()
    assert 24 * 3600 - 60 < overlap <= 24 * 3600


def test_a_test_event_is_accepted_and_enqueued_for_that_endpoint(staff, dns):
    endpoint = add(staff, events=["product.low_stock"])
    response = staff.post(f"{ENDPOINTS}{endpoint['id']}/test/")

    assert response.status_code == 202
    answer = response.json()
    assert (answer["event_type"], answer["status"], answer["attempts"]) == (
        "webhook.test",
        "pending",
        [],
    )
    assert answer["next_attempt_at"] is not None
    delivery = Delivery.objects.get(key=answer["id"])
    assert delivery.payload["data"] == {
        "endpoint_id": endpoint["id"],
        "message": "A test event from Shopflow.",
    }
    job = job_of(answer["id"])  # its job, due now, capped by its endpoint
    assert (job.status, job.attempts, job.concurrency_key) == ("pending", 0, str(endpoint["id"]))


def test_deliveries_come_newest_first_with_their_attempts_and_filter_by_status(staff, dns):
    endpoint = add(staff)
    path = f"{ENDPOINTS}{endpoint['id']}/deliveries/"
    first, second = (staff.post(f"{ENDPOINTS}{endpoint['id']}/test/").json() for _ in range(2))
    Job.objects.filter(kind=JOB_KIND, key=first["id"]).update(status="failed")
    Attempt.objects.create(
        delivery=Delivery.objects.get(key=first["id"]),
        status_code=500,
        duration_ms=12,
        error="HTTP 500",
    )

    listed = staff.get(path).json()["results"]
    assert [d["id"] for d in listed] == [second["id"], first["id"]]
    assert set(listed[1]) == {
        "id",
        "event_type",
        "status",
        "created_at",
        "next_attempt_at",
        "attempts",
    }
    (attempt,) = listed[1]["attempts"]
    assert (attempt["status_code"], attempt["duration_ms"], attempt["error"]) == (
        500,
        12,
        "HTTP 500",
    )
    assert [d["id"] for d in staff.get(path, {"status": "failed"}).json()["results"]] == [
        first["id"]
    ]
    assert staff.get(path, {"status": "delivered"}).json()["results"] == []
    pending = staff.get(path, {"status": "pending"}).json()["results"]
    assert [(d["id"], d["status"]) for d in pending] == [(second["id"], "pending")]
    assert pending[0]["next_attempt_at"] is not None and listed[1]["next_attempt_at"] is None
    Job.objects.filter(kind=JOB_KIND, key=second["id"]).update(status="done")  # its job's
    delivered = staff.get(path, {"status": "delivered"}).json()["results"]
    assert [(d["id"], d["status"], d["next_attempt_at"]) for d in delivered] == [
        (second["id"], "delivered", None)
    ]
    bad = staff.get(path, {"status": "lost"})
    assert bad.status_code == 400 and "status" in bad.json()
    assert staff.get(f"{ENDPOINTS}999999/deliveries/").status_code == 404


def test_a_redeliver_sends_the_same_id_again_now(staff, dns):
    """An ended delivery starts a new round of attempts; a pending one is due now, its
    attempts counted on; a pruned one is gone (404)."""
    endpoint = add(staff)
    failed, later, pruned = (
        staff.post(f"{ENDPOINTS}{endpoint['id']}/test/").json()["id"] for _ in range(3)
    )
    jobs = Job.objects.filter(kind=JOB_KIND)
    jobs.filter(key=failed).update(status="failed", attempts=8)
    jobs.filter(key=later).update(attempts=3, due_at=db_now(plus_seconds=3600))
    jobs.filter(key=pruned).delete()

    for delivery_id in (failed, later):
        response = staff.post(f"/api/webhooks/deliveries/{delivery_id}/redeliver/")
        assert response.status_code == 202
        assert (response.json()["id"], response.json()["status"]) == (delivery_id, "pending")
    assert [jobs.get(key=key).attempts for key in (failed, later)] == [0, 3]
    due = {job.key for job in jobs.filter(status="pending", due_at__lte=db_now())}
    assert due == {failed, later}
    assert staff.post(f"/api/webhooks/deliveries/{pruned}/redeliver/").status_code == 404
    unknown = "msg_" + "0" * 32
    assert staff.post(f"/api/webhooks/deliveries/{unknown}/redeliver/").status_code == 404
    assert staff.post("/api/webhooks/deliveries/msg_%00/redeliver/").status_code == 404


def test_unknown_endpoints_are_a_json_404(staff):
    for method, path in [
        ("get", f"{ENDPOINTS}424242/"),
        ("patch", f"{ENDPOINTS}424242/"),
        ("post", f"{ENDPOINTS}424242/rotate-secret/"),
        ("post", f"{ENDPOINTS}424242/test/"),
    ]:
        response = getattr(staff, method)(path, {}, format="json")
        assert response.status_code == 404, path
        assert response.json()["detail"] == "No webhook endpoint has that id."
