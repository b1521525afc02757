"""One account per email address, compared case-insensitively: sign-up (the API and the
page) says so on the `email` field with a 400; a unique index on LOWER(email) holds it
when two sign-ups race (the loser gets the same 400); the admin says so too; and the
migration that builds the index stops, naming them, on accounts that already share one."""

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from tests.support.polling import wait_for_a_lock_wait
from worker.models import Job

pytestmark = pytest.mark.django_db

User = get_user_model()
TAKEN = "An account with this email address already exists."
MIGRATION = importlib.import_module("accounts.migrations.0003_user_email_unique_case_insensitive")


def register(username: str, email: str, ip: str = "10.2.2.2"):
    body = {"username": username, "email": email, "password": "s3cure-enough-pw"}
    return APIClient().post("/api/auth/register/", body, format="json", REMOTE_ADDR=ip)


@pytest.mark.sqlite_too
@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@example.com"])
def test_the_api_refuses_an_email_address_another_account_has_in_any_case(email):
    ada = UserFactory(username="ada", email="Ada@Example.com")

    response = register("ada-again", email)

    assert response.status_code == 400
    assert response.json() == {"detail": f"email: {TAKEN}", "email": [TAKEN]}
    assert list(User.objects.values_list("username", flat=True)) == ["ada"]
    welcomes = Job.objects.filter(kind="welcome_email").values_list("key", flat=True)
    assert list(welcomes) == [str(ada.pk)]  # no second welcome


@pytest.mark.sqlite_too
def test_another_email_address_is_welcome():
    UserFactory(email="ada@example.com")

    assert register("bob", "ada@example.org").status_code == 201


def test_the_sign_up_page_says_so_on_the_email_field():
    UserFactory(username="ada", email="ada@example.com")
    fields = {
        "username": "ada2",
        "email": "ADA@example.com",
        "password": "s3cure-enough-pw",
        "password_again": "s3cure-enough-pw",
    }

    response = Client().post("/account/signup/", fields)

    assert response.status_code == 400
    html = response.content.decode()
    assert "The account was not made" in html
    # Django renders a field's errors just before the field.
    errors_then_field = html.index(TAKEN) < html.index('name="email"')
    assert errors_then_field and html.index(TAKEN) > html.index('name="username"')
    assert 'href="/account/password/reset/"' in html  # the way back into that account
    assert User.objects.count() == 1


def test_the_database_refuses_a_second_account_for_an_address_in_another_case():
    """The unique index itself, whatever path writes the user; blank addresses are left out."""
    UserFactory(email="ada@example.com")
    User.objects.create_user("no-email-1", password=PASSWORD)
    User.objects.create_user("no-email-2", password=PASSWORD)  # both blank: allowed

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("ada2", email="ADA@example.COM", password=PASSWORD)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sign_up_racing_one_not_yet_committed_gets_the_400_not_a_second_account():
    """The race, made to happen: the other account's transaction is open (its address not
    yet visible), so this sign-up's check passes, then its insert waits on the index until
    that transaction commits, and fails: the same 400, one account."""
    inserted, commit = threading.Event(), threading.Event()

    def the_other_sign_up():
        try:
            with transaction.atomic():
                User.objects.create_user("first", email="ada@example.com", password=PASSWORD)
                inserted.set()
                assert commit.wait(timeout=30)
        finally:
            connection.close()

    def this_sign_up():
        try:
            return register("second", "Ada@Example.com")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        other = pool.submit(the_other_sign_up)
        assert inserted.wait(timeout=30)
        mine = pool.submit(this_sign_up)
        wait_for_a_lock_wait()  # its INSERT waits for the open transaction
        commit.set()
        other.result(timeout=30)
        response = mine.result(timeout=30)

    assert response.status_code == 400
    assert response.json()["email"] == [TAKEN]
    assert list(User.objects.values_list("username", flat=True)) == ["first"]
    assert list(Job.objects.filter(kind="welcome_email").values_list("key", flat=True)) == [
        str(User.objects.get().pk)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sign_ups_sent_at_once_with_one_address_make_exactly_one_account():
    cases = ["ada@example.com", "ADA@example.com", "Ada@Example.com", "ada@EXAMPLE.COM"] * 2
    start = threading.Barrier(len(cases))

    def sign_up(n):
        start.wait(timeout=30)
        try:
            return register(f"person{n}", cases[n], ip=f"10.6.6.{n}")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        answers = list(pool.map(sign_up, range(len(cases)), timeout=60))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [400] * (len(cases) - 1), statuses
    assert all(a.json()["email"] == [TAKEN] for a in answers if a.status_code == 400)
    assert User.objects.count() == 1


def test_the_admin_says_so_instead_of_failing_on_the_index():
    UserFactory(username="ada", email="ada@example.com")
    bob = UserFactory(username="bob", email="bob@example.com")
    staff = User.objects.create_superuser("root", password=PASSWORD)
    browser = Client()
    browser.force_login(staff)
    change = f"/admin/auth/user/{bob.pk}/change/"
    fields = {
        "username": "bob",
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    refused = browser.post(change, {**fields, "email": "ADA@example.com"})
    kept = browser.post(change, {**fields, "email": "BOB@example.com"})  # its own, recased

    assert refused.status_code == 200 and TAKEN in refused.content.decode()
    assert kept.status_code == 302
    bob.refresh_from_db()
    assert bob.email == "BOB@example.com"


def test_the_migration_stops_on_accounts_that_share_an_address_and_names_them():
    """Before it builds the index: in this test's transaction the index is dropped, two
    accounts share an address in two cases, and the migration's check refuses, naming
    them and saying what to do (the rollback brings the index back)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {MIGRATION.INDEX}")
    first = UserFactory(email="Ada@Example.com")
    second = UserFactory(email="ada@example.com")
    UserFactory(email="")
    UserFactory(email="")  # blank ones are nobody's: no conflict
    from django.apps import apps

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_shared_emails(apps, SimpleNamespace(connection=connection))

    message = str(refused.value)
    assert f"ada@example.com (user ids {first.pk}, {second.pk})" in message
    assert "Give each account its own address" in message and "Nothing was changed." in message
    second.email = "ada.two@example.com"
    second.save()
    MIGRATION.refuse_shared_emails(apps, SimpleNamespace(connection=connection))  # passes now
