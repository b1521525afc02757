from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.public_http import AddressRefused

from .events import EVENT_TYPES
from .models import Attempt, Delivery, Endpoint


@extend_schema_field(serializers.ListField(child=serializers.ChoiceField(EVENT_TYPES)))
class EventsField(serializers.JSONField):
    """A non-empty list of event types (checked whole: one message for the field)."""

    def to_internal_value(self, data):
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError("A non-empty list of event types.")
        unknown = [value for value in data if value not in EVENT_TYPES]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}."
            )
        return list(dict.fromkeys(data))


class EndpointInputSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=1000,
        help_text="https, on the public internet (plain http to loopback only with "
        "SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1).",
    )
    events = EventsField(help_text="The event types to send it.")
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)

    def validate_url(self, value: str) -> str:
        try:
            Endpoint.url_target(value)
        except AddressRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value


class EndpointChangeSerializer(EndpointInputSerializer):
    url = serializers.CharField(max_length=1000, required=False)
    events = EventsField(required=False)
    enabled = serializers.BooleanField(required=False)


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(EVENT_TYPES), read_only=True)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "events",
            "description",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "created_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields
        extra_kwargs = {"secret": {"help_text": "whsec_...: shown in full only here."}}


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["at", "status_code", "duration_ms", "error"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.CharField(
        source="key", read_only=True, help_text="The `webhook-id` of every attempt."
    )
    event_type = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(
        Delivery.Status.choices, source="delivery_status", read_only=True
    )
    next_attempt_at = serializers.DateTimeField(read_only=True, allow_null=True)
    attempts = AttemptSerializer(source="attempt_records", many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "event_type", "status", "created_at", "next_attempt_at", "attempts"]
        read_only_fields = fields


class DeliveryQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(Delivery.Status.choices, required=False)
