"""The login audit: every login (session, admin, API token) and every failure is
recorded, never with the password, and never a failure for a password that was not checked;
a user lists their own recent logins; the prune keeps the retention; the admin shows the
audit but cannot delete it. A username that cannot be recorded is a 400, not a 500."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import LoginEvent, LoginFailure, LoginGate
from tests.factories import PASSWORD, UserFactory
from tests.support.clients import UA, client_for, page_login, token_login

pytestmark = pytest.mark.django_db


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


def test_a_user_reads_their_own_recent_logins_only(user):
    other = UserFactory()
    token_login(user.username, PASSWORD)
    token_login(other.username, PASSWORD)
    listed = client_for(user).get("/api/auth/logins/").json()["results"]
    assert [(login["method"], login["ip"]) for login in listed] == [("token", "10.0.0.1")]
    assert set(listed[0]) == {"at", "ip", "user_agent", "method"}


def test_the_logins_list_needs_credentials(anon_client):
    assert anon_client.get("/api/auth/logins/").status_code == 401


def test_a_username_with_a_nul_byte_is_a_400_not_a_500(user):
    response = token_login("a\x00b", "whatever")
    assert response.status_code == 400
    assert response.json()["username"]


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
    token_login("someone-long-gone", "wrong")
    old_event, old_failure = LoginEvent.objects.get(), LoginFailure.objects.get()
    LoginEvent.objects.update(at=timezone.now() - timedelta(days=91))
    LoginFailure.objects.update(at=timezone.now() - timedelta(days=91))
    LoginGate.objects.update(used_at=timezone.now() - timedelta(days=91))
    token_login(user.username, "wrong", ip="10.0.0.2")  # today's: kept, its username's gate too
    token_login(user.username, PASSWORD, ip="10.0.0.2")

    pruned = {  # the old name's gate
        "login_events": 1,
        "login_failures": 1,
        "login_gates": 1,
        "signup_attempts": 0,
        "password_resets": 0,
    }
    assert prune_login_audit.apply().get() == pruned
    assert not LoginEvent.objects.filter(pk=old_event.pk).exists()
    assert not LoginFailure.objects.filter(pk=old_failure.pk).exists()
    assert LoginEvent.objects.count() == LoginFailure.objects.count() == 1
    assert list(LoginGate.objects.values_list("pk", flat=True)) == [f"username:{user.username}"]
    nothing = dict.fromkeys(pruned, 0)
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
