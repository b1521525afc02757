"""Standard Webhooks 1.0: the ids, the secrets and the signatures of a delivery
(docs/webhooks.md, "A delivery")."""

import base64
import hashlib
import hmac
import secrets
import threading
import time

PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_new() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


RANDOM_BITS = 80
_last_id = (0, 0)  # (milliseconds, random part) of this process's latest id
_last_id_lock = threading.Lock()


def delivery_id_new() -> str:
    """`msg_` + the time in milliseconds + 80 random bits, in hex: ids sort by time, and
    within a process each sorts after the one before (RFC 9562's monotonic random: in the
    same millisecond, or after the clock stepped back, the last one's random part plus
    one), so that an endpoint's deliveries list in the order they were made."""
    global _last_id
    with _last_id_lock:
        ms, rand = time.time_ns() // 1_000_000, secrets.randbits(RANDOM_BITS)
        if ms <= _last_id[0]:
            ms, rand = _last_id[0], _last_id[1] + 1
            if rand >> RANDOM_BITS:
                ms, rand = ms + 1, 0
        _last_id = (ms, rand)
    return f"msg_{ms:012x}{rand:020x}"


def signature_header(*, keys: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for key in keys:
        mac = hmac.new(base64.b64decode(key.removeprefix(PREFIX)), signed, hashlib.sha256)
        signatures.append("v1," + base64.b64encode(mac.digest()).decode())
    return " ".join(signatures)
