"""What the checkout tells Prometheus (core.metrics serves it)."""

from prometheus_client import Counter

CHECKOUTS = Counter(
    "shopflow_checkouts",
    "Checkouts answered, by outcome: placed, replayed (the same Idempotency-Key), "
    "out_of_stock, invalid (a bad body or an empty cart), not_found (no such cart of the "
    "caller's), key_reused, refused (no login), throttled, error (anything else).",
    ["outcome"],
)
OUTCOMES = {
    400: "invalid",
    401: "refused",
    403: "refused",
    404: "not_found",
    409: "out_of_stock",
    422: "key_reused",
    429: "throttled",
}


def checkout_count(response) -> None:
    if response.status_code == 201:
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        outcome = "replayed" if replayed else "placed"
    else:
        outcome = OUTCOMES.get(response.status_code, "error")
    CHECKOUTS.labels(outcome).inc()
