"""The gunicorn worker class of the web tier: uvicorn's, with a bounded graceful shutdown.

On SIGTERM uvicorn stops accepting, lets requests in flight finish, and by default waits
for every open connection, including the notification streams, which never end by
themselves; gunicorn would then kill the worker after its own graceful timeout (30 s).
Here open streams are cancelled after WEB_STREAM_SHUTDOWN_SECONDS: their clients
reconnect (to another process, or to this one once restarted) and resume from
Last-Event-ID, and a deploy or Ctrl-C takes seconds, not half a minute. Imports nothing
of Django: gunicorn loads it in the arbiter."""

import os

from uvicorn_worker import UvicornWorker


class WebWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        "timeout_graceful_shutdown": float(os.environ.get("WEB_STREAM_SHUTDOWN_SECONDS") or 2),
    }
