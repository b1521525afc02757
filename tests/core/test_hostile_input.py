"""Bad input of every kind gets a JSON 4xx, never a 500 or an HTML page, and leaves
nothing behind."""

import pytest
from django.test import Client

from store import serializers as store_serializers
from store.models import Cart, CartItem, Order
from store.services.checkout import order_place
from tests.factories import ProductFactory, cart_with

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000  # beyond what Python's json module can recurse into
TOO_DEEP = '{"a":' * 40 + "1" + "}" * 40  # parses, but deeper than any request needs


def json_endpoints(client, customer):
    """(method, path, an authenticated client or None) for every endpoint taking JSON."""
    cart = cart_with(customer, (ProductFactory(), 1))
    item = CartItem.objects.get(cart=cart)
    return [
        ("post", "/api/auth/register/", None),
        ("post", "/api/auth/token/", None),
        ("post", "/api/carts/", client),
        ("post", f"/api/carts/{cart.pk}/items/", client),
        ("patch", f"/api/carts/{cart.pk}/items/{item.pk}/", client),
        ("post", "/api/orders/", client),
    ]


def send(client, method, path, body, content_type="application/json", **extra):
    client = client or Client()
    return getattr(client, method)(path, data=body, content_type=content_type, **extra)


def assert_json_error(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


@pytest.mark.parametrize("body", [DEEP, TOO_DEEP], ids=["100k deep", "40 deep"])
def test_deeply_nested_json_is_400_on_every_json_endpoint(client, customer, body):
    for method, path, api_client in json_endpoints(client, customer):
        response = send(api_client, method, path, body)
        assert_json_error(response, 400)
        assert "nested" in response.json()["detail"], path
    assert not Order.objects.exists()
    assert Cart.objects.count() == 1


def test_json_nested_as_deep_as_a_real_request_is_accepted(client, customer):
    cart = cart_with(customer, (ProductFactory(), 1))
    body = f'{{"cart_id": "{cart.pk}", "note": {"[" * 10 + "]" * 10}}}'
    assert send(client, "post", "/api/orders/", body).status_code == 201


def test_a_body_over_the_limit_is_413_on_every_json_endpoint(client, customer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"username": "%s"}' % ("x" * 20_000)
    for method, path, api_client in json_endpoints(client, customer):
        assert_json_error(send(api_client, method, path, body), 413)
    assert not Order.objects.exists()


def test_a_form_body_over_the_limit_is_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = "username=" + "x" * 20_000
    response = Client().post(
        "/api/auth/token/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_json_error(response, 413)


def test_over_a_thousand_form_fields_is_a_json_400():
    body = "&".join(f"f{n}=1" for n in range(1_500))
    response = Client().post(
        "/api/auth/token/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_json_error(response, 400)


def test_a_host_not_allowed_is_a_json_400():
    response = Client().get("/api/products/", HTTP_HOST="evil.example")
    assert_json_error(response, 400)


def test_a_post_to_healthz_is_a_json_405():
    response = Client(enforce_csrf_checks=True).post("/healthz")
    assert_json_error(response, 405)


def test_a_session_post_without_a_csrf_token_is_a_json_403(user):
    from tests.factories import PASSWORD

    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)

    response = client.post("/api/carts/", "{}", content_type="application/json")

    assert_json_error(response, 403)
    assert "CSRF" in response.json()["detail"]
    assert not Cart.objects.exists()


def test_a_csrf_failure_outside_the_api_is_json_too():
    response = Client(enforce_csrf_checks=True).post("/api/auth/nothing-here/")
    assert response.status_code in (403, 404)
    assert response["Content-Type"].startswith("application/json")


def test_malformed_json_and_a_wrong_content_type_are_json_4xx(client):
    assert_json_error(send(client, "post", "/api/carts/", "{not json"), 400)
    assert_json_error(send(client, "post", "/api/carts/", "<xml/>", "application/xml"), 415)


# --- Faults behind the request -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_lost_mid_request_is_a_json_503_with_retry_after(
    monkeypatch, customer
):
    """The request's PostgreSQL backend is terminated (as a failover or an operator
    would) between authentication and the checkout's first statement."""
    import psycopg
    from django.db import connection

    from tests.support.clients import client_for
    from tests.support.processes import database_url

    cart = cart_with(customer, (ProductFactory(), 1))
    client = client_for(customer.user)
    original = order_place

    def terminated_first(**kwargs):
        pid = connection.connection.info.backend_pid
        with psycopg.connect(database_url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return original(**kwargs)

    monkeypatch.setattr(store_serializers, "order_place", terminated_first)
    response = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert_json_error(response, 503)
    assert response["Retry-After"].isdigit()
    monkeypatch.setattr(store_serializers, "order_place", original)
    assert not Order.objects.exists()
    assert client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_dead_broker_still_gets_a_201_and_the_dispatcher_wakes_the_jobs_once_it_is_back(
    own_redis, customer
):
    from tests.support.clients import client_for
    from tests.support.jobs import order_jobs
    from worker.dispatcher import Dispatcher
    from worker.locks import jobs_due

    cart = cart_with(customer, (ProductFactory(), 1))
    own_redis.stop()
    response = client_for(customer.user).post(
        "/api/orders/", {"cart_id": str(cart.pk)}, format="json"
    )

    assert response.status_code == 201
    assert order_jobs(response.json()["id"]).filter(status="pending").count() == 3
    dispatcher = Dispatcher()
    with pytest.raises(Exception):  # noqa: B017 - the broker's own error, whichever it is
        dispatcher.tick()  # still down: nothing is woken, nothing is lost
    own_redis.start()
    due_kinds = jobs_due().order_by().values("kind").distinct().count()
    assert dispatcher.tick() == due_kinds >= 3  # one wake-up a kind


def test_a_charset_no_codec_knows_is_a_json_400(client):
    for charset in ("rot13", "zlib", "no-such-charset"):
        response = send(
            client, "post", "/api/orders/", "{}", f"application/json; charset={charset}"
        )
        assert_json_error(response, 400)


def test_a_database_error_that_is_a_bug_stays_a_500(monkeypatch, client, customer):
    from django.db import OperationalError

    def broken(**kwargs):
        raise OperationalError("no such table: store_order")  # a migration not applied

    monkeypatch.setattr(store_serializers, "order_place", broken)
    cart = cart_with(customer, (ProductFactory(), 1))
    client.raise_request_exception = False
    response = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}


def test_a_deadlock_is_a_503_to_retry(monkeypatch, client, customer):
    import psycopg
    from django.db import OperationalError

    def deadlocked(**kwargs):
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()

    monkeypatch.setattr(store_serializers, "order_place", deadlocked)
    cart = cart_with(customer, (ProductFactory(), 1))
    response = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert_json_error(response, 503)
    assert response["Retry-After"] == "5"


def test_healthz_answers_head():
    assert Client().head("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/api/orders", "/api/carts", "/api/auth/token"])
