from django.db import transaction
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .models import Cart, CartItem, Order, OrderItem, Product


@api_view(["POST"])
def cart_create(request):
    cart = Cart.objects.create(user=request.user)
    return Response({"id": str(cart.id), "items": []}, status=status.HTTP_201_CREATED)


@api_view(["POST"])
def cart_item_add(request, cart_id):
    cart = get_object_or_404(Cart, pk=cart_id, user=request.user)
    product = get_object_or_404(Product, pk=request.data.get("product_id"))
    quantity = int(request.data.get("quantity", 1))
    item = CartItem.objects.create(cart=cart, product=product, quantity=quantity)
    body = {"id": item.pk, "product_id": product.pk, "quantity": quantity}
    return Response(body, status=status.HTTP_201_CREATED)


@api_view(["POST"])
def checkout(request):
    with transaction.atomic():
        cart = get_object_or_404(
            Cart.objects.select_for_update(), pk=request.data.get("cart_id"), user=request.user
        )
        items = list(cart.items.select_related("product"))
        if not items:
            return Response({"detail": "The cart is empty."}, status=status.HTTP_400_BAD_REQUEST)
        total = sum(item.product.price * item.quantity for item in items)
        order = Order.objects.create(user=request.user, total=total)
        OrderItem.objects.bulk_create(
            OrderItem(order=order, product=i.product, quantity=i.quantity, price=i.product.price)
            for i in items
        )
        cart.delete()
    return Response({"id": order.pk, "total": str(total)}, status=status.HTTP_201_CREATED)
