"""The Django project package, on top of the apps, the cookiecutter-django way: settings,
URLs, the ASGI and WSGI applications and the web server's worker class. It is the one
package that imports every app; nothing imports it (Django finds it by
DJANGO_SETTINGS_MODULE and ROOT_URLCONF)."""
