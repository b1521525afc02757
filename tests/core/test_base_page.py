"""The site frame every page extends (core/templates/core/base.html): its one navigation
(core/templates/core/nav.html), and the error pages of the pages' paths."""

import re

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.mark.django_db
def test_a_page_names_its_icon_so_browsers_ask_no_favicon_that_would_404():
    page = Client().get("/account/login/")

    assert page.status_code == 200
    assert b'<link rel="icon" href="data:,">' in page.content


CUSTOMER_NAV = ["Shopflow", "Shop", "Cart", "Orders", "Notifications", "Password", "Log out"]
STAFF_NAV = [
    "Shopflow",
    "Shop",
    "Cart",
    "Orders",
    "Notifications",
    "Analytics",
    "Admin",
    "Password",
    "Log out",
]


def nav_links(html: str) -> list[str]:
    """The site navigation's links and buttons, by their text, in order."""
    nav = re.search(r'<nav aria-label="Site">(.*?)</nav>', html, re.DOTALL).group(1)
    return re.findall(r"<(?:a|button)\b[^>]*>([^<]+)</(?:a|button)>", nav)


def page_as(user, path: str) -> str:
    browser = Client()
    if user is not None:
        browser.force_login(user)
    response = browser.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/account/login/", "/account/signup/"])
def test_anonymous_visitors_are_offered_log_in_and_sign_up(path):
    assert nav_links(page_as(None, path)) == ["Shopflow", "Shop", "Log in", "Sign up"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/account/orders/", "/account/notifications/", "/account/password/"]
)
def test_every_page_of_a_customer_has_one_navigation_with_their_pages_and_log_out(path):
    links = nav_links(page_as(UserFactory(), path))

    assert links == CUSTOMER_NAV


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/account/analytics/"])
def test_staff_also_get_the_analytics_and_the_admin(path):
    links = nav_links(page_as(UserFactory(is_staff=True), path))

    assert links == STAFF_NAV


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "current"),
    [("/", "Shopflow"), ("/account/orders/", "Orders"), ("/account/password/", "Password")],
)
def test_the_navigation_marks_the_page_it_is_on(path, current):
    html = page_as(UserFactory(), path)

    assert re.findall(r'aria-current="page">([^<]+)<', html) == [current]


@pytest.mark.django_db
def test_log_out_is_a_post_form_the_notifications_tab_can_find_by_its_id():
    html = page_as(UserFactory(), "/")

    assert '<form class="inline" id="logout" method="post" action="/account/logout/">' in html


@pytest.mark.django_db
def test_a_page_path_not_found_is_a_page_in_the_frame_and_an_api_path_stays_json():
    page = Client().get("/account/no-such-page/")
    api = Client().get("/api/no-such-thing/")

    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert b"<h1>Not found</h1>" in page.content and b'<nav aria-label="Site">' in page.content
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_a_form_sent_without_its_csrf_token_answers_a_page_saying_nothing_was_sent():
    """A login form left open while its session ended: a page, not the API's JSON."""
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)

    page = browser.post("/account/login/", {"username": user.username, "password": "x"})

    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
    assert b"<h1>Form expired</h1>" in page.content and b"Nothing was sent" in page.content
    assert b'<nav aria-label="Site">' in page.content


@pytest.mark.django_db
def test_a_form_too_large_is_a_413_page_and_the_same_body_to_the_api_413_json(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = {"username": "x" * 2_000, "password": "x"}

    page = Client().post("/account/login/", body)
    api = Client().post("/api/auth/token/", body, content_type="application/json")

    assert page.status_code == 413 and page["Content-Type"].startswith("text/html")
    assert b"<h1>Too large</h1>" in page.content and b"Request body too large." in page.content
    assert api.status_code == 413 and api.json() == {"detail": "Request body too large."}
