"""The gunicorn worker class of the web tier: uvicorn's, telling the application as soon
as a graceful shutdown starts.

On SIGTERM uvicorn stops accepting, lets requests in flight finish, and waits for every
open connection, long-lived streams included, which never end by themselves; gunicorn
would then kill the worker after its graceful timeout (30 s). Here the signal also sends
core.signals.graceful_shutdown, on which the notification streams end at once: clients
reconnect (to another process, or to this one restarted) and resume from Last-Event-ID,
while API requests in flight still get the whole graceful timeout. Imports nothing of
Django at load: gunicorn loads this module in the arbiter."""

import sys

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker


class _Server(Server):
    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        from core.signals import graceful_shutdown  # the worker process: Django is set up

        graceful_shutdown.send(sender=type(self))


class WebWorker(UvicornWorker):
    # A notification socket's frames are small (notifications.consumers refuses > 4 KB);
    # uvicorn's default would let one frame take 16 MB of memory.
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "ws": "websockets-sansio", "ws_max_size": 65536}

    async def _serve(self) -> None:
        # UvicornWorker._serve, with the Server above.
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
