"""The kinds of side effect an order has, each registered by the app that owns it, in its
ready(), with the task that performs it (`base=SideEffectTask, kind="<kind>"`):

    side_effects.registry.register(tasks.send_confirmation_email)

The checkout opens a job of each registered kind for every order, in its transaction
(side_effects.services.side_effects_open); the API shows each kind on every order."""

_tasks: dict = {}


def register(task) -> None:
    """Register `task` as the performer of its `kind`."""
    kind = getattr(task, "kind", "")
    if not kind:
        raise ValueError(f"{task.name} declares no kind")
    if kind in _tasks and _tasks[kind].name != task.name:
        raise ValueError(f"side effect {kind!r} is {_tasks[kind].name}'s already")
    _tasks[kind] = task


def kinds() -> list[str]:
    """Every registered kind, in the order the apps registered them."""
    return list(_tasks)
