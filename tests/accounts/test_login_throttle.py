"""The throttle of failed logins: three budgets, an account from one address, an account
from anywhere, an address for any accounts (larger each), spent get a 429 with Retry-After
until the window passes, on every path (the API's token, the login page, the admin's) and
counted across them. An IPv6 client is counted by its /64. One guesser does not lock the
other accounts of its address out; a padded or numeric username counts as itself; and on
PostgreSQL, attempts sent at once at one account are counted one at a time."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import LoginEvent, LoginFailure
from tests.factories import PASSWORD, UserFactory
from tests.support.clients import page_login, token_login

pytestmark = pytest.mark.django_db


OVERLAPPING_HASHER = "tests.support.hashers.OverlappingPBKDF2PasswordHasher"
PATHS = ["/api/auth/token/", "/account/login/", "/admin/login/"]


def login_on(path: str, username: str, password: str, ip: str):
    if path == "/api/auth/token/":
        return token_login(username, password, ip=ip)
    return page_login(path, username, password, ip=ip)


def test_a_guesser_at_one_account_leaves_the_other_accounts_of_its_address_alone(settings):
    """The defaults: eight wrong passwords for one name from an address (an office's NAT),
    then a colleague's correct password from the same address signs in on every path,
    while the guessed name stays refused there, saying why and for how long."""
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 300
    colleague = get_user_model().objects.create_user("colleague", password=PASSWORD, is_staff=True)
    for n in range(8):
        login_on(PATHS[n % 3], "alice", f"guess-{n}", ip="10.4.4.4")

    signed_in = {path: login_on(path, colleague.username, PASSWORD, "10.4.4.4") for path in PATHS}
    refused = login_on("/api/auth/token/", "alice", "guess-9", ip="10.4.4.4")

    assert {path: answer.status_code for path, answer in signed_in.items()} == {
        "/api/auth/token/": 200,
        "/account/login/": 302,
        "/admin/login/": 302,
    }
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 300
    assert refused.json()["detail"].startswith("Too many failed logins for this account.")
    page = page_login("/account/login/", "alice", "guess-10", ip="10.4.4.4")
    message = "Too many failed logins for this account. Try again in 5 minutes."
    assert message in page.content.decode()


def test_failures_from_one_address_over_many_accounts_spend_its_budget(user, settings):
    settings.SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED = 3
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 60
    for n in range(3):
        assert token_login(f"guess{n}", "x", ip="10.9.9.9").status_code == 400
    refused = token_login(user.username, PASSWORD, ip="10.9.9.9")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Too many failed logins from your address.")
    # Another address is not affected.
    assert token_login(user.username, PASSWORD, ip="10.1.1.1").status_code == 200


def test_an_ipv6_guesser_is_counted_by_its_64_whatever_address_it_picks(user, settings):
    settings.SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED = 3
    for n in range(3):
        assert token_login(f"guess{n}", "x", ip=f"2001:db8:7:7::{n + 1}").status_code == 400
    refused = token_login(user.username, PASSWORD, ip="2001:db8:7:7:ffff::9")  # same /64
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many failed logins from your address.")
    assert token_login(user.username, PASSWORD, ip="2001:db8:7:8::1").status_code == 200


def test_repeated_failures_for_one_username_are_throttled_from_any_ip(user, settings):
    settings.SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED = 3
    for n in range(3):
        token_login(user.username, "wrong", ip=f"10.0.0.{n + 10}")
    assert token_login(user.username, PASSWORD, ip="10.0.0.99").status_code == 429
    assert token_login(UserFactory().username, PASSWORD, ip="10.0.0.99").status_code == 200


def test_after_the_wait_the_user_gets_in_again(user, settings):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 60
    token_login(user.username, "wrong")
    token_login(user.username, "wrong")
    assert token_login(user.username, PASSWORD).status_code == 429

    # The window passes (the failures are dated back, as the clock would move).
    from datetime import timedelta

    from django.utils import timezone

    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=61))
    assert token_login(user.username, PASSWORD).status_code == 200


def test_padding_the_username_does_not_escape_its_throttle(user, settings):
    """A review found " alice" counted apart from "alice", though both try alice's password."""
    settings.SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED = 2
    token_login(user.username, "wrong", ip="10.0.0.5")
    token_login(f" {user.username}", "wrong", ip="10.0.0.6")
    assert token_login(f"  {user.username} ", PASSWORD, ip="10.0.0.7").status_code == 429


def test_a_username_sent_as_a_number_is_throttled_like_any_other(settings):
    """DRF turns 12345 into "12345" before authenticate() gets it: so must the count."""
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
    UserFactory(username="12345")
    body = {"username": 12345, "password": "wrong"}
    for _ in range(2):
        assert APIClient().post("/api/auth/token/", body, format="json").status_code == 400
    assert APIClient().post("/api/auth/token/", body, format="json").status_code == 429
    assert LoginFailure.objects.filter(username="12345").count() == 2


@pytest.mark.parametrize("path", ["/account/login/", "/admin/login/"])
def test_a_login_page_refuses_with_429_after_repeated_failures_from_one_ip(path, settings, caplog):
    settings.SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED = 3
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 600
    staff = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    for n in range(3):
        failed = page_login(path, f"guess{n}", "wrong", ip="10.9.9.9")
        assert failed.status_code == 200  # the form again, with Django's message
    assert LoginFailure.objects.count() == 3

    # The right password is not even checked: refused, and no session.
    refused = page_login(path, staff.username, PASSWORD, ip="10.9.9.9")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 600
    message = "Too many failed logins from your address. Try again in 10 minutes."
    assert message in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session
    assert LoginFailure.objects.count() == 3  # a refused attempt is not a failure ...
    assert not LoginEvent.objects.exists()
    assert "login refused, throttled: 'ops' from 10.9.9.9" in caplog.text  # ... but logged

    # Another address is not affected.
    allowed = page_login(path, staff.username, PASSWORD, ip="10.1.1.1")
    assert allowed.status_code == 302
    assert LoginEvent.objects.get().ip == "10.1.1.1"


def test_failures_on_one_login_path_throttle_the_others_for_that_username(user, settings):
    """One count per username, whichever door: guesses through the API lock the pages too."""
    settings.SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED = 2
    token_login(user.username, "wrong", ip="10.0.0.5")
    page_login("/account/login/", f" {user.username}", "wrong", ip="10.0.0.6")
    assert page_login("/account/login/", user.username, PASSWORD, ip="10.0.0.7").status_code == 429
    assert page_login("/admin/login/", user.username, PASSWORD, ip="10.0.0.8").status_code == 429
    assert token_login(user.username, PASSWORD, ip="10.0.0.9").status_code == 429


def test_after_the_wait_the_login_page_lets_the_user_in(user, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 60
    page_login("/account/login/", user.username, "wrong")
    page_login("/account/login/", user.username, "wrong")
    assert page_login("/account/login/", user.username, PASSWORD).status_code == 429

    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=61))
    response = page_login("/account/login/", user.username, PASSWORD)
    assert response.status_code == 302
    assert response.client.session["_auth_user_id"] == str(user.pk)


