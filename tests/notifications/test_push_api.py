"""The push subscription API and the endpoint checks: no way into the private network."""

import json

import pytest

from core import public_http
from notifications.exceptions import PushSubscriptionNotFound
from notifications.models import PushSubscription
from notifications.services.push_subscriptions import push_subscription_delete
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.push import BrowserKeys, vapid_key_pair

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/api/push/subscriptions/"
PUBLIC = "https://push.example.net/send/abc"


@pytest.fixture(autouse=True)
def vapid(settings):
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = vapid_key_pair()
    return settings.VAPID_PUBLIC_KEY


@pytest.fixture
def dns(monkeypatch):
    """A resolver stub: host -> addresses. Nothing here reaches the network."""
    answers = {"push.example.net": ["93.184.216.34"]}
    monkeypatch.setattr(public_http, "resolve", lambda host, port: answers[host])
    return answers


def test_the_key_is_the_servers_vapid_public_key(user, vapid):
    assert client_for(user).get("/api/push/key/").json() == {"public_key": vapid}


def test_without_a_vapid_key_push_answers_503(user, settings, dns):
    settings.VAPID_PRIVATE_KEY = settings.VAPID_PUBLIC_KEY = ""
    assert client_for(user).get("/api/push/key/").status_code == 503
    body = BrowserKeys().subscription(PUBLIC)
    assert client_for(user).post(SUBSCRIPTIONS, body, format="json").status_code == 503


def test_a_known_endpoint_updates_its_row_and_delete_removes_it(user, dns):
    client = client_for(user)
    first = client.post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    again = client.post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    listed = client.get(SUBSCRIPTIONS).json()["results"]
    assert [s["endpoint"] for s in listed] == [PUBLIC]
    other = client_for(UserFactory()).delete(f"{SUBSCRIPTIONS}{first.json()['id']}/")
    assert other.status_code == 404
    assert client.delete(f"{SUBSCRIPTIONS}{first.json()['id']}/").status_code == 204
    assert not PushSubscription.objects.exists()


def test_listing_by_endpoint_answers_that_browsers_row_or_none(user, dns):
    """How a tab finds its own browser's subscription, without paging through them all."""
    client = client_for(user)
    other = "https://push.example.net/send/other"
    for endpoint in (PUBLIC, other):
        client.post(SUBSCRIPTIONS, BrowserKeys().subscription(endpoint), format="json")
    client_for(UserFactory()).post(
        SUBSCRIPTIONS, BrowserKeys().subscription("https://push.example.net/send/x"), format="json"
    )

    def listed(endpoint):
        answer = client.get(SUBSCRIPTIONS, {"endpoint": endpoint}).json()
        return [row["endpoint"] for row in answer["results"]]

    assert listed(other) == [other]
    assert listed("https://push.example.net/send/x") == []  # someone else's: none
    assert listed("https://push.example.net/send/never") == []
    assert listed(other + "\x00") == []  # no database could hold it: no row, not a 500
    assert listed("https://push.example.net/" + "x" * 1000) == []


def test_deleting_another_persons_browser_is_the_domain_error_and_the_same_404(user, dns):
    theirs = client_for(UserFactory()).post(
        SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json"
    )
    subscription_id = theirs.json()["id"]
    with pytest.raises(PushSubscriptionNotFound):
        push_subscription_delete(user=user, subscription_id=subscription_id)
    response = client_for(user).delete(f"{SUBSCRIPTIONS}{subscription_id}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No PushSubscription matches the given query."}
    assert PushSubscription.objects.filter(pk=subscription_id).exists()


