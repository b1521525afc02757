"""The login audit: every login (session, admin, API token) and every failure is
recorded, never with the password; every login path throttles repeated failures."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import LoginEvent, LoginFailure, LoginGate
from tests.factories import PASSWORD, UserFactory
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db

UA = "pytest-browser/1.0"


def token_login(username, password, ip="10.0.0.1"):
    return APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=UA,
    )


def test_a_token_login_is_recorded_with_ip_user_agent_and_method(user):
    response = token_login(user.username, PASSWORD)
    assert response.status_code == 200
    event = LoginEvent.objects.get()
    assert (event.user, event.ip, event.user_agent, event.method) == (
        user,
        "10.0.0.1",
        UA,
        "token",
    )


def test_session_and_admin_logins_are_recorded_by_method(user):
    staff = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    Client().post("/account/login/", {"username": user.username, "password": PASSWORD})
    Client().post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert sorted(LoginEvent.objects.values_list("user__username", "method")) == sorted(
        [(user.username, "session"), ("ops", "admin")]
    )


def test_a_failure_records_the_username_tried_and_never_the_password(user):
    response = token_login(user.username, "wrong-password-123")
    assert response.status_code == 400
    failure = LoginFailure.objects.get()
    assert (failure.username, failure.ip) == (user.username, "10.0.0.1")
    stored = " ".join(str(v) for v in LoginFailure.objects.values_list().get())
    assert "wrong-password-123" not in stored
    assert not LoginEvent.objects.exists()


def test_an_unknown_username_gets_the_same_400_as_a_wrong_password(user):
    wrong_password = token_login(user.username, "nope-nope-nope")
    unknown_user = token_login("nobody-here", "nope-nope-nope")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json()
    assert sorted(LoginFailure.objects.values_list("username", flat=True)) == sorted(
        [user.username, "nobody-here"]
    )


def test_a_failed_login_inside_a_rolled_back_transaction_leaves_no_row(user):
    from django.contrib.auth import authenticate

    with pytest.raises(RuntimeError), transaction.atomic():
        assert authenticate(username=user.username, password="bad") is None
        raise RuntimeError("rolled back")
    assert not LoginFailure.objects.exists()


def test_repeated_failures_from_one_ip_are_throttled_with_retry_after(user, settings):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
    settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = 60
    for n in range(3):
        assert token_login(f"guess{n}", "x", ip="10.9.9.9").status_code == 400
    refused = token_login(user.username, PASSWORD, ip="10.9.9.9")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "detail" in refused.json()
    # Another address is not affected.
    assert token_login(user.username, PASSWORD, ip="10.1.1.1").status_code == 200


def test_repeated_failures_for_one_username_are_throttled_from_any_ip(user, settings):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
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


def test_a_user_reads_their_own_recent_logins_only(user):
    other = UserFactory()
    token_login(user.username, PASSWORD)
    token_login(other.username, PASSWORD)
    listed = client_for(user).get("/api/auth/logins/").json()["results"]
    assert [(login["method"], login["ip"]) for login in listed] == [("token", "10.0.0.1")]
    assert set(listed[0]) == {"at", "ip", "user_agent", "method"}


def test_the_logins_list_needs_credentials(anon_client):
    assert anon_client.get("/api/auth/logins/").status_code == 401


def test_padding_the_username_does_not_escape_its_throttle(user, settings):
    """A review found " alice" counted apart from "alice", though both try alice's password."""
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
    token_login(user.username, "wrong", ip="10.0.0.5")
    token_login(f" {user.username}", "wrong", ip="10.0.0.6")
    assert token_login(f"  {user.username} ", PASSWORD, ip="10.0.0.7").status_code == 429


def test_a_username_with_a_nul_byte_is_a_400_not_a_500(user):
    response = token_login("a\x00b", "whatever")
    assert response.status_code == 400
    assert response.json()["username"]


def page_login(path, username, password, ip="10.0.0.1"):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", ["/account/login/", "/admin/login/"])
def test_a_login_page_refuses_with_429_after_repeated_failures_from_one_ip(path, settings, caplog):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
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
    assert "Too many failed logins. Try again in 10 minute(s)." in refused.content.decode()
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
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
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


