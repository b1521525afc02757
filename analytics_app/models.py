from django.db import models


class AnalyticsEvent(models.Model):
    """What was bought, by whom, for how much: a row when an order is placed, another when
    it is cancelled (the same figures, taken back). Unique per order and name, so a
    redelivered task records nothing new. Both are dated by the order's placing: a day's
    revenue is that of its orders still standing."""

    class Name(models.TextChoices):
        ORDER_PLACED = "order_placed", "Order placed"
        ORDER_CANCELLED = "order_cancelled", "Order cancelled"

    name = models.CharField(max_length=32, choices=Name.choices, default=Name.ORDER_PLACED)
    order_id = models.BigIntegerField()
    customer_id = models.BigIntegerField(db_index=True)
    items = models.JSONField(default=list)
    units = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=12, decimal_places=2)
    occurred_at = models.DateTimeField(db_index=True, help_text="When the order was placed.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order_id", "name"], name="analyticsevent_once")
        ]

    def __str__(self):
        return f"{self.name} order={self.order_id}"


class DailySummary(models.Model):
    """Orders, units, revenue and side-effect lag per day, materialised by the hourly
    rollup (analytics_app.services.daily_summaries_rollup)."""

    day = models.DateField(unique=True)
    orders = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)  # of those orders
    units = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # The side-effect lag of the day's orders: from an order's placed_at to its last side
    # effect done, over the orders whose side effects are all done (lag_orders of them);
    # null when none is.
    side_effect_lag_p50_ms = models.PositiveBigIntegerField(null=True, blank=True)
    side_effect_lag_p95_ms = models.PositiveBigIntegerField(null=True, blank=True)
    side_effect_lag_p99_ms = models.PositiveBigIntegerField(null=True, blank=True)
    side_effect_lag_orders = models.PositiveIntegerField(default=0)
    side_effects_failed = models.PositiveIntegerField(default=0)
    side_effects_pending = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "daily summaries"

    def __str__(self):
        return f"{self.day}: {self.orders} orders"
