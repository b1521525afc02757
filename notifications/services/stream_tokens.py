"""The short-lived signed tokens of the notification streams (WebSocket, SSE)."""

import hashlib
import secrets

from django.conf import settings
from django.core import signing

from .. import selectors
from ..channel_layer import redis_client

_STREAM_TOKEN_SALT = "shopflow.notification-stream"


def stream_token_issue(*, user) -> str:
    """A signed, short-lived token naming the user, for a stream URL (EventSource cannot
    send an Authorization header)."""
    # A nonce, so two tokens issued within a second differ (each is taken once).
    value = f"{user.pk}.{secrets.token_urlsafe(6)}"
    return signing.TimestampSigner(salt=_STREAM_TOKEN_SALT).sign(value)


def stream_token_take(*, token: str) -> int | None:
    """The active user a stream token names, if no socket or stream took it before (a
    token in a URL may be replayed from an access log within its lifetime); None
    otherwise. redis.RedisError when the channel layer's Redis is away."""
    user_id = stream_token_user_id(token=token)
    # Taken by the first SET NX of its digest, in any process, while it is valid.
    key = f"shopflow:stream-token:{hashlib.sha256(token.encode()).hexdigest()}"
    ttl = max(1, settings.SHOPFLOW_STREAM_TOKEN_SECONDS)
    if user_id is None or not redis_client(settings.CHANNEL_LAYER_URL).set(key, 1, nx=True, ex=ttl):
        return None
    return user_id if selectors.user_is_active(user_id=user_id) else None


def stream_token_user_id(*, token: str) -> int | None:
    """The user a stream token names, or None when it expired or was tampered with."""
    try:
        value = signing.TimestampSigner(salt=_STREAM_TOKEN_SALT).unsign(
            token, max_age=settings.SHOPFLOW_STREAM_TOKEN_SECONDS
        )
        return int(value.split(".")[0])
    except (signing.BadSignature, ValueError):
        return None
