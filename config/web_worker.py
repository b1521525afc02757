"""The gunicorn worker class of the web tier: uvicorn's, configured (docs/architecture.md,
"The web server"). Imports nothing of Django: gunicorn loads this module in the arbiter."""

import socket

from uvicorn_worker import UvicornWorker

from core.env import env_int

# On SIGTERM, what still runs after this (the streams) is cancelled: well inside gunicorn's
# graceful timeout (30 s), after which the worker would be killed.
GRACEFUL_SECONDS = env_int("WEB_GRACEFUL_SECONDS", 5)


class WebWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        # A notification socket's frames are small (notifications.consumers refuses > 4
        # KB); uvicorn's default would let one frame take 16 MB of memory.
        "ws": "websockets-sansio",
        "ws_max_size": 65536,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }

    def run(self) -> None:
        # With --reuse-port each process binds its own socket, and gunicorn's arbiter says
        # "Listening at:" with no address: each process says where it listens.
        self.log.info("Listening at: %s (%s)", ",".join(map(str, self.sockets)), self.pid)
        # uvicorn closes each socket it serves after asyncio's server closed it, through
        # gunicorn's wrapper, which then logs "Error while closing socket [Errno 9]" at every
        # stop (benoitc/gunicorn#3013): uvicorn is given the sockets themselves.
        self.sockets = [socket.socket(fileno=listener.detach()) for listener in self.sockets]
        super().run()