def test_a_get_of_a_throttled_login_page_still_shows_the_form(user, settings):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 1
    page_login("/account/login/", user.username, "wrong", ip="10.0.0.3")
    assert Client().get("/account/login/", REMOTE_ADDR="10.0.0.3").status_code == 200
    assert page_login("/account/login/", user.username, PASSWORD, ip="10.0.0.3").status_code == 429


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/auth/token/", "/account/login/"])
def test_a_burst_of_guesses_gets_no_more_passwords_checked_than_the_throttle_allows(path, settings):
    """Guesses sent at once each count the others: the check does not read a count that
    the burst's own failures, written after their passwords were checked, come too late
    for."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
    # A slow hasher: the attempts overlap while their passwords are checked.
    settings.PASSWORD_HASHERS = [OVERLAPPING_HASHER]
    burst = 8
    start = threading.Barrier(burst)

    def guess(n):
        start.wait(timeout=10)
        try:
            if path == "/api/auth/token/":
                return token_login("nobody-here", f"guess-{n}", ip="10.7.7.7").status_code
            return page_login(path, "nobody-here", f"guess-{n}", ip="10.7.7.7").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=burst) as pool:
        answers = list(pool.map(guess, range(burst)))

    checked = [status for status in answers if status != 429]
    # Each attempt's row is committed before it counts: of those that pass, the last to
    # count saw the others. Checked one by one after reading the count, all 8 would pass.
    assert len(checked) <= 3, answers
    assert LoginFailure.objects.count() == len(checked)


@pytest.mark.slow  # eight logins at once, each hashing with the real hasher
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/auth/token/", "/account/login/"])
def test_correct_logins_sent_at_once_from_one_address_all_pass(path, settings):
    """Only failures count: attempts in flight do not, so more correct logins at once
    than the throttle allows failures all get in (they used to count each other)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
    # A slow hasher: the attempts overlap while their passwords are checked.
    settings.PASSWORD_HASHERS = [OVERLAPPING_HASHER]
    users = UserFactory.create_batch(8)
    start = threading.Barrier(len(users))

    def login(user):
        start.wait(timeout=10)
        try:
            if path == "/api/auth/token/":
                return token_login(user.username, PASSWORD, ip="10.8.8.8").status_code
            return page_login(path, user.username, PASSWORD, ip="10.8.8.8").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        answers = list(pool.map(login, users))

    assert answers == [200 if path == "/api/auth/token/" else 302] * len(users)
    assert LoginEvent.objects.count() == len(users)
    assert not LoginFailure.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_password_check_longer_than_the_idle_in_transaction_bound_still_answers(settings):
    """The gate is a lease, not a row lock held over the hash: PostgreSQL ends a
    transaction left idle past its bound (10 s in production), and a starved machine's
    hash took that long, so the login answered 500. Here the bound is shorter than any
    PBKDF2 check at Django's cost."""
    from django.db import connection

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory()
    with connection.cursor() as cursor:
        cursor.execute("SET idle_in_transaction_session_timeout = 200")
    try:
        assert token_login(user.username, PASSWORD).status_code == 200
        assert token_login(user.username, "wrong").status_code == 400
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET idle_in_transaction_session_timeout")
    assert LoginFailure.objects.filter(username=user.username).count() == 1
