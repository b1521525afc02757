"""The notifications API, and the Web Push API: the server's VAPID key and the caller's
browsers' subscriptions."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import push, selectors, serializers
from .services import inbox, preferences, stream_tokens
from .services.push_subscriptions import (
    push_subscription_delete,
    push_subscription_renew,
    push_subscription_save,
)
from .sql import one_snapshot


class NotificationPagination(PageNumberPagination):
    """A page with the caller's unread count, read in its snapshot (the view reads both in
    one), and the count's version."""

    def get_paginated_response(self, data):
        unread = selectors.notification_unread(user_id=self.request.user.pk)
        return Response({**super().get_paginated_response(data).data, **unread._asdict()})

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["unread"] = {
            "type": "integer",
            "example": 3,
            "description": "The caller's unread notifications, counted with this page.",
        }
        answer["properties"]["unread_as_of"] = {
            "type": "string",
            "example": "00000000000004d2fffffe",
            "description": serializers.UNREAD_AS_OF_HELP,
        }
        answer["required"] += ["unread", "unread_as_of"]
        return answer


@extend_schema_view(
    get=extend_schema(
        summary="The caller's notifications, newest first",
        parameters=[
            OpenApiParameter(
                "unread", OpenApiTypes.INT, enum=[0, 1], description="1: unread ones only"
            )
        ],
    )
)
class NotificationListView(generics.ListAPIView):
    serializer_class = serializers.NotificationSerializer
    pagination_class = NotificationPagination

    def get_queryset(self):
        unread = self.request.query_params.get("unread", "0")
        if unread not in {"0", "1", ""}:
            raise exceptions.ValidationError({"unread": ["Use 1 or 0."]})
        return selectors.notification_list(user_id=self.request.user.pk, unread_only=unread == "1")

    def list(self, request, *args, **kwargs):
        with one_snapshot():  # the count, the rows and the count of the unread: one moment
            return super().list(request, *args, **kwargs)


class NotificationUnreadCountView(APIView):
    @extend_schema(
        summary="How many of the caller's notifications are unread",
        responses=serializers.UnreadCountSerializer,
    )
    def get(self, request):
        return Response(selectors.notification_unread(user_id=request.user.pk)._asdict())


class NotificationReadView(APIView):
    @extend_schema(
        summary="Mark one notification read",
        description="Marking it again changes nothing. 404 for anyone else's.",
        request=None,
        responses=serializers.NotificationReadSerializer,
    )
    def post(self, request, notification_id: int):
        notification = inbox.notification_mark_read(
            user=request.user, notification_id=notification_id
        )
        unread = selectors.notification_unread(user_id=request.user.pk)
        return Response(
            {**serializers.NotificationSerializer(notification).data, **unread._asdict()}
        )


class NotificationReadAllView(APIView):
    @extend_schema(
        summary="Mark the caller's notifications read, all or up to an id",
        request=serializers.ReadAllSerializer,
        responses=serializers.MarkedReadSerializer,
    )
    def post(self, request):
        given = serializers.ReadAllSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        marked = inbox.notifications_mark_all_read(
            user=request.user, up_to_id=given.validated_data.get("up_to_id")
        )
        unread = selectors.notification_unread(user_id=request.user.pk)
        return Response({"marked": marked, **unread._asdict()})


class StreamTokenView(APIView):
    @extend_schema(
        summary="A short-lived token to open the notification stream",
        description=(
            "For a browser's EventSource, which cannot send an Authorization header: "
            "`GET /api/notifications/stream/?token=<token>`. Signed, valid for `expires_in` "
            "seconds to open a stream."
        ),
        request=None,
        responses=serializers.StreamTokenSerializer,
    )
    def post(self, request):
        return Response(
            {
                "token": stream_tokens.stream_token_issue(user=request.user),
                "expires_in": settings.SHOPFLOW_STREAM_TOKEN_SECONDS,
            }
        )


class PreferencesView(APIView):
    @extend_schema(
        summary="The caller's channels for each kind",
        description="Every kind that can reach the caller: the staff-only kinds for staff.",
        responses=serializers.PreferencesSchema,
    )
    def get(self, request):
        return Response(selectors.preferences_for(user=request.user))

    @extend_schema(
        summary="Change the caller's channels for some kinds",
        description="Name some kinds, and some of their channels: the rest stay as they "
        "are. 400 for an unknown kind or channel, a channel a kind cannot turn off, or a "
        "staff-only kind from a customer.",
        request=serializers.PreferencesChangeSchema,
        responses=serializers.PreferencesSchema,
    )
    def put(self, request):
        incoming = serializers.PreferencesUpdateSerializer(
            data=request.data, context={"user": request.user}
        )
        incoming.is_valid(raise_exception=True)
        return Response(
            preferences.preferences_update(user=request.user, changes=incoming.validated_data)
        )


class PushUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Web Push is not configured on this server (no VAPID key)."
    default_code = "push_unavailable"


def _push_configured() -> None:
    if not push.push_configured():
        raise PushUnavailable()


class PushKeyView(APIView):
    @extend_schema(
        summary="The server's VAPID public key (applicationServerKey)",
        responses=serializers.PushKeySerializer,
    )
    def get(self, request):
        _push_configured()
        return Response({"public_key": settings.VAPID_PUBLIC_KEY})


@extend_schema_view(
    get=extend_schema(
        summary="The caller's browsers subscribed to Web Push",
        parameters=[
            OpenApiParameter(
                "endpoint",
                str,
                description="This browser's push endpoint: its row only, or none (no paging "
                "through all of them to find it).",
            )
        ],
    )
)
class PushSubscriptionListView(generics.ListAPIView):
    serializer_class = serializers.PushSubscriptionSerializer

    def get_queryset(self):
        endpoint = self.request.query_params.get("endpoint")
        rows = selectors.push_subscription_list(user=self.request.user, endpoint=endpoint)
        return rows if endpoint is None or _endpoint_or_none(endpoint) else rows.none()

    @extend_schema(
        summary="Subscribe a browser to Web Push",
        description="The browser's PushSubscription as JSON. A known endpoint updates its "
        "row (200) instead of adding one (201). https endpoints on the public internet "
        "only; at most 20 browsers a person.",
        request=serializers.PushSubscriptionInputSerializer,
        responses={
            201: serializers.PushSubscriptionSerializer,
            200: serializers.PushSubscriptionSerializer,
        },
    )
    def post(self, request):
        _push_configured()
        incoming = serializers.PushSubscriptionInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        # Made by a page's session login (not a token), it ends when that session does.
        by_session = isinstance(request.successful_authenticator, SessionAuthentication)
        row, created = push_subscription_save(
            user=request.user,
            endpoint=data["endpoint"],
            session_key=request.session.session_key if by_session else None,
            **data["keys"],
        )
        return Response(self.get_serializer(row).data, status=201 if created else 200)


class PushSubscriptionDetailView(APIView):
    @extend_schema(summary="Unsubscribe one of the caller's browsers", responses={204: None})
    def delete(self, request, subscription_id: int):
        push_subscription_delete(user=request.user, subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _endpoint_or_none(value) -> str | None:
    """`value` if an endpoint field accepts it (a string: no NUL, no lone surrogate, not too
    long), else None. Only such a string is looked up, so that the lookup cannot fail in
    the database: any other is no endpoint of ours."""
    try:
        serializers.PushSubscriptionInputSerializer().fields["endpoint"].run_validation(value)
    except exceptions.ValidationError:
        return None
    return value if isinstance(value, str) else None


class PushSubscriptionRenewView(APIView):
    """For the service worker's pushsubscriptionchange, which has no session to show (nor
    a CSRF token): the old endpoint, an unguessable URL only that browser and its push
    service know, stands for it."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Replace a browser's subscription (from its service worker)",
        request=serializers.PushRenewSerializer,
        responses={200: serializers.PushSubscriptionSerializer, 404: ErrorSerializer},
    )
    def post(self, request):
        _push_configured()
        # An unknown old endpoint is answered before anything costs (the new endpoint's
        # DNS lookup): this endpoint needs no login.
        old = request.data.get("old_endpoint") if isinstance(request.data, dict) else None
        old = _endpoint_or_none(old)
        if old is None or not selectors.push_subscription_known(endpoint=old):
            raise exceptions.NotFound("No subscription has that endpoint.")
        incoming = serializers.PushSubscriptionInputSerializer(data=request.data)  # the rest
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        row = push_subscription_renew(old_endpoint=old, endpoint=data["endpoint"], **data["keys"])
        if row is None:
            raise exceptions.NotFound("No subscription has that endpoint.")
        return Response(serializers.PushSubscriptionSerializer(row).data)
