"""A customer's order pages: their orders, and one order with its lines and its side
effects, which the page follows (the order API) while any is pending. Another person's
order is not found, as in the API."""

from collections import Counter

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from side_effects.models import OrderSideEffect
from side_effects.selectors import side_effect_states

from . import selectors
from .models import Order

Status = OrderSideEffect.Status
PER_PAGE = 20


def side_effect_rows(order) -> list[dict[str, str]]:
    """The order's side effects as a page lists them: kind, a label for people, status."""
    states = side_effect_states(rows=order.side_effect_rows)
    return [
        {"kind": kind, "label": kind.replace("_", " ").capitalize(), "status": status}
        for kind, status in states.items()
    ]


def side_effects_summary(rows) -> str:
    """One order's side effects in a few words: "all done", "1 pending", "1 failed"."""
    counts = Counter(row["status"] for row in rows)
    if counts[Status.DONE] == len(rows):
        return "all done"
    unfinished = (Status.PENDING, Status.FAILED)
    return ", ".join(f"{counts[status]} {status}" for status in unfinished if counts[status])


@login_required
def order_list_page(request):
    orders = Paginator(selectors.order_list_for_user(user=request.user), PER_PAGE)
    page = orders.get_page(request.GET.get("page"))
    return render(request, "store/order_list.html", {"page": page, "rows": order_rows(page)})


def order_rows(orders) -> list[dict]:
    """Orders as the lists show them (this page's, the front door's): each with its side
    effects in a few words."""
    return [
        {"order": order, "side_effects": side_effects_summary(side_effect_rows(order))}
        for order in orders
    ]


@login_required
def order_page(request, order_id: int):
    try:
        order = selectors.order_get_for_user(user=request.user, order_id=order_id)
    except Order.DoesNotExist:
        raise Http404("No such order of yours.") from None
    side_effects = side_effect_rows(order)
    counts = Counter(row["status"] for row in side_effects)
    context = {
        "order": order,
        "side_effects": side_effects,
        "pending": counts[Status.PENDING] > 0,
        "failed": counts[Status.FAILED],
    }
    return render(request, "store/order.html", context)
