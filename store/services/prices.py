"""The price history: every change of a product's price, whatever saved it (admin, shell,
an import through the ORM), recorded in the transaction of the change. QuerySet.update()
and bulk_update() send no save signals: they record nothing, as raw SQL does not."""

import contextlib
import contextvars
import logging
from decimal import Decimal, InvalidOperation

from core.signals import send_robust_isolated

from .. import locks
from ..models import PriceChange, Product
from ..signals import price_changed

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


def price_change_record_if_changed(*, product: Product, update_fields, using: str):
    """Before a save (pre_save), in the transaction Product.save opens around it: read the
    stored price under the row's lock and record a real change of it. A save that then
    fails rolls its record back with it."""
    if product.pk is None or (update_fields is not None and "price" not in update_fields):
        return None
    try:
        new_price = Decimal(str(product.price))
    except (InvalidOperation, TypeError, ValueError):
        return None  # the save refuses it (DecimalField); there is no change to record
    old_price = locks.product_price_for_update(product_id=product.pk, using=using).first()
    if old_price is None or old_price == new_price:
        return None
    return price_change_record(
        product=product, old_price=old_price, new_price=new_price, using=using
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
    about = f"price_changed, product {product.pk}"
    send_robust_isolated(price_changed, sender=Product, about=about, change=change)
    return change
