from ..models import Customer


def customer_create(*, user) -> Customer:
    customer, _ = Customer.objects.get_or_create(user=user)
    return customer


def customer_ensure(*, user) -> Customer:
    """The user's Customer, created if the user has none yet. Costs no query when the
    authentication loaded it with the user (store.authentication)."""
    try:
        return user.customer
    except Customer.DoesNotExist:
        return customer_create(user=user)
