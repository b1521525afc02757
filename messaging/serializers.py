from rest_framework import serializers

from .models import Message


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    from_staff = serializers.BooleanField(source="author.is_staff", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "order", "author", "from_staff", "body", "created_at", "read_at"]
        read_only_fields = ["id", "order", "author", "from_staff", "created_at", "read_at"]
        extra_kwargs = {"read_at": {"help_text": "When its recipient read it; null until then."}}


class MessageCreateSerializer(serializers.Serializer):
    # The limits are the service's (messaging.services.message_post); these give the schema.
    body = serializers.CharField(max_length=Message.MAX_LENGTH, trim_whitespace=True)


class MessagesMarkedReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")
