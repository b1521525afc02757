"""The calls bench/services.py times, as a pyperf script: the checkout and each
side-effect service, in the process, on the tree this runs in (its working directory:
this checkout, or a git worktree of another revision) and the database DATABASE_URL
names, already migrated. Each value is the CPU time of one call (time.process_time),
averaged over pyperf's loops; what a call needs (a cart, a placed order) is made before
the clock starts.

    python bench/services_calls.py --copy-env --loops 20 --values 5 -o out.json
"""

import os
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.getcwd())  # the tree measured, before this checkout's bench/

import pyperf

CALLS = ("checkout", "inventory", "analytics", "email", "email_in_sixes")
SIX = 6  # about what a message carries at 30 orders/s (the relay lingers 200 ms)


class Calls:
    """The services, set up once per pyperf worker process (its own user and products)."""

    def __init__(self):
        import logging

        import django

        # manage.py's choice (production, as DJANGO_DEBUG=0 asks), in the tree measured;
        # a tree from before the settings package has one module.
        try:
            from core.env import settings_module
        except ImportError:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
        else:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
        django.setup()
        logging.disable(logging.WARNING)
        from django.contrib.auth import get_user_model

        from store.models import Product

        self.store = service_calls()
        tag = f"{os.getpid()}-{time.monotonic_ns()}"
        user = get_user_model().objects.create_user(
            username=f"bench-{tag}", email=f"bench-{tag}@example.com", password="bench-password-1"
        )
        self.customer = self.store.customer_ensure(user=user)
        self.products = [
            Product.objects.create(
                sku=f"BENCH-{tag}-{n}",
                name=f"Bench {n}",
                price="10.00",
                on_hand=10**6,
                low_stock_threshold=0,
            )
            for n in range(5)
        ]

    def carts(self, count: int) -> list:
        carts = []
        for n in range(count):
            cart = self.store.cart_create(customer=self.customer)
            self.store.cart_item_add(
                customer=self.customer,
                cart_id=cart.pk,
                product_id=self.products[n % 5].pk,
                quantity=1,
            )
            carts.append(cart)
        return carts

    def checkout(self, loops: int) -> float:
        carts = self.carts(loops)
        start = time.process_time()
        for cart in carts:
            self.store.order_place(customer=self.customer, cart_id=cart.pk)
        return time.process_time() - start

    def service(self, name: str):
        """A timed function of one side-effect service, each call on an order of its own
        (batch size 1: no other order's work; email through the locmem backend), or, for
        `email_in_sixes`, on six orders a call (a loop is still one order)."""

        def timed(loops: int) -> float:
            orders = [
                self.store.order_place(customer=self.customer, cart_id=cart.pk).order.pk
                for cart in self.carts(loops)
            ]
            call = getattr(self.store, name)
            if name == "email_in_sixes":
                arguments = [{"order_ids": orders[n : n + SIX]} for n in range(0, loops, SIX)]
            else:
                arguments = [{"order_id": order} for order in orders]
            start = time.process_time()
            for each_call in arguments:
                call(**each_call)
            return time.process_time() - start

        return timed


def service_calls():
    """The services measured, each called with one order's id, in the layout of the tree:
    this one's (a list of orders a call), the one before (an order a call), or the one
    before the apps moved out of store and core (for --against an older revision)."""
    for layout in (_batched, _per_order, _in_store):
        try:
            return layout()
        except ImportError:
            continue
    raise ImportError("bench/services_calls.py: no known layout of the services")


def _batched():
    from analytics_app.services import analytics_record
    from email_app.services import confirmation_emails_send
    from store.services import carts, checkout, customers, stock

    def one(call):
        return lambda *, order_id: call(order_ids=[order_id])

    return SimpleNamespace(
        customer_ensure=customers.customer_ensure,
        cart_create=carts.cart_create,
        cart_item_add=carts.cart_item_add,
        order_place=checkout.order_place,
        inventory=one(stock.inventory_apply),
        analytics=one(analytics_record),
        email=one(confirmation_emails_send),
        email_in_sixes=confirmation_emails_send,
    )


def _per_order():
    from analytics_app.services import analytics_record
    from email_app.services import confirmation_email_send
    from store.services import carts, checkout, customers, stock

    return SimpleNamespace(
        customer_ensure=customers.customer_ensure,
        cart_create=carts.cart_create,
        cart_item_add=carts.cart_item_add,
        order_place=checkout.order_place,
        inventory=stock.inventory_apply,
        analytics=analytics_record,
        email=confirmation_email_send,
        email_in_sixes=each(confirmation_email_send),
    )


def _in_store():
    from analytics_app.services import order_event_record
    from email_app.services import order_confirmation_send
    from store import services

    return SimpleNamespace(
        customer_ensure=services.customer_ensure,
        cart_create=services.cart_create,
        cart_item_add=services.cart_item_add,
        order_place=services.order_place,
        inventory=services.inventory_apply_order,
        analytics=order_event_record,
        email=order_confirmation_send,
        email_in_sixes=each(order_confirmation_send),
    )


def each(send_one):
    """A layout of an order a call, given a message's orders: one call each."""

    def send(*, order_ids):
        for order_id in order_ids:
            send_one(order_id=order_id)

    return send


class Lazy:
    """Calls, made in the worker that runs a benchmark (pyperf's main process runs none)."""

    calls: Calls | None = None

    def __init__(self, name: str):
        self.name = name

    def __call__(self, loops: int) -> float:
        if Lazy.calls is None:
            Lazy.calls = Calls()
        if self.name == "checkout":
            return Lazy.calls.checkout(loops)
        return Lazy.calls.service(self.name)(loops)


def main() -> None:
    runner = pyperf.Runner()
    runner.metadata["description"] = "CPU time per call (time.process_time)"
    runner.metadata["tree"] = os.getcwd()
    for name in CALLS:
        runner.bench_time_func(name, Lazy(name))


if __name__ == "__main__":
    main()