def test_an_api_path_without_its_trailing_slash_is_a_json_404_naming_it(client, path):
    """Not a 301 with an empty HTML body (which curl -L follows as a GET, a misleading 400)."""
    answer = client.post(path, {"cart_id": "x"}, format="json")

    assert answer.status_code == 404 and answer["Content-Type"] == "application/json"
    assert answer.json() == {
        "detail": f"Not found. Did you mean {path}/ (with its trailing slash)?"
    }
    assert not Order.objects.exists() and not Cart.objects.exists()


def test_a_page_without_its_trailing_slash_is_still_redirected_to_it():
    assert Client().get("/account/login")["Location"] == "/account/login/"


def test_an_unknown_api_path_is_a_plain_json_404(client):
    assert client.get("/api/nothing-here").json() == {"detail": "Not found."}


@pytest.mark.parametrize("cart_id", [42, 4.2, True, ["x"], {"id": 1}, "nope"])
def test_a_cart_id_that_is_not_a_uuid_string_is_a_400(client, cart_id):
    answer = client.post("/api/orders/", {"cart_id": cart_id}, format="json")

    assert answer.status_code == 400
    assert answer.json()["cart_id"] == ["Must be a valid UUID."]
    assert not Order.objects.exists()


def _form_too_large():
    body = "username=" + "x" * 20_000
    return Client().post("/account/login/", body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("request_it", "logger"),
    [
        (lambda: Client().get("/healthz", HTTP_HOST="evil.example"), "DisallowedHost"),
        (_form_too_large, "RequestDataTooBig"),
    ],
    ids=["bad Host", "413"],
)
def test_a_refused_client_error_is_one_warning_line_on_the_console(
    request_it, logger, caplog, settings
):
    """Django logs these at ERROR with its check's traceback: the console shows one
    WARNING line (core.log_filters)."""
    import logging

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    with caplog.at_level(logging.WARNING, logger="django.security"):
        assert request_it().status_code in (400, 413)
    [record] = [r for r in caplog.records if r.name == f"django.security.{logger}"]
    [console] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]

    assert console.filter(record)
    shown = console.format(record)
    assert record.levelname == "WARNING" and len(shown.splitlines()) == 1, shown
