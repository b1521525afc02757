"""The signals of accounts."""

from django.dispatch import Signal

# Someone logged in to `user`'s account from a device (a user agent) none of their earlier
# logins came from; `event` is the LoginEvent. Sent once the login's audit row committed.
login_from_new_device = Signal()
