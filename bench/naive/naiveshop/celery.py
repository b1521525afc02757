"""Celery's examples/django layout."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naiveshop.settings")

app = Celery("naiveshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
