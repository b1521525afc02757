"""Writes of side effects: opened at checkout."""

from worker.jobs import enqueue_kinds

from . import registry, selectors


def side_effects_open(*, order) -> None:
    """The job of every registered kind for a new order, in the checkout's transaction
    itself: the order and its side effects commit together or not at all (no receiver's
    failure can lose one). The order carries their states as written."""
    kinds = registry.kinds()
    enqueue_kinds(kinds=kinds, key=order.pk)
    selectors.side_effect_states_known(order=order, states=dict.fromkeys(kinds, "pending"))
