"""The store's own signals. order_created and low_stock are sent inside the sender's
transaction with core.signals.send_robust_isolated: a receiver cannot harm the sender."""

from django.dispatch import Signal

# Sent inside the checkout transaction, once the order, its items and the stock
# reservation are written. Arguments: order (store.models.Order).
order_created = Signal()

# Sent by the inventory task when applying an order takes a product's available stock
# below its threshold. Arguments: product (store.models.Product), order_id, available.
low_stock = Signal()

# Sent by the scheduled duplicate-order alert, inside the transaction that marks the
# orders as named by the alert, with a plain send(): a receiver that fails rolls the
# alert back (the orders wait for the next run) rather than leave it unheard.
# Arguments: alert (store.models.DuplicateAlert; store.selectors.duplicate_alert_get reads
# the orders it names).
duplicate_orders_alerted = Signal()
