from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from store.models import Cart, CartItem, Order, Product
from worker.models import Job

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"shopper{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")
    on_hand = 100
    low_stock_threshold = 5


class CartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cart

    customer = factory.LazyFunction(lambda: UserFactory().customer)


class CartItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartItem

    cart = factory.SubFactory(CartFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as checkout leaves it, without items or side effects; `placed_at=` sets
    the time it was placed (a field Django fills on insert)."""

    class Meta:
        model = Order

    customer = factory.LazyFunction(lambda: UserFactory().customer)
    total = Decimal("10.00")

    @classmethod
    def _create(cls, model_class, *args, placed_at=None, **kwargs):
        order = super()._create(model_class, *args, **kwargs)
        if placed_at is not None:
            model_class.objects.filter(pk=order.pk).update(placed_at=placed_at)
            order.placed_at = placed_at
        return order


class SideEffectJobFactory(factory.django.DjangoModelFactory):
    """An order's side effect: its job of `kind`, keyed by the order's id; `ended_at` is
    when a done or failed one ended (now by default)."""

    class Meta:
        model = Job

    class Params:
        order = factory.SubFactory(OrderFactory)

    kind = "analytics"
    key = factory.LazyAttribute(lambda job: str(job.order.pk))
    status = Job.Status.DONE
    ended_at = factory.LazyFunction(timezone.now)


def cart_with(customer, *lines) -> Cart:
    """A cart of `customer` holding (product, quantity) lines."""
    cart = Cart.objects.create(customer=customer)
    for product, quantity in lines:
        CartItem.objects.create(cart=cart, product=product, quantity=quantity)
    return cart
