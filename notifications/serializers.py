from rest_framework import serializers

from .models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "link", "is_read", "read_at", "created_at"]
        read_only_fields = fields


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class MarkedReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")


class StreamTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="For GET /api/notifications/stream/?token=...")
    expires_in = serializers.IntegerField(help_text="Seconds the token may open a stream.")
