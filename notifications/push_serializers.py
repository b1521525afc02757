import base64
import binascii
import re

from cryptography.hazmat.primitives.asymmetric import ec
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.public_http import AddressRefused

from .models import PushSubscription
from .push import push_target

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+=*")


def _b64url(value: str) -> bytes:
    """binascii.Error (a ValueError) when it is not base64url."""
    return base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))


class PushKeysSerializer(serializers.Serializer):
    """The keys of a subscription (for the schema: validated whole by validate_keys, so a
    bad key is one message under `keys`)."""

    p256dh = serializers.CharField(max_length=100, help_text="The browser's P-256 public key.")
    auth = serializers.CharField(max_length=50, help_text="The browser's auth secret.")


@extend_schema_field(PushKeysSerializer)
class KeysField(serializers.JSONField):
    pass


def _key_problem(keys) -> str:
    if not isinstance(keys, dict) or not {"p256dh", "auth"} <= keys.keys():
        return "keys must hold p256dh and auth."
    p256dh, auth = keys["p256dh"], keys["auth"]
    if not all(isinstance(v, str) and _BASE64URL.fullmatch(v) for v in (p256dh, auth)):
        return "p256dh and auth are base64url strings."
    if len(p256dh) > 100 or len(auth) > 50:
        return "p256dh or auth is too long."
    try:
        point, secret = _b64url(p256dh), _b64url(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (binascii.Error, ValueError):
        return "p256dh must be a P-256 public key and auth a secret, both base64url."
    if len(secret) != 16:
        return "auth is 16 bytes, base64url."
    return ""


class PushSubscriptionInputSerializer(serializers.Serializer):
    """A browser's PushSubscription as JSON (PushSubscription.toJSON())."""

    endpoint = serializers.CharField(max_length=1000)
    keys = KeysField(help_text="p256dh and auth, base64url.")
    expirationTime = serializers.IntegerField(required=False, allow_null=True)

    def validate_endpoint(self, value: str) -> str:
        try:
            push_target(value)
        except AddressRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value

    def validate_keys(self, value) -> dict:
        problem = _key_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return {"p256dh": value["p256dh"], "auth": value["auth"]}


class PushRenewSerializer(PushSubscriptionInputSerializer):
    old_endpoint = serializers.CharField(
        max_length=1000, help_text="The endpoint of the subscription the browser replaced."
    )


class PushSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "created_at"]
        read_only_fields = fields


class PushKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="The VAPID public key, base64url.")