@pytest.mark.parametrize(
    "endpoint, addresses",
    [
        ("http://push.example.net/x", ["93.184.216.34"]),  # not https
        ("https://user:pw@push.example.net/x", ["93.184.216.34"]),
        ("https://push.example.net/x", ["10.0.0.5"]),  # private
        ("https://push.example.net/x", ["192.168.1.1"]),
        ("https://push.example.net/x", ["169.254.169.254"]),  # cloud metadata
        ("https://push.example.net/x", ["127.0.0.1"]),  # loopback (not allowed here)
        ("https://push.example.net/x", ["93.184.216.34", "10.0.0.5"]),  # any private one
        ("https://push.example.net/x", ["::ffff:10.0.0.5"]),
        ("https://push.example.net/x", ["fd00::1"]),
        ("not a url", []),
    ],
)
def test_endpoints_into_the_private_network_are_refused(user, dns, endpoint, addresses):
    dns["push.example.net"] = addresses
    response = client_for(user).post(
        SUBSCRIPTIONS, BrowserKeys().subscription(endpoint), format="json"
    )
    assert response.status_code == 400, (endpoint, addresses)
    assert "endpoint" in response.json()
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "keys",
    [
        {"p256dh": "not-a-key", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        {"p256dh": BrowserKeys().p256dh, "auth": "c2hvcnQ"},
        {"p256dh": BrowserKeys().p256dh},
    ],
)
def test_malformed_keys_are_400(user, dns, keys):
    response = client_for(user).post(
        SUBSCRIPTIONS, {"endpoint": PUBLIC, "keys": keys}, format="json"
    )
    assert response.status_code == 400
    assert not PushSubscription.objects.exists()


def test_a_twenty_first_browser_is_400(user, dns):
    client = client_for(user)
    for n in range(20):
        body = BrowserKeys().subscription(f"{PUBLIC}/{n}")
        assert client.post(SUBSCRIPTIONS, body, format="json").status_code == 201
    body = BrowserKeys().subscription(f"{PUBLIC}/21")
    assert client.post(SUBSCRIPTIONS, body, format="json").status_code == 400
    assert PushSubscription.objects.filter(user=user).count() == 20


def test_a_host_that_turns_private_after_subscribing_gets_no_push(user, dns, settings):
    """Checked again at send time: a DNS change cannot smuggle a private address in."""
    from django.db import transaction

    from notifications import push
    from notifications.services import inbox
    from tests.support.jobs import jobs_run
    from worker.models import Job

    push.anyone_subscribed.expire()
    client_for(user).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    dns["push.example.net"] = ["10.0.0.5"]
    with transaction.atomic():
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="hi")
    assert jobs_run(push.PUSH_KIND) == []
    job = Job.objects.get(kind=push.PUSH_KIND)
    assert job.status == "failed" and "refused at send time" in job.last_error
    assert not PushSubscription.objects.exists()


def test_the_service_worker_renews_a_subscription_by_its_old_endpoint(user, dns):
    from rest_framework.test import APIClient

    client_for(user).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    renewed = {"old_endpoint": PUBLIC, **BrowserKeys().subscription(PUBLIC + "/v2")}
    response = APIClient().post(SUBSCRIPTIONS + "renew/", renewed, format="json")
    assert response.status_code == 200, response.content
    assert PushSubscription.objects.get().endpoint == PUBLIC + "/v2"
    unknown = {"old_endpoint": PUBLIC + "/nope", **BrowserKeys().subscription(PUBLIC + "/v3")}
    assert APIClient().post(SUBSCRIPTIONS + "renew/", unknown, format="json").status_code == 404


@pytest.mark.parametrize(
    "keys",
    [
        {"x": 1},
        {"p256dh": "AAAA", "auth": "AAAA", "extra": 1, "nope": 2, "z": 3} | {"p256dh": 5},
        {"p256dh": BrowserKeys().p256dh, "auth": "AAAAAAAAAAAAAAAAAAAAAA" + "!" * 60},
        {"p256dh": BrowserKeys().p256dh, "auth": "ÄÄÄÄ"},
        "not an object",
    ],
)
def test_keys_of_any_shape_get_a_400_never_a_500(user, dns, keys):
    response = client_for(user).post(
        SUBSCRIPTIONS, {"endpoint": PUBLIC, "keys": keys}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "keys" in response.json()


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:a00:5::1"])
def test_ipv4_inside_ipv6_is_checked_as_that_ipv4(user, dns, address):
    dns["push.example.net"] = [address]  # NAT64 of 169.254.169.254; 6to4 of 10.0.0.5
    response = client_for(user).post(
        SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json"
    )
    assert response.status_code == 400


def test_a_host_that_does_not_resolve_at_send_time_is_tried_again_not_dropped(
    user, dns, monkeypatch
):
    from django.db import transaction

    from notifications import push
    from notifications.services import inbox
    from tests.support.jobs import jobs_run
    from worker.models import Job

    push.anyone_subscribed.expire()
    client_for(user).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")

    def unresolved(host, port):  # a DNS hiccup
        raise OSError("temporary failure in name resolution")

    monkeypatch.setattr(public_http, "resolve", unresolved)
    with transaction.atomic():
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="hi")
    assert jobs_run(push.PUSH_KIND) == []
    job = Job.objects.get(kind=push.PUSH_KIND)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error.startswith("PushNotSent: AddressUnresolved")
    assert PushSubscription.objects.exists()


