"""The price history: every change of a product's price, whatever saved it (admin, shell,
an import through the ORM), recorded in the transaction of the change. QuerySet.update()
and bulk_update() send no save signals: they record nothing, as raw SQL does not."""

import contextlib
import contextvars
import logging
from decimal import Decimal, InvalidOperation

from .. import selectors
from ..models import PriceChange, Product

logger = logging.getLogger(__name__)

_price_author = contextvars.ContextVar("price_author", default=None)


@contextlib.contextmanager
def price_changes_by(user):
    """Price changes saved in this block are recorded as made by `user` (admin, the API);
    elsewhere (shell, imports) by no one."""
    token = _price_author.set(user if user is not None and user.is_authenticated else None)
    try:
        yield
    finally:
        _price_author.reset(token)


def price_change_note(*, product: Product, update_fields, using: str) -> None:
    """Before a save (pre_save): read the stored price under the row's lock and note a real
    change of it on the instance, for price_change_record_noted() to record once the row
    is written (so a save that fails records nothing)."""
    product.noted_price_change = None
    if product.pk is None or (update_fields is not None and "price" not in update_fields):
        return
    try:
        new_price = Decimal(str(product.price))
    except (InvalidOperation, TypeError, ValueError):
        return  # the save refuses it (DecimalField); there is no change to record
    old_price = selectors.product_price_locked(product_id=product.pk, using=using)
    if old_price is not None and old_price != new_price:
        product.noted_price_change = (old_price, new_price)


def price_change_record_noted(*, product: Product, using: str) -> PriceChange | None:
    """After the save (post_save): record the change price_change_note() noted."""
    change, product.noted_price_change = getattr(product, "noted_price_change", None), None
    if change is None:
        return None
    return price_change_record(
        product=product, old_price=change[0], new_price=change[1], using=using
    )


def price_change_record(*, product: Product, old_price, new_price, using: str = "default"):
    author = _price_author.get()
    change = PriceChange.objects.using(using).create(
        product=product, old_price=old_price, new_price=new_price, changed_by=author
    )
    logger.info(
        "price of product %s (%s) changed: %s -> %s by %s",
        product.pk,
        product.sku,
        old_price,
        new_price,
        author.get_username() if author else "(unknown)",
    )
    return change
