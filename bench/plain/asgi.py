"""The plain design's web application, served as Shopflow's web is (config.asgi): gunicorn
with Shopflow's uvicorn worker class, the Django views run as plain WSGI in a fixed pool of
WEB_THREADS threads (a2wsgi), each thread keeping its database connection. The plain
design has no streams, so every request goes to the pool."""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.plain.settings")

# As many threads per process as Shopflow's web (config.asgi).
THREADS = int(os.environ.get("WEB_THREADS") or 4)

wsgi_application = get_wsgi_application()
application = WSGIMiddleware(wsgi_application, workers=THREADS)  # it answers lifespan too
