"""The signals of the conversations."""

from django.dispatch import Signal

# Messages were read by their recipient, once committed: the order, the messages' ids,
# their authors' user ids, who read them and when. Sent after the commit, so a receiver
# may push it at once.
message_read = Signal()
