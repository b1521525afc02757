"""Writes of side effects: opened when an order is placed, and when it changes status."""

from worker.jobs import enqueue_kinds

from . import registry, selectors


def side_effects_open(*, order, on: str = registry.PLACED) -> None:
    """The job of every kind registered for `on` (the order's new status), in the
    transaction of the change itself: the change and its side effects commit together or
    not at all (no receiver's failure can lose one). The order carries their states as
    written (a new order has no job of a later status's kinds yet)."""
    kinds = registry.kinds(on=on)
    enqueue_kinds(kinds=kinds, key=order.pk)
    states = dict.fromkeys(registry.kinds(), None) if on == registry.PLACED else {}
    states.update(dict.fromkeys(kinds, "pending"))
    selectors.side_effect_states_known(order=order, states=states)
