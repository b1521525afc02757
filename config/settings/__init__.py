"""Shopflow's settings, split the cookiecutter-django way: base.py (what every environment
shares, from the environment), local.py (development defaults), production.py (what
production requires: it fails closed) and test.py (the suite's). DJANGO_SETTINGS_MODULE
names one; when it names none, every entry point takes production unless DJANGO_DEBUG is
on (core.env.settings_module), so a process started with nothing set fails closed."""
