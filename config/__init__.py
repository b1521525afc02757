"""The Django project package, on top of the apps (docs/architecture.md): settings, URLs,
the ASGI and WSGI applications and the web server's worker class."""
