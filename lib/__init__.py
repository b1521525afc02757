"""Code every package may use and that has no Django app of its own: it imports none of
the project's packages (worker, core and the apps import it)."""
