"""Schemathesis against the live app (pytest-django's live server: real HTTP), from the
schema it serves: every operation, valid and invalid input, authenticated as a regular
user. No answer may be a 5xx, and every answer must be one the schema documents, with
the content type and body it documents. A fixed example budget keeps CI within its time.

Each bug this found has a regular test too (tests/core/test_hostile_input.py and the
app's own tests)."""

import os

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support import PROJECT_DIR
from tests.support.clients import client_for

# The slow tier: a live HTTP server, and hundreds of requests.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Per operation. CI's budget; SHOPFLOW_FUZZ_EXAMPLES=500 for a longer hunt by hand (make
# test's pass on SQLite, after the hunt on PostgreSQL, sets 5).
EXAMPLES = int(os.environ.get("SHOPFLOW_FUZZ_EXAMPLES") or 25)


@pytest.fixture
def shop(live_server, request, monkeypatch):
    """What a regular customer has: a token, products, a cart with a line, an order; and
    Web Push configured, every host resolving to one public address (nothing is sent)."""
    from core import public_http
    from tests.support.push import vapid_key_pair

    django_settings = request.getfixturevalue("settings")  # `settings` is hypothesis's here
    django_settings.VAPID_PRIVATE_KEY, django_settings.VAPID_PUBLIC_KEY = vapid_key_pair()
    monkeypatch.setattr(public_http, "resolve", lambda host, port: ["93.184.216.34"])
    user = UserFactory()
    products = ProductFactory.create_batch(3, on_hand=1000)
    client = client_for(user)
    cart = cart_with(user.customer, (products[0], 1))
    client.post(
        "/api/orders/",
        {"cart_id": str(cart_with(user.customer, (products[1], 2)).pk)},
        format="json",
    )
    return {"token": user.auth_token.key, "cart": cart, "products": [p.pk for p in products]}


# OpenAPI links for the stateful test: what a client may do next with what an answer
# returned. (path, method, status) -> {link name: (path, method, link fields)}.
LINKS = {
    ("/api/carts/", "post", "201"): {
        "AddProduct": (
            "/api/carts/{cart_id}/items/",
            "post",
            {"parameters": {"cart_id": "$response.body#/id"}},
        ),
        "ReadCart": (
            "/api/carts/{cart_id}/",
            "get",
            {"parameters": {"cart_id": "$response.body#/id"}},
        ),
        "CheckOut": ("/api/orders/", "post", {"requestBody": {"cart_id": "$response.body#/id"}}),
    },
    ("/api/carts/{cart_id}/items/", "post", "201"): {
        "SetQuantity": (
            "/api/carts/{cart_id}/items/{item_id}/",
            "patch",
            {"parameters": {"cart_id": "$request.path.cart_id", "item_id": "$response.body#/id"}},
        ),
        "RemoveLine": (
            "/api/carts/{cart_id}/items/{item_id}/",
            "delete",
            {"parameters": {"cart_id": "$request.path.cart_id", "item_id": "$response.body#/id"}},
        ),
        "CheckOutTheCart": (
            "/api/orders/",
            "post",
            {"requestBody": {"cart_id": "$request.path.cart_id"}},
        ),
    },
    ("/api/orders/", "post", "201"): {
        "ReadOrder": (
            "/api/orders/{order_id}/",
            "get",
            {"parameters": {"order_id": "$response.body#/id"}},
        ),
        "WriteAboutTheOrder": (
            "/api/orders/{order_id}/messages/",
            "post",
            {"parameters": {"order_id": "$response.body#/id"}},
        ),
        "ReadTheConversation": (
            "/api/orders/{order_id}/messages/",
            "get",
            {"parameters": {"order_id": "$response.body#/id"}},
        ),
    },
}


def with_links(raw: dict) -> dict:
    """The schema with LINKS added to their answers, each naming its target by operationId."""
    paths = raw["paths"]
    for (path, method, status), links in LINKS.items():
        paths[path][method]["responses"][status]["links"] = {
            name: {"operationId": paths[target][target_method]["operationId"], **fields}
            for name, (target, target_method, fields) in links.items()
        }
    return raw


# The committed schema, which tests/core/test_openapi.py keeps equal to the one the app
# serves (loading it from the live server would need a lazy schema, which this pytest
# version does not support in schemathesis).
# The notification stream never ends by design: tests/e2e/test_notification_stream.py.
schema = schemathesis.openapi.from_dict(
    with_links(yaml.safe_load((PROJECT_DIR / "openapi.yaml").read_text()))
).exclude(path="/api/notifications/stream/")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: CI does not flake on a new example
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_request_as_its_schema_says(case, live_server, shop):
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Token {shop['token']}"},
        checks=CHECKS,
    )


def test_shopping_flows_chained_by_the_schemas_links(live_server, shop):
    """Stateful: a cart made, a product added, its quantity set or the line removed, the
    cart checked out, the order read, chained through the OpenAPI links (LINKS) with
    generated (valid and invalid) input at each step."""
    base_url = live_server.url

    class Shopping(schema.as_state_machine()):
        def setup(self):
            # A new customer and new stock each scenario: Hypothesis replays a scenario's
            # first steps to explore the next ones and fails as flaky (inconsistent data
            # generation) if an earlier scenario's orders, keys or sales change an answer.
            from rest_framework.authtoken.models import Token

            self.token = Token.objects.create(user=UserFactory()).key
            self.products = [p.pk for p in ProductFactory.create_batch(3, on_hand=1000)]

        def before_call(self, case):
            # Generated product ids are nearly never in the catalog: point valid lines at
            # real products, so scenarios go on to check out and read the order.
            body = case.body
            product = body.get("product_id") if isinstance(body, dict) else None
            if case.path.endswith("/items/") and isinstance(product, int) and product > 0:
                body["product_id"] = self.products[product % len(self.products)]

        def get_call_kwargs(self, case):
            return {"base_url": base_url, "headers": {"Authorization": f"Token {self.token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Shopping.run(
        settings=settings(
            max_examples=EXAMPLES * 3,  # scenarios: the links' chains need more draws
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
