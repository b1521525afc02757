"""The staff's webhook API (DESIGN.md's contract): endpoints, their secrets and test
events, their deliveries with every attempt, a delivery sent again."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import selectors
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


class StaffView(APIView):
    permission_classes = [IsAdminUser]


@extend_schema_view(
    get=extend_schema(
        summary="Webhook endpoints (staff)",
        responses={200: EndpointSerializer(many=True), **STAFF_ONLY},
    )
)
class EndpointListView(StaffView, generics.ListAPIView):
    serializer_class = EndpointSerializer

    def get_queryset(self):
        return selectors.endpoint_list()

    @extend_schema(
        summary="Add a webhook endpoint (staff)",
        description="Its secret (whsec_...) is in this answer only, and after a rotation.",
        request=EndpointInputSerializer,
        responses={201: EndpointWithSecretSerializer, **STAFF_ONLY},
    )
    def post(self, request):
        incoming = EndpointInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        endpoint = endpoints.endpoint_create(**incoming.validated_data)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=201)


class EndpointDetailView(StaffView):
    @extend_schema(
        summary="A webhook endpoint (staff)", responses={200: EndpointSerializer, **STAFF_ONLY}
    )
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Change a webhook endpoint (staff)",
        description="Disabling fails its pending deliveries; enabling clears why it was disabled.",
        request=EndpointChangeSerializer,
        responses={200: EndpointSerializer, **STAFF_ONLY},
    )
    def patch(self, request, endpoint_id: int):
        incoming = EndpointChangeSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        endpoint = endpoints.endpoint_update(endpoint_id=endpoint_id, **incoming.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint and its deliveries (staff)",
        responses={204: None, **STAFF_ONLY},
    )
    def delete(self, request, endpoint_id: int):
        endpoints.endpoint_delete(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(StaffView):
    @extend_schema(
        summary="A new secret for a webhook endpoint (staff)",
        description="For 24 hours the previous secret signs too (a second signature).",
        request=None,
        responses={200: EndpointWithSecretSerializer, **STAFF_ONLY},
    )
    def post(self, request, endpoint_id: int):
        endpoint = endpoints.endpoint_secret_rotate(endpoint_id=endpoint_id)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class EndpointTestView(StaffView):
    @extend_schema(
        summary="Send a webhook.test event to an endpoint (staff)",
        request=None,
        responses={202: DeliverySerializer, **DISABLED, **STAFF_ONLY},
    )
    def post(self, request, endpoint_id: int):
        delivery = deliveries.endpoint_test_send(endpoint_id=endpoint_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    get=extend_schema(
        summary="An endpoint's deliveries, newest first, with their attempts (staff)",
        parameters=[DeliveryQuerySerializer],
        responses={200: DeliverySerializer(many=True), **STAFF_ONLY},
    )
)
class DeliveryListView(StaffView, generics.ListAPIView):
    serializer_class = DeliverySerializer

    def get_queryset(self):
        query = DeliveryQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.delivery_list(
            endpoint_id=self.kwargs["endpoint_id"], status=query.validated_data.get("status")
        )


class RedeliverView(StaffView):
    @extend_schema(
        summary="Send a delivery again, now, under the same webhook-id (staff)",
        request=None,
        responses={202: DeliverySerializer, **DISABLED, **STAFF_ONLY},
    )
    def post(self, request, delivery_id: str):
        delivery = deliveries.delivery_redeliver(delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
