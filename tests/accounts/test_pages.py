"""The account pages besides login: sign-up (the API's registration service, errors in
the form, signed in and sent to the front door), and password change (Django's views,
which sign out other browsers; the API token goes too)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from store.models import Customer
from tests.factories import PASSWORD, UserFactory
from tests.support.clients import client_for
from worker.models import Job

pytestmark = pytest.mark.django_db

User = get_user_model()
SIGNUP, PASSWORD_PAGE = "/account/signup/", "/account/password/"
NEW_PASSWORD = "a-new-password-2"


def sign_up(browser: Client, **overrides):
    fields = {
        "username": "ada",
        "email": "ada@example.com",
        "password": "s3cure-enough-pw",
        "password_again": "s3cure-enough-pw",
    }
    return browser.post(SIGNUP, {**fields, **overrides})


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


# --- Sign-up -------------------------------------------------------------------------


def test_the_login_page_links_to_sign_up():
    response = Client().get("/account/login/")

    assert b'New here? <a href="/account/signup/">Sign up</a>' in response.content


def test_the_sign_up_page_asks_what_the_api_asks_and_the_password_twice():
    response = Client().get(SIGNUP)

    assert response.status_code == 200
    html = response.content.decode()
    for field in ("username", "email", "password", "password_again"):
        assert f'name="{field}"' in html
    assert 'autocomplete="new-password"' in html
    assert '<button type="submit">Sign up</button>' in html


def test_signing_up_makes_the_account_as_the_api_does_signs_in_and_lands_on_the_front_door():
    browser = Client()

    response = sign_up(browser)

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="ada")
    assert user.email == "ada@example.com" and user.check_password("s3cure-enough-pw")
    assert Customer.objects.filter(user=user).exists()
    assert Job.objects.filter(kind="welcome_email", key=str(user.pk)).exists()
    front = browser.get("/")
    assert front.status_code == 200 and b"Hello, ada" in front.content


def test_a_visitor_signs_up_and_comes_back_where_they_were_and_never_elsewhere():
    page = Client().get(f"{SIGNUP}?next=/shop/").content.decode()
    assert 'name="next" value="/shop/"' in page and "/account/login/?next=/shop/" in page
    login = Client().get("/account/login/?next=/shop/").content.decode()
    assert f"{SIGNUP}?next=/shop/" in login

    back = sign_up(Client(), next="/shop/")
    assert back.status_code == 302 and back["Location"] == "/shop/"
    elsewhere = sign_up(
        Client(), username="eve", email="eve@example.com", next="https://evil.example/"
    )
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"username": "has space"}, "Letters, digits and @ . + - _ only."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"password": "short", "password_again": "short"}, "This password is too short."),
        ({"password": "password123", "password_again": "password123"}, "too common"),
        ({"password_again": "something-else-9"}, "The two passwords differ."),
    ],
)
def test_a_refused_sign_up_shows_why_in_the_form_and_makes_nothing(overrides, error):
    response = sign_up(Client(), **overrides)

    assert response.status_code == 400  # as the API answers it
    html = response.content.decode()
    assert "The account was not made" in html
    assert error in html
    assert 'value="ada@example.com"' in html or "email" in overrides  # kept for the retry
    assert not User.objects.exists()


def test_a_taken_username_is_said_in_the_form():
    UserFactory(username="ada")

    response = sign_up(Client())

    assert response.status_code == 400
    assert b"This username is taken." in response.content
    assert User.objects.count() == 1


def test_a_signed_in_person_is_sent_from_sign_up_to_the_front_door(user):
    response = signed_in(user).get(SIGNUP)

    assert response.status_code == 302 and response["Location"] == "/"


# --- Password change ------------------------------------------------------------------


def test_the_password_page_needs_a_login():
    response = Client().get(PASSWORD_PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={PASSWORD_PAGE}"


def test_the_password_page_is_djangos_form_in_the_site_frame(user):
    response = signed_in(user).get(PASSWORD_PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Change your password</h1>" in html
    assert '<nav aria-label="Site">' in html
    for field in ("old_password", "new_password1", "new_password2"):
        assert f'name="{field}"' in html


def test_changing_the_password_keeps_this_browser_signed_in_and_revokes_the_api_token(user):
    browser, other_browser = signed_in(user), signed_in(user)
    api = client_for(user)
    assert api.get("/api/orders/").status_code == 200

    response = browser.post(
        PASSWORD_PAGE,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    done = browser.get(response["Location"])
    assert done.status_code == 200 and b"<h1>Password changed</h1>" in done.content
    assert other_browser.get("/").status_code == 302  # signed out
    assert not Token.objects.filter(user=user).exists()
    assert api.get("/api/orders/").status_code == 401


def test_a_wrong_old_password_changes_nothing_and_says_so(user):
    response = signed_in(user).post(
        PASSWORD_PAGE,
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert b"Your old password was entered incorrectly." in response.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
