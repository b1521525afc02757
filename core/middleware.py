"""The shape of Shopflow's own middleware: it runs as its chain runs, a plain call under the
API's threads and a coroutine under the async views (the streams), so neither pays a hop
between a thread and the event loop for it. Django's MiddlewareMixin would run its hooks
through sync_to_async on the async chain."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class SyncAndAsyncMiddleware:
    """Subclasses give `handle(request)` and `ahandle(request)`, each calling
    `self.get_response` in its own mode."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request):
        raise NotImplementedError

    async def ahandle(self, request):
        raise NotImplementedError
