from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.authtoken import serializers as authtoken
from rest_framework.validators import UniqueValidator

from . import services
from .exceptions import LoginThrottled
from .models import LoginEvent

User = get_user_model()


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        UnicodeUsernameValidator.regex,  # the User model's own rule
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


# DRF's, its authenticate() throttled as every login path is (accounts.services.
# login_authenticate): 429 with Retry-After while a budget of failures for the account, or
# from the address, is spent, the password unchecked. (A comment, not a docstring: the
# schema would publish it.)
class AuthTokenSerializer(authtoken.AuthTokenSerializer):
    def validate(self, attrs):
        # Both are there: DRF's fields are required and refuse a blank value.
        username, password = attrs["username"], attrs["password"]
        try:
            user = services.login_authenticate(
                request=self.context.get("request"), username=username, password=password
            )
        except LoginThrottled as refused:
            raise exceptions.Throttled(wait=refused.retry_after, detail=refused.reason) from None
        if not user:
            raise serializers.ValidationError(
                _("Unable to log in with provided credentials."), code="authorization"
            )
        attrs["user"] = user
        return attrs
