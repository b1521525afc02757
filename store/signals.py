"""The store's own signals; docs/signals.md lists who sends each and who reacts. Those but
duplicate_orders_alerted are sent inside the sender's transaction with
core.signals.send_robust_isolated: a receiver cannot harm the sender."""

from django.dispatch import Signal

order_created = Signal()  # order (store.models.Order), its items and reservation written
low_stock = Signal()  # product (store.models.Product), order_id, available
price_changed = Signal()  # change (store.models.PriceChange; its product as saved)
order_cancelled = Signal()  # order, as cancelled (store.services.lifecycle)
order_fulfilled = Signal()  # order, as fulfilled

# Sent with a plain send(): a receiver that fails rolls the alert back (the orders wait for
# the next run) rather than leave it unheard. Arguments: alert (store.models.DuplicateAlert;
# store.selectors.duplicate_alert_get reads the orders it names).
duplicate_orders_alerted = Signal()
