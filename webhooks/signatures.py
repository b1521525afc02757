"""Standard Webhooks 1.0: the ids, the secrets and the signatures of a delivery.

The `webhook-signature` header is `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`,
keyed with the decoded bytes of the secret after its `whsec_` prefix; during a rotation's
overlap one such signature per secret, space-separated (a receiver accepts either)."""

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_new() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def delivery_id_new() -> str:
    """`msg_` + the time in milliseconds (hex, so ids sort by it) + 80 random bits."""
    return f"msg_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def signature_header(*, keys: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for key in keys:
        mac = hmac.new(base64.b64decode(key.removeprefix(PREFIX)), signed, hashlib.sha256)
        signatures.append("v1," + base64.b64encode(mac.digest()).decode())
    return " ".join(signatures)
