"""The plain design (bench/plain), the benchmark's baseline: started as the benchmark starts
it (bench/plain_web.py), a real process on a database of its own and a real SMTP server,
it answers the load client's flow with Shopflow's status codes and shapes, and does its
side effects inside the checkout request."""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from rest_framework.test import APIClient

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import plain_web
import shoppers

from tests.factories import ProductFactory
from tests.support.smtp import SmtpServer, body_text

ORDERED = 2  # units of one product in the flow's cart


# --- The plain design, once for the module -------------------------------------------------


def _server_url(name: str) -> str:
    conf = settings.DATABASES["default"]
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{name}"


@pytest.fixture(scope="module")
def plain_database(tmp_path_factory):
    """A database of its own, on the suite's PostgreSQL server (its tables are named as
    Shopflow's), or an SQLite file when the suite runs on SQLite; dropped after."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{tmp_path_factory.mktemp('plain') / 'plain.sqlite3'}"
        return
    import psycopg

    name = f"{settings.DATABASES['default']['NAME']}_plain_{os.getpid()}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(name)
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def plain_smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def plain(plain_database, plain_smtp, tmp_path_factory):
    """The plain design's web (one process), its database migrated and stocked."""
    stack = plain_web.PlainStack(
        database_url=plain_database,
        email_port=plain_smtp.port,
        products=3,
        log_dir=tmp_path_factory.mktemp("plain-log"),
        WEB_CONCURRENCY="1",
    )
    try:
        stack.wait_ready(timeout=60)
        yield stack
    finally:
        stack.stop()


