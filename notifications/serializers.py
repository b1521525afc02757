import base64
import binascii
import re

from cryptography.hazmat.primitives.asymmetric import ec
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.public_http import AddressRefused

from . import preferences
from .models import STAFF_ONLY_KINDS, Notification, PushSubscription
from .push import push_target


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "link", "is_read", "read_at", "created_at"]
        read_only_fields = fields


UNREAD_HELP = "The caller's unread count now, as GET /api/notifications/ counts it."
UNREAD_AS_OF_HELP = (
    "The version of the database `unread` was read at: of two counts, the one with the "
    "greater `unread_as_of` (compared as strings) is the newer, whatever order they came in."
)


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField(help_text=UNREAD_HELP)
    unread_as_of = serializers.CharField(help_text=UNREAD_AS_OF_HELP)


class NotificationReadSerializer(NotificationSerializer, UnreadCountSerializer):
    class Meta(NotificationSerializer.Meta):
        fields = [*NotificationSerializer.Meta.fields, "unread", "unread_as_of"]
        read_only_fields = fields


class ReadAllSerializer(serializers.Serializer):
    up_to_id = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Mark read those up to this id (the newest the client shows), none newer; "
        "all when absent.",
    )


class MarkedReadSerializer(UnreadCountSerializer):
    marked = serializers.IntegerField(help_text="How many were unread.")


class StreamTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="For GET /api/notifications/stream/?token=...")
    expires_in = serializers.IntegerField(help_text="Seconds the token may open a stream.")


CHANNEL_HELP = {
    "in_app": "In the app, and live to open tabs.",
    "email": "By email, when unread after a while.",
    "push": "By Web Push, to the person's browsers.",
}


def _schema(name: str, doc: str, fields: dict) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), {"__doc__": doc, **fields})


def _preferences(name: str, doc: str, *, change: bool) -> type[serializers.Serializer]:
    """The schema of the preferences (a field per kind, each its channels), or of a change:
    some kinds, each with some of its channels (`{"message": {"email": false}}` alone)."""
    booleans = {
        channel: serializers.BooleanField(required=not change, help_text=text)
        for channel, text in CHANNEL_HELP.items()
    }
    channels = _schema("ChannelsChange" if change else "Channels", "", booleans)
    staff_only = "Staff only: absent for a customer, 400 from one."
    kinds = {
        kind: channels(
            required=not change and kind not in STAFF_ONLY_KINDS,
            help_text=staff_only if kind in STAFF_ONLY_KINDS else None,
        )
        for kind in preferences.DEFAULTS
    }
    return _schema(name, doc, kinds)


PreferencesSchema = _preferences(
    "NotificationPreferences", "The caller's channels for each kind of notification.", change=False
)
PreferencesChangeSchema = _preferences(
    "NotificationPreferencesChange",
    "Some kinds, each with some of its channels; the rest stay as they are.",
    change=True,
)


class PreferencesUpdateSerializer(serializers.Serializer):
    """Some kinds, each with some of its channels: `{"message": {"email": false}}`; of the
    kinds that can reach the person in `context["user"]` (preferences.kinds_for)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send an object of kinds."]})
        kinds = preferences.kinds_for(self.context["user"])
        problems = {
            kind: _channels_problem(kind, channels, kinds) for kind, channels in data.items()
        }
        errors = {str(kind): [problem] for kind, problem in problems.items() if problem}
        if errors:
            raise serializers.ValidationError(errors)
        return data


def _channels_problem(kind, channels, kinds: list[str]) -> str:
    if kind in preferences.DEFAULTS and kind not in kinds:
        return f"{kind} is for staff only: it never reaches a customer."
    if kind not in kinds:
        return f"Unknown kind. Kinds: {', '.join(kinds)}."
    if not isinstance(channels, dict):
        return "Send an object of channels."
    for channel, on in channels.items():
        if channel not in preferences.CHANNELS:
            known = ", ".join(preferences.CHANNELS)
            return f"Unknown channel {str(channel)[:40]!r}. Channels: {known}."
        if not isinstance(on, bool):
            return f"{channel}: true or false."
        if not on and channel in preferences.REQUIRED.get(kind, ()):
            return f"{channel} cannot be turned off for {kind}."
    return ""


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

    def validate_keys(self, keys) -> dict:
        if not isinstance(keys, dict) or not {"p256dh", "auth"} <= keys.keys():
            raise serializers.ValidationError("keys must hold p256dh and auth.")
        p256dh, auth = keys["p256dh"], keys["auth"]
        if not all(isinstance(v, str) and _BASE64URL.fullmatch(v) for v in (p256dh, auth)):
            raise serializers.ValidationError("p256dh and auth are base64url strings.")
        if len(p256dh) > 100 or len(auth) > 50:
            raise serializers.ValidationError("p256dh or auth is too long.")
        try:
            point, secret = _b64url(p256dh), _b64url(auth)
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(
                "p256dh must be a P-256 public key and auth a secret, both base64url."
            ) from None
        if len(secret) != 16:
            raise serializers.ValidationError("auth is 16 bytes, base64url.")
        return {"p256dh": p256dh, "auth": auth}


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
