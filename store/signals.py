"""The store's own signals. order_created, low_stock and price_changed are sent inside the
sender's transaction with core.signals.send_robust_isolated: a receiver cannot harm the
sender."""

from django.dispatch import Signal

# Sent inside the checkout transaction, once the order, its items and the stock
# reservation are written. Arguments: order (store.models.Order).
order_created = Signal()

# Sent by the inventory task when applying an order takes a product's available stock
# below its threshold. Arguments: product (store.models.Product), order_id, available.
low_stock = Signal()

# Sent when a product's price really changed, in the transaction of the save, once its
# PriceChange is written (store.services.prices), with send_robust_isolated. Arguments:
# change (store.models.PriceChange; its product is the product as saved).
price_changed = Signal()

# Sent by the scheduled duplicate-order alert, inside the transaction that marks the
# orders as named by the alert, with a plain send(): a receiver that fails rolls the
# alert back (the orders wait for the next run) rather than leave it unheard.
# Arguments: alert (store.models.DuplicateAlert; store.selectors.duplicate_alert_get reads
# the orders it names).
duplicate_orders_alerted = Signal()
