"""A customer's order pages: their orders, and one order with its status, its lines and
its side effects, which the page follows (the order API) while any is pending, and a
Cancel button while it is placed. Another person's order is not found, as in the API."""

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import DomainError
from core.pages import signed_in_or_back_to
from side_effects.selectors import side_effect_states
from worker.models import Job

from . import selectors
from .exceptions import OrderNotFound
from .serializers import OrderCancelSerializer
from .services import lifecycle

Status = Job.Status
PER_PAGE = 20


def side_effect_rows(order) -> list[dict[str, str]]:
    """The order's side effects as a page lists them: kind, a label for people, status."""
    states = side_effect_states(order=order)
    return [
        {"kind": kind, "label": kind.replace("_", " ").capitalize(), "status": status}
        for kind, status in states.items()
    ]


def order_rows(orders) -> list[dict]:
    """Orders as the lists show them (this page's, the front door's), each with its side
    effects in a few words: "all done", "1 pending", "1 failed"."""
    rows = []
    for order in orders:
        counts = Counter(row["status"] for row in side_effect_rows(order))
        unfinished = [f"{counts[s]} {s}" for s in (Status.PENDING, Status.FAILED) if counts[s]]
        rows.append({"order": order, "side_effects": ", ".join(unfinished) or "all done"})
    return rows


@login_required
def order_list_page(request):
    orders = Paginator(selectors.order_list(user=request.user, with_lines=False), PER_PAGE)
    page = orders.get_page(request.GET.get("page"))
    return render(request, "store/order_list.html", {"page": page, "rows": order_rows(page)})


def order_page_context(request, order_id: int) -> dict:
    """What the order page (config.pages.order_page) shows of the order: its status, lines
    and side effects; a 404 page for another person's order."""
    order = get_object_or_404(selectors.order_list(user=request.user), pk=order_id)
    side_effects = side_effect_rows(order)
    counts = Counter(row["status"] for row in side_effects)
    return {
        "order": order,
        "side_effects": side_effects,
        "pending": counts[Status.PENDING] > 0,
        "failed": counts[Status.FAILED],
    }


@require_POST
@signed_in_or_back_to("order-page", "order_id")
def order_cancel_page(request, order_id: int):
    """The order page's Cancel button: the order cancelled, or why not, on its page."""
    form = OrderCancelSerializer(data=request.POST)
    if not form.is_valid():
        errors = form.errors["reason"]
        too_long = any(error.code == "max_length" for error in errors)
        words = "The reason is too long: at most 500 characters." if too_long else errors[0]
        messages.error(request, words)
        return redirect("order-page", order_id)
    try:
        lifecycle.order_cancel(order_id=order_id, user=request.user, **form.validated_data)
    except OrderNotFound:
        raise Http404() from None
    except DomainError as refused:
        messages.error(request, refused.detail)
    else:
        messages.success(request, f"Order #{order_id} is cancelled.")
    return redirect("order-page", order_id)
