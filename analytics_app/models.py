from django.db import models


class AnalyticsEvent(models.Model):
    """One row per order: what was bought, by whom, for how much. Unique per order, so a
    redelivered task records nothing new."""

    class Name(models.TextChoices):
        ORDER_PLACED = "order_placed", "Order placed"

    name = models.CharField(max_length=32, choices=Name.choices, default=Name.ORDER_PLACED)
    order_id = models.BigIntegerField(unique=True)
    customer_id = models.BigIntegerField(db_index=True)
    items = models.JSONField(default=list)
    units = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=12, decimal_places=2)
    occurred_at = models.DateTimeField(db_index=True, help_text="When the order was placed.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self):
        return f"{self.name} order={self.order_id}"


class DailySummary(models.Model):
    """Orders, units, revenue and side-effect lag per day, materialised by the hourly
    rollup (analytics_app.services.daily_summaries_rollup)."""

    day = models.DateField(unique=True)
    orders = models.PositiveIntegerField(default=0)
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
