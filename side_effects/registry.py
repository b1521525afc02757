"""The kinds of side effect an order has, each registered by the app that owns it, in its
ready(), with the task that performs it (`base=SideEffectTask, side_effect="<kind>"`):

    side_effects.registry.register(tasks.send_confirmation_email)

Checkout opens one side effect per registered kind; the reconciler re-drives one through its
kind's task."""

_tasks: dict = {}


def register(task) -> None:
    """Register `task` as the performer of its `side_effect` kind."""
    kind = getattr(task, "side_effect", "")
    if not kind:
        raise ValueError(f"{task.name} declares no side_effect kind")
    if kind in _tasks and _tasks[kind].name != task.name:
        raise ValueError(f"side effect {kind!r} is {_tasks[kind].name}'s already")
    _tasks[kind] = task


def kinds() -> list[str]:
    """Every registered kind, in the order the apps registered them."""
    return list(_tasks)


def task_for(kind: str):
    """The task that performs `kind`; KeyError for a kind no app registered."""
    return _tasks[kind]
