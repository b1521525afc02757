"""Which channels each kind of notification goes through: the defaults, and the channels
a person cannot turn off (the kinds that must reach someone)."""

from .models import STAFF_ONLY_KINDS, Notification

Kind = Notification.Kind

IN_APP, EMAIL, PUSH = "in_app", "email", "push"
CHANNELS = (IN_APP, EMAIL, PUSH)

# A kind without a preference row has these.
DEFAULTS: dict[str, dict[str, bool]] = {
    Kind.ORDER_PLACED.value: {IN_APP: True, EMAIL: True, PUSH: False},
    # Their own emails say so already (email_app): no digest of them unless chosen.
    Kind.ORDER_CANCELLED.value: {IN_APP: True, EMAIL: False, PUSH: True},
    Kind.ORDER_FULFILLED.value: {IN_APP: True, EMAIL: False, PUSH: True},
    Kind.MESSAGE.value: {IN_APP: True, EMAIL: True, PUSH: True},
    Kind.LOW_STOCK.value: {IN_APP: True, EMAIL: True, PUSH: False},
    Kind.SIDE_EFFECT_FAILED.value: {IN_APP: True, EMAIL: True, PUSH: False},
    Kind.DUPLICATE_ORDER.value: {IN_APP: True, EMAIL: True, PUSH: False},
    Kind.NEW_DEVICE_LOGIN.value: {IN_APP: True, EMAIL: True, PUSH: True},
}

# Channels that stay on whatever the preferences say: staff learn in the app that a side
# effect failed for good; a person learns in the app and by email that someone signed in
# to their account from a device it never saw.
REQUIRED: dict[str, frozenset[str]] = {
    Kind.SIDE_EFFECT_FAILED.value: frozenset({IN_APP}),
    Kind.NEW_DEVICE_LOGIN.value: frozenset({IN_APP, EMAIL}),
}


def effective(kind: str, chosen: dict[str, bool] | None) -> dict[str, bool]:
    """The channels of `kind` for a person whose choice is `chosen` (None: the defaults)."""
    channels = dict(DEFAULTS[kind] if chosen is None else chosen)
    for channel in REQUIRED.get(kind, ()):
        channels[channel] = True
    return channels


def kinds_for(user) -> list[str]:
    """The kinds that can reach `user`, in DEFAULTS' order: the staff-only ones for staff."""
    return [kind for kind in DEFAULTS if user.is_staff or kind not in STAFF_ONLY_KINDS]
