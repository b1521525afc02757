from django.db import models


class AnalyticsEvent(models.Model):
    """One row per order: what was bought, by whom, for how much (Shopflow's shape)."""

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
