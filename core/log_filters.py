"""Filters of the console handler (settings.LOGGING)."""

import logging


class ClientErrorsAsWarnings(logging.Filter):
    """Django logs a request it refused as suspicious (a body too large, a Host header
    not allowed, too many fields: `django.security.*`) at ERROR, with the traceback of its
    own check. It is the client's error, answered 4xx: one WARNING line, as Django logs a
    404 or a 403."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True
