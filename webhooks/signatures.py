"""Standard Webhooks 1.0: the ids, the secrets and the signatures of a delivery
(docs/webhooks.md, "A delivery")."""

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
    """`msg_` + the time in milliseconds + 80 random bits, in hex (32 digits)."""
    return f"msg_{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"


def signature_header(*, keys: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for key in keys:
        mac = hmac.new(base64.b64decode(key.removeprefix(PREFIX)), signed, hashlib.sha256)
        signatures.append("v1," + base64.b64encode(mac.digest()).decode())
    return " ".join(signatures)
