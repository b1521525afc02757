"""Shopflow's settings, the cookiecutter-django way: base.py, local.py, production.py (it
fails closed) and test.py. With no DJANGO_SETTINGS_MODULE, production unless DJANGO_DEBUG
is on (core.env.settings_module), so a process started with nothing set fails closed."""
