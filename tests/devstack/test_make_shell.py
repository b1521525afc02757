"""`make shell`: a Django shell on the database `make run` uses, without DJANGO_DEBUG set
by hand (the services' own settings refuse to start without production's values)."""

import subprocess

import pytest

from tests.factories import ProductFactory
from tests.support import PROJECT_DIR
from tests.support.processes import subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

READ_NAMES = """
from store.models import Product
print(list(Product.objects.values_list("name", flat=True)))
"""


def test_make_shell_opens_a_django_shell_on_the_same_database():
    ProductFactory(name="Shell-visible lamp")
    env = subprocess_env()
    env.pop("DJANGO_DEBUG", None)  # as an operator's terminal has it

    shell = subprocess.run(
        ["make", "--no-print-directory", "shell"],
        cwd=PROJECT_DIR,
        env=env,
        input=READ_NAMES,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert shell.returncode == 0, shell.stderr[-2000:]
    assert "Shell-visible lamp" in shell.stdout
