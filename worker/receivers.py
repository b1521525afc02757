"""Request hooks of the outbox: what a request commits is published after its response."""

from . import outbox


def hold_publishing_until_response(sender, **kwargs) -> None:
    outbox.hold_until_response()


def publish_after_response(sender, **kwargs) -> None:
    outbox.publish_held()
