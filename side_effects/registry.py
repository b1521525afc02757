"""The kinds of side effect an order has, each registered by the app that owns it, in its
ready(), with the task that performs it (`base=SideEffectTask, kind="<kind>"`) and the
status of the order that opens it (its checkout's "placed", or a later one):

    side_effects.registry.register(tasks.send_confirmation_email)
    side_effects.registry.register(tasks.release_stock, on="cancelled")

The change of status opens a job of each of its kinds for the order, in its transaction
(side_effects.services.side_effects_open); the API shows the checkout's kinds on every
order, and a later one's once the order has it."""

PLACED = "placed"
_tasks: dict = {}
_opened_on: dict[str, str] = {}


def register(task, *, on: str = PLACED) -> None:
    """Register `task` as the performer of its `kind`, opened when an order becomes `on`."""
    kind = getattr(task, "kind", "")
    if not kind:
        raise ValueError(f"{task.name} declares no kind")
    if kind in _tasks and _tasks[kind].name != task.name:
        raise ValueError(f"side effect {kind!r} is {_tasks[kind].name}'s already")
    _tasks[kind], _opened_on[kind] = task, on


def kinds(*, on: str | None = None) -> list[str]:
    """The registered kinds (those opened when an order becomes `on`), in the order the
    apps registered them."""
    return [kind for kind in _tasks if on is None or _opened_on[kind] == on]
