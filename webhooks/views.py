"""The staff's webhook API (docs/webhooks.md): endpoints, their secrets and test
events, their deliveries with every attempt, a delivery sent again."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import events, selectors
from .models import Endpoint
from .serializers import (
    DeliveryQuerySerializer,
    DeliverySerializer,
    EndpointChangeSerializer,
    EndpointInputSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
)
from .services import deliveries, endpoints

STAFF_ONLY = {403: OpenApiResponse(ErrorSerializer, description="Staff only.")}
DISABLED = {400: OpenApiResponse(ErrorSerializer, description="The endpoint is disabled.")}
ACCEPTED = {202: DeliverySerializer, **DISABLED}


def staff_only(summary: str, ok: dict, **more):
    """An action's schema: its own answers, and the 403 of any caller not staff."""
    return extend_schema(summary=summary, responses={**ok, **STAFF_ONLY}, **more)


@extend_schema_view(
    list=staff_only("Webhook endpoints (staff)", {200: EndpointSerializer(many=True)}),
    create=staff_only(
        "Add a webhook endpoint (staff)",
        {201: EndpointWithSecretSerializer},
        description="Its secret (whsec_...) is in this answer only, and after a rotation.",
        request=EndpointInputSerializer,
    ),
    retrieve=staff_only("A webhook endpoint (staff)", {200: EndpointSerializer}),
    partial_update=staff_only(
        "Change a webhook endpoint (staff)",
        {200: EndpointSerializer},
        description="Disabling fails its pending deliveries; enabling clears why it was disabled.",
        request=EndpointChangeSerializer,
    ),
    destroy=staff_only("Delete a webhook endpoint and its deliveries (staff)", {204: None}),
    rotate_secret=staff_only(
        "A new secret for a webhook endpoint (staff)",
        {200: EndpointWithSecretSerializer},
        description="For 24 hours the previous secret signs too (a second signature).",
    ),
    test=staff_only("Send a webhook.test event to an endpoint (staff)", ACCEPTED),
    delivery_list=staff_only(
        "An endpoint's deliveries, newest first, with their attempts (staff)",
        {200: DeliverySerializer(many=True)},
        parameters=[DeliveryQuerySerializer],
    ),
)
class EndpointViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAdminUser]
    queryset = Endpoint.objects.all()
    serializer_class = EndpointSerializer
    lookup_url_kwarg, lookup_value_converter = "endpoint_id", "int"

    def create(self, request):
        incoming = EndpointInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        endpoint = endpoints.endpoint_create(**incoming.validated_data)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=201)

    def retrieve(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
        return Response(EndpointSerializer(endpoint).data)

    def partial_update(self, request, endpoint_id: int):
        incoming = EndpointChangeSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        endpoint = endpoints.endpoint_update(endpoint_id=endpoint_id, **incoming.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    def destroy(self, request, endpoint_id: int):
        endpoints.endpoint_delete(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, endpoint_id: int):
        endpoint = endpoints.endpoint_secret_rotate(endpoint_id=endpoint_id)
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @action(detail=True, methods=["post"])
    def test(self, request, endpoint_id: int):
        delivery = deliveries.endpoint_test_send(endpoint_id=endpoint_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, url_path="deliveries")
    def delivery_list(self, request, endpoint_id: int):
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        status_wanted = query.validated_data.get("status")
        rows = selectors.delivery_list(endpoint_id=endpoint_id, status=status_wanted)
        page = DeliverySerializer(self.paginate_queryset(rows), many=True)
        return self.get_paginated_response(page.data)


class EventTypesView(APIView):
    permission_classes = [IsAdminUser]

    @staff_only("The event types, each with the JSON Schema of its body (staff)", {200: dict})
    def get(self, request):
        schemas = events.event_schemas()
        return Response([{"type": kind, "schema": schema} for kind, schema in schemas.items()])


class RedeliverView(APIView):
    permission_classes = [IsAdminUser]

    @staff_only(
        "Send a delivery again, now, under the same webhook-id (staff)", ACCEPTED, request=None
    )
    def post(self, request, delivery_id: str):
        delivery = deliveries.delivery_redeliver(delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
