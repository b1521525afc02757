from rest_framework import serializers

from .models import AnalyticsEvent


class AnalyticsEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnalyticsEvent
        fields = [
            "id",
            "name",
            "order_id",
            "customer_id",
            "items",
            "units",
            "revenue",
            "occurred_at",
        ]


class DailySummarySerializer(serializers.Serializer):
    day = serializers.DateField()
    orders = serializers.IntegerField()
    units = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)


class DailySummaryQuerySerializer(serializers.Serializer):
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
