from ..models import Customer


def customer_ensure(*, user) -> Customer:
    """The user's Customer, created if the user has none yet (a new user's, at its
    post_save). Costs no query when the authentication loaded it with the user
    (store.authentication)."""
    try:
        return user.customer
    except Customer.DoesNotExist:
        return Customer.objects.get_or_create(user=user)[0]
