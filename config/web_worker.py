"""The gunicorn worker class of the web tier: uvicorn's, configured.

On SIGTERM uvicorn stops accepting, closes idle connections, tells open WebSockets to go
(close code 1012, "service restart"), and waits for the responses in flight. A
notification stream (Server-Sent Events) is a response that never ends by itself: uvicorn
cancels what is still running after its public `timeout_graceful_shutdown`, here
WEB_GRACEFUL_SECONDS, well inside gunicorn's own graceful timeout (30 s) after which the
worker would be killed. Clients reconnect (to another process, or to this one restarted)
and resume from Last-Event-ID; an API request in flight has those seconds to finish.
Imports nothing of Django: gunicorn loads this module in the arbiter."""

import os
import socket

from uvicorn_worker import UvicornWorker

GRACEFUL_SECONDS = int(os.environ.get("WEB_GRACEFUL_SECONDS") or 5)


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
