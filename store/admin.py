from django.contrib import admin

from .models import (
    Cart,
    CartItem,
    Customer,
    Order,
    OrderItem,
    OrderSideEffect,
    Product,
    StockMovement,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "created_at"]
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


class OrderSideEffectInline(admin.TabularInline):
    model = OrderSideEffect
    extra = 0
    readonly_fields = ["kind", "status", "error", "updated_at"]
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total", "placed_at"]
    list_filter = ["status", "placed_at", "side_effects__status"]
    search_fields = ["id", "customer__user__username", "customer__user__email", "idempotency_key"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline, OrderSideEffectInline]
    raw_id_fields = ["customer"]
    readonly_fields = ["placed_at", "idempotency_key", "request_fingerprint"]


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ["id", "product", "delta", "reason", "order_item", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["product__sku", "product__name"]
    raw_id_fields = ["product", "order_item"]
