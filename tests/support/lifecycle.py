"""An order's cancel as its customer asks for it, over HTTP to a web process or through
the API in this process (tests/e2e/test_order_lifecycle.py and its _stock sibling)."""

import requests

from tests.support.clients import client_for

REQUEST_SECONDS = 30


# --- The customer's and staff's requests, over HTTP --------------------------------


# `headers`: tests.e2e.test_notification_stream.token_header(user), read in the test's own
# thread (a thread that reads the database keeps a connection of its own open).


def post_over_http(site, headers: dict, path: str, body: dict) -> requests.Response:
    return requests.post(f"{site.base}{path}", json=body, headers=headers, timeout=REQUEST_SECONDS)


def cancel_over_http(site, headers: dict, order_id: int) -> requests.Response:
    return post_over_http(site, headers, f"/api/orders/{order_id}/cancel/", {"reason": "Changed"})


def cancel(user, order_id: int):
    """The customer's cancel through the API, in this process."""
    return client_for(user).post(f"/api/orders/{order_id}/cancel/", {}, format="json")
