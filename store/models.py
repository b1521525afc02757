import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models, router, transaction
from django.db.models import F, Q


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    # Stock on hand is what the warehouse holds; reserved is promised to placed orders
    # whose inventory task has not run yet. Available to sell = on_hand - reserved.
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    low_stock_threshold = models.PositiveIntegerField(default=5)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="product_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="product_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="product_reserved_lte_on_hand"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_gte_0"),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"

    def save(self, *args, **kwargs):
        # The price history reads the stored price under lock and records the change
        # (pre_save): one transaction with the row's UPDATE, so two saves at once record one
        # chain of changes, and a save that fails leaves no record of a change.
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            super().save(*args, **kwargs)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Customer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.user.get_username()


class Cart(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="carts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return str(self.id)


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "product"], name="cartitem_one_row_per_product"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cartitem_quantity_gte_1"),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.product_id}"


class DuplicateAlert(models.Model):
    """One staff alert about duplicate orders: the orders it names point at it. At most one
    a window (SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS); an order is named by one alert."""

    window_start = models.DateTimeField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start"]

    def __str__(self):
        return f"Duplicate-order alert of {self.window_start:%Y-%m-%d %H:%M:%S}"


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"
        FULFILLED = "fulfilled", "Fulfilled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    placed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Its life after the checkout (store.services.lifecycle): at most one of the two.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True, default="")
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    # NULL, not "", for "no key": the unique constraint must not apply to keyless orders.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # A hash of the request body that created the order, to tell a replay from a misuse.
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # A hash of the order's lines (products and quantities), set at checkout: an order
    # with the same lines as one the customer placed minutes before is a likely duplicate.
    lines_key = models.CharField(max_length=64, blank=True, default="")
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    # The staff alert that named this flagged order; NULL while none has.
    duplicate_alert = models.ForeignKey(
        DuplicateAlert, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique_per_customer",
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_gte_0"),
        ]
        indexes = [
            # The duplicate check: this customer's orders with these lines, recent first.
            models.Index(
                fields=["customer", "lines_key", "-placed_at"], name="order_duplicate_check_idx"
            ),
            # The flagged orders no alert named yet: few rows, whatever the orders table.
            models.Index(
                fields=["id"],
                condition=Q(duplicate_of__isnull=False, duplicate_alert__isnull=True),
                name="order_duplicate_unalerted_idx",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField()
    # Set at checkout, under the product's row lock: this item's reservation took the
    # product's available stock below its threshold. The inventory task alerts on it, so
    # one crossing gives one alert whatever order the tasks run in.
    crossed_low_stock = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "product"], name="orderitem_one_row_per_product"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderitem_quantity_gte_1"),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.product_id} @ {self.unit_price}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class StockMovement(models.Model):
    """Ledger of applied stock changes, `delta` to stock on hand. At most one row per order
    item and reason makes the inventory and the release idempotent: a replay finds its row
    and applies nothing. A release of an item never sold has delta 0: what it gave back
    was a reservation."""

    class Reason(models.TextChoices):
        SALE = "sale", "Sale"
        RELEASE = "release", "Released (order cancelled)"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    order_item = models.ForeignKey(
        OrderItem, on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    delta = models.IntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.SALE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_item", "reason"], name="stockmovement_one_per_item_and_reason"
            )
        ]

    def __str__(self):
        return f"{self.product_id} {self.delta:+d} ({self.reason})"


class PriceChange(models.Model):
    """A product's price changed: recorded by a pre_save/post_save receiver pair whatever
    saved it (admin, shell, an import through the ORM). Orders keep their own unit prices."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="price_changes")
    old_price = models.DecimalField(max_digits=10, decimal_places=2)
    new_price = models.DecimalField(max_digits=10, decimal_places=2)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["product", "-id"], name="pricechange_product_idx")]

    def __str__(self):
        return f"{self.product_id}: {self.old_price} -> {self.new_price}"
