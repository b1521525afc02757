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
    """One day's orders, units and revenue, and the side-effect lag of the orders placed
    that day: the time from an order being placed to its last side effect (confirmation
    email, inventory, analytics) done: today's as of the request, another day's as of its
    last hourly rollup."""

    day = serializers.DateField()
    orders = serializers.IntegerField()
    cancelled = serializers.IntegerField(help_text="Of those orders, the ones cancelled since.")
    units = serializers.IntegerField()
    revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Of the orders not cancelled."
    )
    side_effect_lag_p50_ms = serializers.IntegerField(
        allow_null=True, help_text="Median lag in ms; null when no order's side effects are done."
    )
    side_effect_lag_p95_ms = serializers.IntegerField(
        allow_null=True, help_text="95th percentile of the lag in ms."
    )
    side_effect_lag_p99_ms = serializers.IntegerField(
        allow_null=True, help_text="99th percentile of the lag in ms."
    )
    side_effect_lag_orders = serializers.IntegerField(
        help_text="The orders the percentiles are over: those whose side effects are all done."
    )
    side_effects_failed = serializers.IntegerField(help_text="Side effects that failed.")
    side_effects_pending = serializers.IntegerField(help_text="Side effects still pending.")
    rolled_up_at = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "When the rollup computed the lag figures; null for today (computed as of the"
            " request) and for a day not rolled up."
        ),
    )


class DayRangeQuerySerializer(serializers.Serializer):
    """?since= and ?until=, days (YYYY-MM-DD) of the shop's time zone, both included."""

    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)

    def validate(self, data):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise serializers.ValidationError({"until": ["Not before since."]})
        return data
