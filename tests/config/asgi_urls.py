"""A URLconf for tests/core/test_asgi.py: one async and one sync view that say which
thread served them."""

import threading

from django.http import JsonResponse
from django.urls import path


async def async_view(request):
    return JsonResponse({"thread": threading.current_thread().name})


def sync_view(request):
    return JsonResponse({"thread": threading.current_thread().name})


urlpatterns = [
    path("async/", async_view),
    path("sync/", sync_view),
]
