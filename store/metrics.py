"""What the checkout tells Prometheus (core.metrics serves it)."""

from prometheus_client import Counter

CHECKOUTS = Counter(
    "shopflow_checkouts",
    "Checkouts answered, by outcome: placed, replayed (the same Idempotency-Key), "
    "out_of_stock, invalid (a bad body or an empty cart), key_reused, refused (no login).",
    ["outcome"],
)
OUTCOMES = {409: "out_of_stock", 400: "invalid", 422: "key_reused", 401: "refused", 403: "refused"}


def checkout_count(response) -> None:
    if response.status_code == 201:
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        outcome = "replayed" if replayed else "placed"
    else:
        outcome = OUTCOMES.get(response.status_code, "error")
    CHECKOUTS.labels(outcome).inc()
