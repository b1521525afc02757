"""The Celery app and everything that gets work to it reliably.

`celery -A worker worker` finds the app here.
"""

from .celery import app

__all__ = ("app",)