def plain_rows(database_url: str, sql: str) -> list[tuple]:
    """The rows of a statement on the plain design's database (none for a write), committed."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(database_url).path) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


# --- Calling either design -----------------------------------------------------------------


def plain_caller(base: str):
    """call(method, path, body, token) -> (status, JSON body, headers), over HTTP."""

    def call(method, path, body=None, token="", headers=None):
        request = urllib.request.Request(
            base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Token {token}"} if token else {}),
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null"), answer.headers
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read() or b"null"), refused.headers

    return call


def shopflow_caller():
    """The same calls to Shopflow's API, in this process (DRF's test client)."""
    client = APIClient()

    def call(method, path, body=None, token="", headers=None):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Token {token}"
        answer = client.generic(
            method,
            path,
            data="" if body is None else json.dumps(body),
            content_type="application/json",
            **extra,
        )
        data = json.loads(answer.content) if answer.content else None
        return answer.status_code, data, answer.headers

    return call


def shape(value):
    """The keys and the types of an answer, its values aside (a list: its first item's)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def shopper_flow(call, *, username: str, product_id: int) -> dict:
    """The load client's flow (bench/shoppers.py): sign-up and token, then a cart, an item,
    the checkout and the order; each step's (status, body, headers)."""
    credentials = {"username": username, "password": shoppers.PASSWORD}
    steps = {
        "register": call(
            "POST", "/api/auth/register/", {**credentials, "email": f"{username}@bench.example"}
        ),
        "token": call("POST", "/api/auth/token/", credentials),
    }
    token = steps["token"][1]["token"]
    steps["cart"] = call("POST", "/api/carts/", token=token)
    cart = steps["cart"][1]["id"]
    item = {"product_id": product_id, "quantity": ORDERED}
    steps["item"] = call("POST", f"/api/carts/{cart}/items/", item, token)
    steps["checkout"] = call("POST", "/api/orders/", {"cart_id": cart}, token)
    order = steps["checkout"][1]["id"]
    steps["order"] = call("GET", f"/api/orders/{order}/", token=token)
    steps["token_value"] = token
    return steps


def contract(steps: dict) -> dict:
    """What must be the same in both designs: each step's status and shape."""
    return {
        name: (step[0], shape(step[1])) for name, step in steps.items() if name != "token_value"
    }


# --- The tests ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_load_clients_flow_gets_the_same_statuses_and_shapes_as_from_shopflow(plain):
    product = ProductFactory(price="11.00", on_hand=100)
    shopflow = shopper_flow(shopflow_caller(), username="ann-shopflow", product_id=product.pk)
    ours = shopper_flow(plain_caller(plain.base), username="ann-plain", product_id=1)

    assert contract(ours) == contract(shopflow)
    assert [status for status, _ in contract(ours).values()] == [201, 200, 201, 201, 201, 200]
    assert ours["order"][1]["side_effects"] == {
        "confirmation_email": "done",
        "inventory": "done",
        "analytics": "done",
    }
    order = ours["checkout"][1]
    assert ours["checkout"][2]["Location"] == f"/api/orders/{order['id']}/"
    assert shopflow["checkout"][2]["Location"] == f"/api/orders/{shopflow['checkout'][1]['id']}/"
    assert order["items"][0]["quantity"] == ORDERED
    assert order["total"] == "22.00" == shopflow["checkout"][1]["total"]


@pytest.mark.django_db
def test_the_email_is_sent_and_the_stock_moved_before_the_checkout_answers(
    plain, plain_smtp, plain_database
):
    call = plain_caller(plain.base)
    before = plain_rows(plain_database, "SELECT on_hand, reserved FROM store_product WHERE id = 2")
    steps = shopper_flow(call, username="bob-plain", product_id=2)
    # Read at once, no waiting: whatever is there came before the checkout's answer.
    received = plain_smtp.handler.messages[:]
    after = plain_rows(plain_database, "SELECT on_hand, reserved FROM store_product WHERE id = 2")
    order = steps["checkout"][1]["id"]

    mine = [m for m in received if "bob-plain@bench.example" in m["To"]]
    assert [m["Subject"] for m in mine] == [
        "Welcome to Shopflow",
        f"Your Shopflow order #{order}",
    ]
    assert f"thank you for your order #{order}" in body_text(mine[1])
    assert after == [(before[0][0] - ORDERED, 0)]
    sql = (
        "SELECT delta FROM store_stockmovement m JOIN store_orderitem i"
        f" ON m.order_item_id = i.id WHERE i.order_id = {order}"
    )
    assert plain_rows(plain_database, sql) == [(-ORDERED,)]
    sql = f"SELECT units, revenue FROM analytics_app_analyticsevent WHERE order_id = {order}"
    rows = plain_rows(plain_database, sql)
    assert [(units, Decimal(str(revenue))) for units, revenue in rows] == [(ORDERED, Decimal(24))]
    sql = (
        "SELECT subject FROM email_app_sentemail"
        f" WHERE kind = 'confirmation_email' AND key = '{order}'"
    )
    assert plain_rows(plain_database, sql) == [(f"Your Shopflow order #{order}",)]


@pytest.mark.django_db
def test_an_idempotency_key_and_the_errors_answer_as_shopflows_do(plain):
    product = ProductFactory(price="11.00", on_hand=100)
    plain_rows(plain.env["DATABASE_URL"], "UPDATE store_product SET on_hand = 100 WHERE id = 3")
    shopflow = misuses(shopflow_caller(), username="cat-shopflow", product_id=product.pk)
    ours = misuses(plain_caller(plain.base), username="cat-plain", product_id=3)

    assert ours == shopflow
    assert [status for status, _ in ours.values()] == [201, 201, 422, 400, 404, 409, 401, 404]
    assert ours["short"][1]["products"] == [
        {"product_id": "int", "sku": "str", "requested": "int", "available": "int"}
    ]


def misuses(call, *, username: str, product_id: int) -> dict:
    """A checkout with an Idempotency-Key, its replay and the key's reuse with another
    cart, then the contract's errors: each (status, shape)."""
    token = shopper_flow(call, username=username, product_id=product_id)["token_value"]

    def cart_of(quantity: int) -> str:
        cart = call("POST", "/api/carts/", token=token)[1]["id"]
        if quantity:
            item = {"product_id": product_id, "quantity": quantity}
            call("POST", f"/api/carts/{cart}/items/", item, token)
        return cart

    def checkout(cart: str, key: str = ""):
        headers = {"Idempotency-Key": key} if key else {}
        return call("POST", "/api/orders/", {"cart_id": cart}, token, headers)

    cart, other, key = cart_of(1), cart_of(1), f"{username}-1"
    answers = {"first": checkout(cart, key), "replay": checkout(cart, key)}
    assert answers["replay"][1]["id"] == answers["first"][1]["id"]
    assert answers["replay"][2]["Idempotent-Replayed"] == "true"
    answers["reuse"] = checkout(other, key)
    answers["empty"] = checkout(cart_of(0))
    answers["unknown"] = checkout(cart)  # checked out already
    call("POST", f"/api/carts/{other}/items/", {"product_id": product_id, "quantity": 9999}, token)
    answers["short"] = checkout(other)
    answers["no_token"] = call("POST", "/api/carts/")
    answers["foreign"] = call("GET", "/api/orders/999999/", token=token)
    return {name: (status, shape(body)) for name, (status, body, _) in answers.items()}


def test_the_load_client_places_and_reads_orders_on_the_plain_design(plain):
    base = {"base": plain.base}
    signed_up = asyncio.run(shoppers.run({**base, "do": "register", "usernames": ["dan-plain"]}))
    assert signed_up["errors"] == [] and len(signed_up["tokens"]) == 1

    command = {**base, "do": "rest", "count": 3, "tokens": signed_up["tokens"], "products": [1, 2]}
    placed = asyncio.run(shoppers.run(command))

    assert [flow["error"] for flow in placed["flows"]] == ["", "", ""]
    assert all(flow["order_id"] for flow in placed["flows"])
    assert len(placed["get_order_ms"]) == 3


def test_the_plain_designs_migrations_match_its_models():
    env = plain_web.plain_env(database_url="sqlite:///:memory:", email_port=25)
    check = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run"],
        cwd=plain_web.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
