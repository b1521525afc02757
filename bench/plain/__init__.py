"""The plain synchronous design Shopflow replaces, as the benchmark's baseline: the same
public API (sign-up, token, carts, checkout, orders) done the seeds' way. A transactional
serializer places the order (cart and products locked in primary-key order, stock
reserved), `order_created.send_robust` fires once it commits, and one receiver per app does
the work inside the request: the confirmation email over SMTP (email_app), the stock moved
(store), the analytics row (analytics_app). No Celery, no outbox, no side-effect state, no
metrics. Its own settings, URLs, apps, migrations and database; served as Shopflow's web is
(gunicorn, its uvicorn worker class, the API in a2wsgi's thread pool).

    DATABASE_URL=postgres://... EMAIL_HOST=127.0.0.1 EMAIL_PORT=1025 \\
      python -m django migrate --settings=bench.plain.settings
    ... python -m django load_plain_catalog --products 20 --settings=bench.plain.settings
    ... python -m gunicorn bench.plain.asgi:application \\
          --worker-class config.web_worker.WebWorker --bind 127.0.0.1:8100 --workers 2 \\
          --reuse-port --no-control-socket

from the project's root (bench/plain_web.py does all three; docs/performance.md)."""
