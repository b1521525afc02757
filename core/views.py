from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import LoginEvent
from .parsers import JSONParser
from .serializers import (
    AuthTokenSerializer,
    LoginEventSerializer,
    MarkedReadSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    NotificationSerializer,
    RegisterSerializer,
    StreamTokenSerializer,
    TokenSerializer,
    UnreadCountSerializer,
    UserSerializer,
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Sign up",
        description="Creates the user and their customer; a welcome email is queued.",
        request=RegisterSerializer,
        responses={201: UserSerializer},
    )
    def post(self, request):
        body = RegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = services.user_register(**body.validated_data)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"password": exc.messages}) from None
        except IntegrityError:
            # Two registrations of one name at once: the loser gets the same 400.
            raise exceptions.ValidationError({"username": ["This username is taken."]}) from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token. DRF's view, with the API's parsers
    (its own list bypasses the JSON parser's limits); forms still work. A success sends
    user_logged_in, as Django's own logins do (a failure sends user_login_failed from
    authenticate()); repeated failures are throttled per IP and per username."""

    parser_classes = [JSONParser, FormParser]
    authentication_classes = []  # credentials go in the body; a stale token header is no 401
    serializer_class = AuthTokenSerializer  # counts the attempt before the password is checked

    @extend_schema(
        summary="Get the API token",
        description="The same 400 for an unknown username and a wrong password. After "
        "repeated failures from one IP or for one username: 429 with Retry-After.",
        request=AuthTokenSerializer,
        responses={200: TokenSerializer},
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _created = Token.objects.get_or_create(user=user)
        request._request.login_method = LoginEvent.Method.TOKEN
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response({"token": token.key})


class LoginListView(generics.ListAPIView):
    """The caller's own recent logins."""

    serializer_class = LoginEventSerializer

    @extend_schema(summary="The caller's logins, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.logins_for(user=self.request.user)


# --- Notifications ------------------------------------------------------------------


class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer

    @extend_schema(
        summary="The caller's notifications, newest first",
        parameters=[
            OpenApiParameter(
                "unread", OpenApiTypes.INT, enum=[0, 1], description="1: unread ones only"
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        unread = self.request.query_params.get("unread", "0")
        if unread not in {"0", "1", ""}:
            raise exceptions.ValidationError({"unread": ["Use 1 or 0."]})
        return selectors.notifications_for(user=self.request.user, unread_only=unread == "1")


class NotificationUnreadCountView(APIView):
    @extend_schema(summary="How many of the caller's notifications are unread",
                   responses=UnreadCountSerializer)  # fmt: skip
    def get(self, request):
        return Response({"unread": selectors.notification_unread_count(user=request.user)})


class NotificationReadView(APIView):
    @extend_schema(
        summary="Mark one notification read",
        description="Marking it again changes nothing. 404 for anyone else's.",
        request=None,
        responses=NotificationSerializer,
    )
    def post(self, request, notification_id: int):
        notification = services.notification_mark_read(
            user=request.user, notification_id=notification_id
        )
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    @extend_schema(summary="Mark all the caller's notifications read", request=None,
                   responses=MarkedReadSerializer)  # fmt: skip
    def post(self, request):
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})


class StreamTokenView(APIView):
    @extend_schema(
        summary="A short-lived token to open the notification stream",
        description=(
            "For a browser's EventSource, which cannot send an Authorization header: "
            "`GET /api/notifications/stream/?token=<token>`. Signed, valid for `expires_in` "
            "seconds to open a stream."
        ),
        request=None,
        responses=StreamTokenSerializer,
    )
    def post(self, request):
        return Response(
            {
                "token": services.stream_token_issue(user=request.user),
                "expires_in": settings.SHOPFLOW_STREAM_TOKEN_SECONDS,
            }
        )


# --- Order conversations -------------------------------------------------------------


class OrderMessagesView(generics.ListAPIView):
    """The conversation about one order, between its customer and the shop's staff."""

    serializer_class = MessageSerializer

    def order(self):
        return selectors.order_conversation_get(
            user=self.request.user, order_id=self.kwargs["order_id"]
        )

    def get_queryset(self):
        return selectors.order_messages(order=self.order())

    @extend_schema(summary="The order's conversation, oldest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Write to the order's conversation",
        description=(
            "The order's customer or staff. The other side is notified (the customer when "
            "staff writes; the staff who took up the conversation, or all staff, when the "
            "customer writes)."
        ),
        request=MessageCreateSerializer,
        responses={201: MessageSerializer},
    )
    def post(self, request, order_id: int):
        order = self.order()
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message = services.message_post(
                order=order, author=request.user, body=body.validated_data["body"]
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
