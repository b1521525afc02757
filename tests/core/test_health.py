"""GET /healthz: the database and the real broker, no credentials needed."""

import pytest

from devstack.stack import free_port
from tests.support.brokers import celery_broker

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_and_broker_answer(anon_client):
    response = anon_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
    }


def test_healthz_needs_no_credentials_and_ignores_a_bad_token(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_client.get("/healthz").status_code == 200


def test_healthz_is_503_naming_the_broker_while_it_is_down(anon_client):
    closed = free_port()  # nothing listens there
    with celery_broker(f"redis://127.0.0.1:{closed}/0"):
        response = anon_client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "broker" in body["detail"]
    assert "database" not in body["detail"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "down"  # no host names or error text to strangers
    assert anon_client.get("/healthz").status_code == 200  # the real broker again


def test_healthz_answers_only_get(anon_client):
    assert anon_client.post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)  # no test transaction: a real reconnect is tried
def test_healthz_is_503_naming_the_database_while_it_is_down(anon_client):
    from django.db import connection

    saved = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/dir/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = str(free_port())  # nothing listens there
    connection.close()
    try:
        response = anon_client.get("/healthz")
    finally:
        connection.settings_dict.update(saved)
        connection.close()

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "down", "broker": "ok"}
    assert response.json()["detail"] == "Down: database."
