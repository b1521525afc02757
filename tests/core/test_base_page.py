"""The site frame every page extends (core/templates/core/base.html)."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_a_page_names_its_icon_so_browsers_ask_no_favicon_that_would_404():
    page = Client().get("/account/login/")

    assert page.status_code == 200
    assert b'<link rel="icon" href="data:,">' in page.content
