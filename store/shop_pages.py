"""The shopper's pages: the catalog (anyone), the cart and its checkout (signed in), in the
site's frame, working without JavaScript. A visitor who adds to a cart is asked to sign
in (or up) and comes back to the catalog; every refusal is said on the page in words.
The cart is the customer's current one (selectors.cart_current); its checkout lands on
the order's page."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.exceptions import DomainError
from core.pages import signed_in_or_back_to

from . import selectors
from .exceptions import CartNotFound, InsufficientStock
from .pages import PER_PAGE
from .services import carts, checkout, customers

QUANTITY_WORDS = f"A quantity is a whole number from 1 to {carts.MAX_LINE_QUANTITY}."


def catalog_page(request):
    page = Paginator(selectors.product_list(), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "store/catalog.html", {"page": page})


def _quantity(request) -> int | None:
    try:
        quantity = int(request.POST.get("quantity", ""))
    except ValueError:
        return None
    return quantity if 1 <= quantity <= carts.MAX_LINE_QUANTITY else None


@require_POST
def cart_add_page(request):
    """The catalog's Add to cart: to the customer's cart (a new one when they have none);
    a visitor is sent to sign in and back to the catalog."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("catalog-page"))
    quantity = _quantity(request)
    if quantity is None:
        messages.error(request, QUANTITY_WORDS)
        return redirect("catalog-page")
    customer = customers.customer_ensure(user=request.user)
    try:
        item = carts.cart_current_item_add(
            customer=customer,
            product_id=int(request.POST.get("product_id") or 0),
            quantity=quantity,
        )
    except (DomainError, ValueError) as refused:
        messages.error(request, getattr(refused, "detail", "Unknown product."))
        return redirect("catalog-page")
    messages.success(request, f"Added {quantity} x {item.product.name} to your cart.")
    return redirect("cart-page")


@login_required
def cart_page(request):
    cart = selectors.cart_current(customer=customers.customer_ensure(user=request.user))
    lines = cart.line_items if cart else []
    for line in lines:
        line.total = line.product.price * line.quantity
    total = sum(line.total for line in lines)
    return render(request, "store/cart.html", {"cart": cart, "lines": lines, "total": total})


@require_POST
@signed_in_or_back_to("cart-page")
def cart_line_page(request, item_id: int):
    """A line's new quantity ("quantity"), or its removal ("remove")."""
    customer = customers.customer_ensure(user=request.user)
    cart = selectors.cart_current(customer=customer, with_lines=False)
    try:
        item = selectors.cart_item_get(customer=customer, cart_id=cart and cart.pk, item_id=item_id)
        if "remove" in request.POST:
            carts.cart_item_remove(item=item)
            messages.success(request, f"{item.product.name} removed from your cart.")
        elif (quantity := _quantity(request)) is None:
            messages.error(request, QUANTITY_WORDS)
        else:
            carts.cart_item_set_quantity(item=item, quantity=quantity)
    except DomainError:
        messages.error(request, "That line is no longer in your cart.")
    return redirect("cart-page")


@require_POST
@signed_in_or_back_to("cart-page")
def cart_checkout_page(request):
    """The cart becomes an order; its page. The cart's id is the checkout's idempotency
    key: a second checkout of it (another tab, a double submit) lands on the same order."""
    customer = customers.customer_ensure(user=request.user)
    try:
        cart_id = str(uuid.UUID(request.POST.get("cart_id", "")))
    except ValueError:
        messages.error(request, "That cart is gone (checked out or emptied): nothing ordered.")
        return redirect("cart-page")
    key = f"cart-page:{cart_id}"
    try:
        placement = checkout.order_place(
            customer=customer,
            cart_id=cart_id,
            idempotency_key=key,
            fingerprint=checkout.request_fingerprint(payload={"cart_id": cart_id}),
        )
    except InsufficientStock as short:
        for shortage in short.shortages:
            messages.error(
                request,
                f"Not enough {shortage.name} in stock: {shortage.available} left, "
                f"{shortage.requested} in your cart.",
            )
        return redirect("cart-page")
    except CartNotFound:
        messages.error(request, "That cart is gone (checked out or emptied): nothing ordered.")
        return redirect("cart-page")
    except DomainError as refused:
        messages.error(request, refused.detail)
        return redirect("cart-page")
    order = placement.order
    if placement.created:
        messages.success(request, f"Thank you: order #{order.pk} is placed.")
    return redirect("order-page", order.pk)
