"""The Django project package: settings, URLs, the ASGI/WSGI applications and the web
server's worker class, the API's error answers and parsers, OpenAPI hooks, health, and
the way a domain signal is sent inside a transaction (core.signals). It imports no app."""