def test_a_renewal_cannot_take_another_persons_endpoint(user, dns):
    from rest_framework.test import APIClient

    other = UserFactory()
    client_for(user).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    client_for(other).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC + "/b"), format="json")
    body = {"old_endpoint": PUBLIC, **BrowserKeys().subscription(PUBLIC + "/b")}
    response = APIClient().post(SUBSCRIPTIONS + "renew/", body, format="json")
    assert response.status_code == 400
    assert set(PushSubscription.objects.values_list("user_id", "endpoint")) == {
        (user.pk, PUBLIC),
        (other.pk, PUBLIC + "/b"),
    }


def test_logging_out_ends_the_subscriptions_made_in_that_session_only(user, dns):
    """A browser shared by two people: the first one's pushes stop at their logout."""
    from django.test import Client

    here, elsewhere = Client(), Client()
    here.force_login(user)
    elsewhere.force_login(user)
    endpoints = {name: f"{PUBLIC}/{name}" for name in ("here", "elsewhere", "token", "other")}
    for client, name in ((here, "here"), (elsewhere, "elsewhere")):
        body = BrowserKeys().subscription(endpoints[name])
        assert client.post(SUBSCRIPTIONS, body, content_type="application/json").status_code == 201
    token_body = BrowserKeys().subscription(endpoints["token"])
    assert client_for(user).post(SUBSCRIPTIONS, token_body, format="json").status_code == 201
    other_body = BrowserKeys().subscription(endpoints["other"])
    other = client_for(UserFactory()).post(SUBSCRIPTIONS, other_body, format="json")
    assert other.status_code == 201

    assert here.post("/account/logout/").status_code == 302

    left = set(PushSubscription.objects.values_list("endpoint", flat=True))
    assert left == {endpoints["elsewhere"], endpoints["token"], endpoints["other"]}


def test_the_next_person_subscribing_a_shared_browser_takes_its_row_until_they_log_out(user, dns):
    """The first person left without logging out (their session expires later): the
    browser's endpoint comes again from the next person's session."""
    from django.test import Client

    first, nextcomer = Client(), Client()
    first.force_login(user)
    nextcomer.force_login(UserFactory())
    for client, status in ((first, 201), (nextcomer, 200)):
        body = BrowserKeys().subscription(PUBLIC)  # the browser's one endpoint
        assert (
            client.post(SUBSCRIPTIONS, body, content_type="application/json").status_code == status
        )
    taken = PushSubscription.objects.get()
    assert taken.user_id != user.pk

    first.post("/account/logout/")  # no longer theirs
    assert PushSubscription.objects.get() == taken
    nextcomer.post("/account/logout/")
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "old", ["https://push.example.com/\x00x", "https://push.example.com/\ud800", 7]
)
def test_a_renewal_naming_an_endpoint_no_database_could_hold_is_not_found(old, user, dns):
    from rest_framework.test import APIClient

    client_for(user).post(SUBSCRIPTIONS, BrowserKeys().subscription(PUBLIC), format="json")
    renewed = {"old_endpoint": old, **BrowserKeys().subscription(PUBLIC + "/v2")}

    # As a browser's JSON says it: escaped (a lone surrogate cannot be sent as UTF-8).
    body = json.dumps(renewed)
    response = APIClient().post(SUBSCRIPTIONS + "renew/", body, content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"detail": "No subscription has that endpoint."}
