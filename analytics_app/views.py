from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import selectors
from .serializers import (
    AnalyticsEventSerializer,
    DailySummarySerializer,
    DayRangeQuerySerializer,
)


@extend_schema_view(
    get=extend_schema(
        summary="Recorded order events (staff)",
        parameters=[DayRangeQuerySerializer],
        responses={
            200: AnalyticsEventSerializer(many=True),
            403: OpenApiResponse(ErrorSerializer, description="Staff only."),
        },
    )
)
class EventListView(generics.ListAPIView):
    """Staff only: the recorded order events, newest first (?since=YYYY-MM-DD&until=...,
    by the day of the order's placing)."""

    permission_classes = [IsAdminUser]
    serializer_class = AnalyticsEventSerializer

    def get_queryset(self):
        query = DayRangeQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.event_list(**query.validated_data)


class DailySummaryView(APIView):
    """Staff only: orders, units, revenue and side-effect lag per day
    (?since=YYYY-MM-DD&until=...)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Daily order totals and side-effect lag (staff)",
        parameters=[DayRangeQuerySerializer],
        responses={
            200: inline_serializer(
                "DailySummaryList", {"results": DailySummarySerializer(many=True)}
            ),
            403: OpenApiResponse(ErrorSerializer, description="Staff only."),
        },
    )
    def get(self, request):
        query = DayRangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.daily_summary_with_lag(**query.validated_data)
        return Response({"results": DailySummarySerializer(rows, many=True).data})
