"""The sign-up throttle, so that sign-up cannot send welcome emails to strangers in bulk:
an address (an IPv6 /64) gets so many sign-ups a window (made or refused), an email
address one account made a day (its welcome), counted in the database; past either, the
API answers 429 with Retry-After and a `detail` saying which, the page the same in
words; a refused sign-up is not counted, so waiting is enough; the daily prune deletes
the old rows. The clock is the test's (the `wall_clock` fixture)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import PasswordResetRequest, SignUpAttempt
from accounts.tasks import prune_login_audit
from tests.factories import UserFactory
from worker.models import Job

pytestmark = pytest.mark.django_db

User = get_user_model()
HOUR, DAY = 3600, 86400


@pytest.fixture(autouse=True)
def budgets(settings):
    """The budgets the tests count on: the defaults, but the address's (30) smaller."""
    settings.SHOPFLOW_SIGNUP_ADDRESS_ALLOWED = 10
    settings.SHOPFLOW_SIGNUP_ADDRESS_WINDOW_SECONDS = HOUR
    settings.SHOPFLOW_SIGNUP_EMAIL_ALLOWED = 1
    settings.SHOPFLOW_SIGNUP_EMAIL_WINDOW_SECONDS = DAY
    return settings


def register(username: str, email: str | None = None, ip: str = "10.5.5.5"):
    body = {
        "username": username,
        "email": email or f"{username}@example.com",
        "password": "s3cure-enough-pw",
    }
    return APIClient().post("/api/auth/register/", body, format="json", REMOTE_ADDR=ip)


def sign_up_page(username: str, email: str | None = None, ip: str = "10.5.5.5"):
    fields = {
        "username": username,
        "email": email or f"{username}@example.com",
        "password": "s3cure-enough-pw",
        "password_again": "s3cure-enough-pw",
    }
    return Client().post("/account/signup/", fields, REMOTE_ADDR=ip)


def test_an_address_past_its_sign_ups_an_hour_gets_429_until_the_hour_has_passed(wall_clock):
    for n in range(10):
        assert register(f"person{n}").status_code == 201
    wall_clock.advance(600)

    refused = register("person10")

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(HOUR - 600)  # when the oldest leaves the window
    assert refused.json()["detail"].startswith("Too many sign-ups from your address.")
    assert not User.objects.filter(username="person10").exists()
    assert Job.objects.filter(kind="welcome_email").count() == 10  # no welcome for it
    # Another address is not affected.
    assert register("person11", ip="10.1.1.1").status_code == 201
    # Refusals are not counted: once the wait it was told is over, it signs up.
    assert register("person12").status_code == 429
    wall_clock.advance(HOUR - 600)
    assert register("person10").status_code == 201


def test_refused_sign_ups_spend_the_addresss_budget_too(settings):
    """An address probing which email addresses have accounts (each a 400) is counted as
    one making them."""
    settings.SHOPFLOW_SIGNUP_ADDRESS_ALLOWED = 3
    for n in range(3):
        UserFactory(email=f"known{n}@example.com")
        assert register(f"probe{n}", f"KNOWN{n}@example.com").status_code == 400

    assert register("probe", "known2@example.org").status_code == 429
    assert SignUpAttempt.objects.filter(made=False).count() == 3  # the 429 is not one


def test_a_malformed_sign_up_spends_nothing(settings):
    settings.SHOPFLOW_SIGNUP_ADDRESS_ALLOWED = 1
    assert register("ada", "not-an-address").status_code == 400
    body = {"username": "ada", "email": "ada@example.com", "password": "123"}
    short = APIClient().post("/api/auth/register/", body, format="json", REMOTE_ADDR="10.5.5.5")
    assert short.status_code == 400

    assert register("ada").status_code == 201


def test_the_sign_up_page_past_the_budget_answers_429_in_words(settings, wall_clock):
    settings.SHOPFLOW_SIGNUP_ADDRESS_ALLOWED = 1
    assert sign_up_page("ada").status_code == 302

    refused = sign_up_page("bob")

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(HOUR)
    html = refused.content.decode()
    assert "The account was not made" in html
    assert "Too many sign-ups from your address. Try again in 60 minutes." in html
    assert 'value="bob@example.com"' in html  # kept for later
    assert not User.objects.filter(username="bob").exists()
    assert "_auth_user_id" not in refused.client.session


def test_one_welcome_an_email_address_a_day_even_if_its_account_is_deleted(wall_clock):
    """While its account exists, another sign-up with the address is a 400 (one account per
    address); deleted and made again the same day, it would mail the address twice."""
    assert register("ada", "ada@example.com", ip="10.0.0.1").status_code == 201
    User.objects.filter(username="ada").delete()
    wall_clock.advance(HOUR)

    refused = register("ada2", "ADA@example.com", ip="10.0.0.2")

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(DAY - HOUR)
    assert refused.json()["detail"].startswith(
        "An account was made for this email address a short while ago."
    )
    page = sign_up_page("ada3", "Ada@Example.com", ip="10.0.0.3")
    assert page.status_code == 429 and page["Retry-After"] == str(DAY - HOUR)
    assert "Try again in 23 hours." in page.content.decode()
    assert not User.objects.exists()

    wall_clock.advance(DAY - HOUR)
    assert register("ada2", "ADA@example.com", ip="10.0.0.2").status_code == 201


def test_an_ipv6_client_is_counted_by_its_64_whatever_address_it_picks(wall_clock):
    for n in range(10):
        assert register(f"person{n}", ip=f"2001:db8:5:5::{n + 1:x}").status_code == 201

    assert register("person10", ip="2001:db8:5:5:ffff::1").status_code == 429  # same /64
    assert register("person11", ip="2001:db8:5:6::1").status_code == 201  # the next /64
    assert register("person12", ip="10.5.5.5").status_code == 201
    assert register("person13", ip="::ffff:10.5.5.5").status_code == 201  # 10.5.5.5's 2nd
    assert register("person14", ip="fe80::1%eth0").status_code == 201  # a zone: dropped
    assert SignUpAttempt.objects.filter(ip="10.5.5.5").count() == 2
    assert SignUpAttempt.objects.filter(ip="fe80::").count() == 1


def test_a_remote_addr_that_is_no_ip_address_signs_up_without_an_address_budget():
    """A server on a unix socket may put a path there: the sign-up is made, not a 500."""
    assert register("person0", ip="unix:/run/web.sock").status_code == 201
    assert SignUpAttempt.objects.get().ip is None


def test_the_throttle_counts_in_the_database_not_in_a_process():
    """Each sign-up's record, as another web process would count it."""
    register("ada", ip="10.0.0.7")
    UserFactory(email="taken@example.com")
    register("bob", "Taken@Example.com", ip="10.0.0.7")

    rows = SignUpAttempt.objects.order_by("id").values_list("ip", "email", "made")
    assert list(rows) == [
        ("10.0.0.7", "ada@example.com", True),
        ("10.0.0.7", "taken@example.com", False),  # lowercased
    ]


def test_the_daily_prune_deletes_old_sign_up_attempts_and_reset_requests(settings, wall_clock):
    settings.SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS = 90
    register("old")
    PasswordResetRequest.objects.create(user=User.objects.get(username="old"))
    wall_clock.advance(91 * DAY)
    register("new")
    PasswordResetRequest.objects.create(user=User.objects.get(username="new"))

    pruned = prune_login_audit.apply().get()

    assert (pruned["signup_attempts"], pruned["password_resets"]) == (1, 1)
    assert list(SignUpAttempt.objects.values_list("email", flat=True)) == ["new@example.com"]
    assert PasswordResetRequest.objects.get().user.username == "new"
