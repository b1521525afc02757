"""The Web Push API: the server's VAPID key, and the caller's browsers' subscriptions."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import push, selectors
from .push_serializers import (
    PushKeySerializer,
    PushRenewSerializer,
    PushSubscriptionInputSerializer,
    PushSubscriptionSerializer,
)
from .services.push_subscriptions import (
    push_subscription_delete,
    push_subscription_renew,
    push_subscription_save,
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
        summary="The server's VAPID public key (applicationServerKey)", responses=PushKeySerializer
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
    serializer_class = PushSubscriptionSerializer

    def get_queryset(self):
        endpoint = self.request.query_params.get("endpoint")
        return selectors.push_subscription_list(user=self.request.user, endpoint=endpoint)

    @extend_schema(
        summary="Subscribe a browser to Web Push",
        description="The browser's PushSubscription as JSON. A known endpoint updates its "
        "row (200) instead of adding one (201). https endpoints on the public internet "
        "only; at most 20 browsers a person.",
        request=PushSubscriptionInputSerializer,
        responses={201: PushSubscriptionSerializer, 200: PushSubscriptionSerializer},
    )
    def post(self, request):
        _push_configured()
        incoming = PushSubscriptionInputSerializer(data=request.data)
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
        return Response(
            PushSubscriptionSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PushSubscriptionDetailView(APIView):
    @extend_schema(summary="Unsubscribe one of the caller's browsers", responses={204: None})
    def delete(self, request, subscription_id: int):
        push_subscription_delete(user=request.user, subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushSubscriptionRenewView(APIView):
    """For the service worker's pushsubscriptionchange, which has no session to show (nor
    a CSRF token): the old endpoint, an unguessable URL only that browser and its push
    service know, stands for it."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Replace a browser's subscription (from its service worker)",
        request=PushRenewSerializer,
        responses={200: PushSubscriptionSerializer, 404: ErrorSerializer},
    )
    def post(self, request):
        _push_configured()
        # An unknown old endpoint is answered before anything costs (the new endpoint's
        # DNS lookup): this endpoint needs no login. Only a string the old endpoint's field
        # accepts (no NUL, no lone surrogate, not too long) is looked up, so that the lookup
        # cannot fail in the database: any other is no endpoint of ours.
        old = request.data.get("old_endpoint") if isinstance(request.data, dict) else None
        try:
            PushRenewSerializer().fields["old_endpoint"].run_validation(old)
        except exceptions.ValidationError:
            old = None
        if not isinstance(old, str) or not selectors.push_subscription_known(endpoint=old):
            raise exceptions.NotFound("No subscription has that endpoint.")
        incoming = PushRenewSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        row = push_subscription_renew(
            old_endpoint=data["old_endpoint"], endpoint=data["endpoint"], **data["keys"]
        )
        if row is None:
            raise exceptions.NotFound("No subscription has that endpoint.")
        return Response(PushSubscriptionSerializer(row).data)
