from django.contrib.auth import get_user_model
from rest_framework import exceptions, serializers
from rest_framework.authtoken import serializers as authtoken
from rest_framework.validators import UniqueValidator

from . import services
from .models import LoginEvent

User = get_user_model()


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        validators=[UniqueValidator(User.objects.all(), message="This username is taken.")],
    )
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email"]


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class LoginEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LoginEvent
        fields = ["at", "ip", "user_agent", "method"]
        read_only_fields = fields


# DRF's, with the attempt counted (accounts.services.login_attempt_begin) once its fields
# are cleaned as authenticate() will get them, and before the password is checked: 429 with
# Retry-After after repeated failures from the IP or for the username. (A comment, not a
# docstring: the schema would publish it.)
class AuthTokenSerializer(authtoken.AuthTokenSerializer):
    def validate(self, attrs):
        username, password = attrs.get("username"), attrs.get("password")
        if username and password:
            request = self.context.get("request")
            wait = services.login_attempt_begin(username=username, request=request)
            if wait:
                raise exceptions.Throttled(wait=wait)
        return super().validate(attrs)
