from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.admin import RecordAdmin
from core.exceptions import DomainError
from side_effects.selectors import side_effect_order_ids, side_effect_states
from worker.models import Job

from .exceptions import StockAdjustmentRefused
from .models import (
    Cart,
    CartItem,
    Customer,
    DuplicateAlert,
    Order,
    OrderItem,
    PriceChange,
    Product,
    StockMovement,
)
from .services.lifecycle import order_fulfil
from .services.prices import price_changes_by
from .services.stock import product_stock_adjust


def titled(filter_class: type[admin.FieldListFilter], title: str) -> type:
    """`filter_class` with `title` ("By <title>" in the sidebar) instead of the field's
    verbose name."""

    class Titled(filter_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class ProductAdminForm(forms.ModelForm):
    add_stock = forms.IntegerField(
        required=False,
        help_text="Units received (negative to correct a count). Added to what is on hand "
        "now, so sales and reservations made while this page was open are kept.",
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "price", "on_hand", "low_stock_threshold", "is_active"]


class ProductAddForm(ProductAdminForm):
    """A new product's: its stock is what it starts with, there is none yet to add to."""

    add_stock = None


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = [
        "sku",
        "name",
        "price",
        "on_hand",
        "reserved",
        "available",
        "low_stock_threshold",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["sku", "name"]
    ordering = ["sku"]

    def get_readonly_fields(self, request, obj=None):
        # Stock moves only through relative updates: a saved form holds stale numbers.
        return ["on_hand", "reserved"] if obj else ["reserved"]

    def get_form(self, request, obj=None, **kwargs):
        return super().get_form(
            request, obj, **{"form": self.form if obj else ProductAddForm, **kwargs}
        )

    def save_model(self, request, obj, form, change):
        # A change writes what the form edits, never the stock numbers (see above).
        edited = [name for name in ProductAdminForm.Meta.fields if name != "on_hand"]
        with price_changes_by(request.user):
            obj.save(update_fields=[*edited, "updated_at"] if change else None)
        delta = form.cleaned_data.get("add_stock")
        if not delta:
            return
        try:
            product = product_stock_adjust(product_id=obj.pk, delta=delta)
        except StockAdjustmentRefused:
            self.message_user(
                request,
                f"Stock not changed: {delta:+d} would leave less on hand than is reserved.",
                messages.ERROR,
            )
        else:
            self.message_user(request, f"Stock on hand is now {product.on_hand}.")


@admin.register(PriceChange)
class PriceChangeAdmin(RecordAdmin):
    """The price history (store.receivers records it, whatever saved the price): staff
    read it; nobody edits it."""

    list_display = ["changed_at", "product", "old_price", "new_price", "changed_by"]
    list_filter = ["changed_at"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "changed_by"]
    date_hierarchy = "changed_at"


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["user", "user__email", "created_at"]
    list_filter = ["created_at", "user__is_active"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


class CartItemInline(admin.TabularInline):
    model = CartItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["id", "customer__user__username"]
    inlines = [CartItemInline]
    raw_id_fields = ["customer"]


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]
    readonly_fields = ["unit_price"]


class SideEffectStatusFilter(admin.SimpleListFilter):
    """Orders with a side effect in a status (their jobs, worker.models.Job)."""

    title = "side effect status"
    parameter_name = "side_effect"

    def lookups(self, request, model_admin):
        return Job.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(pk__in=side_effect_order_ids(status=self.value()))
        return queryset


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total", "placed_at", "duplicate_of"]
    # Both statuses are a field named "status": each filter is titled for what it filters.
    list_filter = [
        ("status", titled(admin.ChoicesFieldListFilter, "order status")),
        ("duplicate_of", admin.EmptyFieldListFilter),
        "placed_at",
        SideEffectStatusFilter,
    ]
    search_fields = ["id", "customer__user__username", "customer__user__email", "idempotency_key"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline]
    raw_id_fields = ["customer", "duplicate_of"]
    actions = ["fulfil"]
    # Its status changes through its life's services only (the Fulfil action, the API).
    readonly_fields = [
        "status",
        "cancelled_at",
        "cancel_reason",
        "fulfilled_at",
        "tracking_number",
        "placed_at",
        "idempotency_key",
        "request_fingerprint",
        "lines_key",
        "duplicate_alert",
        "side_effects",
    ]

    @admin.action(description="Fulfil the selected orders (a tracking number each)")
    def fulfil(self, request, queryset):
        """A page asking each order's tracking number; once applied, each order fulfilled
        (store.services.lifecycle), a cancelled one refused with why."""
        orders = list(queryset.order_by("pk"))
        if "apply" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": "Fulfil orders",
                "orders": orders,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/store/order/fulfil.html", context)
        fulfilled = 0
        for order in orders:
            tracking = request.POST.get(f"tracking_{order.pk}", "").strip()[:100]
            if "\x00" in tracking:
                self.message_user(
                    request, f"Order #{order.pk}: not a tracking number.", messages.WARNING
                )
                continue
            try:
                order_fulfil(order_id=order.pk, tracking_number=tracking)
                fulfilled += order.status != Order.Status.FULFILLED  # not one fulfilled before
            except DomainError as refused:
                self.message_user(request, f"Order #{order.pk}: {refused.detail}", messages.WARNING)
        self.message_user(request, f"{fulfilled} order(s) fulfilled.", messages.SUCCESS)
        return None

    @admin.display(description="side effects")
    def side_effects(self, order):
        """Each side effect's state, and its jobs in the jobs' admin (attempts, errors)."""
        states = ", ".join(
            f"{kind}: {status}" for kind, status in side_effect_states(order=order).items()
        )
        url = reverse("admin:worker_job_changelist") + f"?key__exact={order.pk}"
        return format_html('{} (<a href="{}">its jobs</a>)', states, url)


@admin.register(DuplicateAlert)
class DuplicateAlertAdmin(RecordAdmin):
    """The staff alerts of duplicate orders; the orders one names: the order list, filtered
    by `?duplicate_alert=<id>` (the alert's links)."""

    list_display = ["id", "window_start", "created_at", "named_orders"]
    date_hierarchy = "window_start"

    @admin.display(description="orders")
    def named_orders(self, alert):
        url = reverse("admin:store_order_changelist") + f"?duplicate_alert={alert.pk}"
        return format_html('<a href="{}">the orders it names</a>', url)


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ["id", "product", "delta", "reason", "order_item", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["product__sku", "product__name"]
    raw_id_fields = ["product", "order_item"]