def test_a_login_page_post_without_fields_is_a_form_error_not_a_500():
    response = Client().post("/account/login/", {"username": "x\x00y"}, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 200
    assert "Enter a username and a password." in response.content.decode()


def test_the_prune_deletes_login_audit_rows_older_than_the_retention_only(user, settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import prune_login_audit

    settings.SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS = 90
    token_login(user.username, PASSWORD)
    token_login(user.username, "wrong")
    old_event, old_failure = LoginEvent.objects.get(), LoginFailure.objects.get()
    LoginEvent.objects.update(at=timezone.now() - timedelta(days=91))
    LoginFailure.objects.update(at=timezone.now() - timedelta(days=91))
    LoginGate.objects.update(used_at=timezone.now() - timedelta(days=91))
    token_login(user.username, "wrong", ip="10.0.0.2")  # today's: kept, its username's gate too
    token_login(user.username, PASSWORD, ip="10.0.0.2")

    pruned = {"login_events": 1, "login_failures": 1, "login_gates": 1}  # 10.0.0.1's gate
    assert prune_login_audit.apply().get() == pruned
    assert not LoginEvent.objects.filter(pk=old_event.pk).exists()
    assert not LoginFailure.objects.filter(pk=old_failure.pk).exists()
    assert LoginEvent.objects.count() == LoginFailure.objects.count() == 1
    assert sorted(LoginGate.objects.values_list("pk", flat=True)) == [
        "ip:10.0.0.2",
        f"username:{user.username}",
    ]
    nothing = {"login_events": 0, "login_failures": 0, "login_gates": 0}
    assert prune_login_audit.apply().get() == nothing


def test_staff_cannot_delete_the_login_audit_in_the_admin(user):
    admin_user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    token_login(user.username, "wrong")
    failure = LoginFailure.objects.get()
    browser = Client()
    browser.force_login(admin_user)
    page = f"/admin/accounts/loginfailure/{failure.pk}/delete/"
    assert browser.post(page, {"post": "yes"}).status_code == 403
    changelist = browser.get("/admin/accounts/loginfailure/").content.decode()
    assert "delete_selected" not in changelist
    detail = browser.get(f"/admin/accounts/loginfailure/{failure.pk}/change/").content.decode()
    assert "/delete/" not in detail
    assert LoginFailure.objects.filter(pk=failure.pk).exists()


def test_a_user_with_login_events_can_still_be_deleted_in_the_admin(user):
    """Their audit rows go with them: the admin must not refuse for the cascade."""
    admin_user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    token_login(user.username, PASSWORD)
    assert LoginEvent.objects.filter(user=user).exists()
    browser = Client()
    browser.force_login(admin_user)
    answer = browser.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not LoginEvent.objects.filter(user_id=user.pk).exists()


def test_a_get_of_a_throttled_login_page_still_shows_the_form(user, settings):
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 1
    page_login("/account/login/", user.username, "wrong", ip="10.0.0.3")
    assert Client().get("/account/login/", REMOTE_ADDR="10.0.0.3").status_code == 200
    assert page_login("/account/login/", user.username, PASSWORD, ip="10.0.0.3").status_code == 429


@pytest.mark.parametrize("path", ["/api/auth/token/", "/account/login/", "/admin/login/"])
def test_a_successful_login_leaves_no_failure_behind(path, settings):
    """Only failures are recorded: a success counts against nothing."""
    staff = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    if path == "/api/auth/token/":
        assert token_login(staff.username, PASSWORD).status_code == 200
    else:
        assert page_login(path, staff.username, PASSWORD).status_code == 302
    assert not LoginFailure.objects.exists()
    assert LoginEvent.objects.count() == 1


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
    # Production's slow hasher: the guesses overlap while their passwords are checked.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
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
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
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


def test_a_username_sent_as_a_number_is_throttled_like_any_other(settings):
    """DRF turns 12345 into "12345" before authenticate() gets it: so must the count."""
    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 2
    UserFactory(username="12345")
    body = {"username": 12345, "password": "wrong"}
    for _ in range(2):
        assert APIClient().post("/api/auth/token/", body, format="json").status_code == 400
    assert APIClient().post("/api/auth/token/", body, format="json").status_code == 429
    assert LoginFailure.objects.filter(username="12345").count() == 2


def test_a_password_the_serializer_refuses_records_no_failure(user):
    """No password was checked: nothing counts against the IP or the username."""
    for password in (["a", "b"], {"x": 1}, "a\x00b"):
        body = {"username": user.username, "password": password}
        assert APIClient().post("/api/auth/token/", body, format="json").status_code == 400
    assert not LoginFailure.objects.exists()


def test_a_lone_surrogate_in_the_username_is_a_400_not_a_500():
    raw = b'{"username": "\\ud800x", "password": "p"}'
    response = APIClient().post("/api/auth/token/", raw, content_type="application/json")
    assert response.status_code == 400


def test_a_correct_password_of_a_non_staff_user_on_the_admin_page_counts_as_a_failure(user):
    """A failed admin login, though the password was right: it is counted, and the
    audit shows it."""
    response = page_login("/admin/login/", user.username, PASSWORD)
    assert response.status_code == 200  # the form again: not a staff account
    assert list(LoginFailure.objects.values_list("username", flat=True)) == [user.username]
    assert not LoginEvent.objects.exists()


def test_a_login_form_without_a_request_records_a_failure_once(user):
    from accounts.forms import LoginForm

    form = LoginForm(request=None, data={"username": user.username, "password": "wrong"})
    assert not form.is_valid()
    assert LoginFailure.objects.count() == 1
