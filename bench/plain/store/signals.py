from django.dispatch import Signal

# Sent once the checkout committed (send_robust: a receiver that raises is logged and
# stops neither the order nor the other receivers). Arguments: order, with `line_items`
# (their products loaded) and its customer's user.
order_created = Signal()
