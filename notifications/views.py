from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .serializers import (
    UNREAD_AS_OF_HELP,
    MarkedReadSerializer,
    NotificationReadSerializer,
    NotificationSerializer,
    PreferencesChangeSchema,
    PreferencesSchema,
    PreferencesUpdateSerializer,
    ReadAllSerializer,
    StreamTokenSerializer,
    UnreadCountSerializer,
)
from .services import inbox, preferences, stream_tokens
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
            "description": UNREAD_AS_OF_HELP,
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
    serializer_class = NotificationSerializer
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
        summary="How many of the caller's notifications are unread", responses=UnreadCountSerializer
    )
    def get(self, request):
        return Response(selectors.notification_unread(user_id=request.user.pk)._asdict())


class NotificationReadView(APIView):
    @extend_schema(
        summary="Mark one notification read",
        description="Marking it again changes nothing. 404 for anyone else's.",
        request=None,
        responses=NotificationReadSerializer,
    )
    def post(self, request, notification_id: int):
        notification = inbox.notification_mark_read(
            user=request.user, notification_id=notification_id
        )
        unread = selectors.notification_unread(user_id=request.user.pk)
        return Response({**NotificationSerializer(notification).data, **unread._asdict()})


class NotificationReadAllView(APIView):
    @extend_schema(
        summary="Mark the caller's notifications read, all or up to an id",
        request=ReadAllSerializer,
        responses=MarkedReadSerializer,
    )
    def post(self, request):
        given = ReadAllSerializer(data=request.data)
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
        responses=StreamTokenSerializer,
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
        responses=PreferencesSchema,
    )
    def get(self, request):
        return Response(selectors.preferences_for(user=request.user))

    @extend_schema(
        summary="Change the caller's channels for some kinds",
        description="Name some kinds, and some of their channels: the rest stay as they "
        "are. 400 for an unknown kind or channel, a channel a kind cannot turn off, or a "
        "staff-only kind from a customer.",
        request=PreferencesChangeSchema,
        responses=PreferencesSchema,
    )
    def put(self, request):
        incoming = PreferencesUpdateSerializer(data=request.data, context={"user": request.user})
        incoming.is_valid(raise_exception=True)
        return Response(
            preferences.preferences_update(user=request.user, changes=incoming.validated_data)
        )
