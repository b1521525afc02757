"""Password reset by email: Django's views and tokens on pages in the site's frame; the
email is a job of email_app's (sent by a worker through the shop's one send path, once per
request, never in the request), its link opens the page where the new password is set.
An address no account has gets the same page and nothing is sent; a used link is refused
in words; an account gets a few reset emails an hour at most."""

import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts.models import PasswordResetRequest
from email_app.models import SentEmail
from email_app.tasks import send_password_reset_email
from tests.factories import PASSWORD, UserFactory
from tests.support.clients import client_for, page_login
from tests.support.jobs import jobs_run
from tests.support.smtp import body_text
from worker.models import Job

pytestmark = pytest.mark.django_db

RESET, SENT = "/account/password/reset/", "/account/password/reset/sent/"
KIND = "password_reset_email"
NEW_PASSWORD = "a-brand-new-password-7"
LINK = re.compile(r"https?://[^/\s]+(/account/password/reset/[^/\s]+/[^/\s]+/)")


def ask_for_a_reset(browser: Client, email: str, *, ip: str = "10.3.3.3"):
    return browser.post(RESET, {"email": email}, REMOTE_ADDR=ip)


def the_link_in(message) -> str:
    """The path of the reset link in the email's text (and the same in its HTML)."""
    [path] = LINK.findall(body_text(message))
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert path in html.get_payload(decode=True).decode()
    return path


def test_the_login_page_links_to_the_password_reset():
    response = Client().get("/account/login/")

    assert b'<a href="/account/password/reset/">Forgot your password?</a>' in response.content


def test_the_reset_page_asks_for_an_email_address_in_the_site_frame():
    response = Client().get(RESET)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Reset your password</h1>" in html
    assert '<nav aria-label="Site">' in html
    assert 'name="email"' in html and 'autocomplete="email"' in html


def test_a_reset_link_by_email_sets_a_new_password(smtp_server):
    """Asked with the address in another case: the job (not the request) emails a link; it
    opens the form, the new password is set, the old one no longer logs in, the new one
    does; other browsers and the API token are out, as after a password change."""
    user = UserFactory(username="ada", email="Ada@Example.com")
    other_browser = Client()
    other_browser.force_login(user)
    api = client_for(user)
    browser = Client()

    asked = ask_for_a_reset(browser, "ada@example.COM")

    assert asked.status_code == 302 and asked["Location"] == SENT
    sent = browser.get(SENT)
    assert sent.status_code == 200 and b"<h1>Check your email</h1>" in sent.content
    assert not smtp_server.messages  # nothing sent in the request: a job will
    request = PasswordResetRequest.objects.get()
    assert (request.user, request.ip) == (user, "10.3.3.3")
    key = f"{user.pk}:{request.pk}"
    assert Job.objects.get(kind=KIND).key == key

    assert jobs_run(KIND) == [key]

    [message] = smtp_server.messages
    assert message["To"] == "Ada@Example.com"
    assert message["Subject"] == "Reset your Shopflow password"
    assert "It works once, within 72 hours." in body_text(message)
    link = the_link_in(message)
    opened = browser.get(link)
    assert opened.status_code == 302  # Django moves the token out of the URL, into the session
    form_page = browser.get(opened["Location"])
    assert form_page.status_code == 200
    assert b"<h1>Choose a new password</h1>" in form_page.content
    assert b'name="new_password1"' in form_page.content

    set_it = browser.post(
        opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert set_it.status_code == 302 and set_it["Location"] == "/account/password/reset/complete/"
    done = browser.get(set_it["Location"])
    assert done.status_code == 200 and b"<h1>Your new password is set</h1>" in done.content
    assert other_browser.get("/").status_code == 302  # signed out
    assert not Token.objects.filter(user=user).exists()
    assert api.get("/api/orders/").status_code == 401
    old = page_login("/account/login/", "ada", PASSWORD, ip="10.3.3.4")
    assert old.status_code == 200 and "_auth_user_id" not in old.client.session
    new = page_login("/account/login/", "ada", NEW_PASSWORD, ip="10.3.3.4")
    assert new.status_code == 302 and new.client.session["_auth_user_id"] == str(user.pk)


def test_a_used_link_is_refused_in_words(smtp_server):
    user = UserFactory(email="bea@example.com")
    ask_for_a_reset(Client(), user.email)
    jobs_run(KIND)
    link = the_link_in(smtp_server.messages[0])
    browser = Client()
    form_url = browser.get(link)["Location"]
    browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    for again in (Client(), browser):  # another browser, or the same one
        refused = again.get(link, follow=True)

        assert refused.status_code == 200
        html = refused.content.decode()
        assert "<h1>This link no longer works</h1>" in html
        assert "was used already, has expired" in html
        assert 'href="/account/password/reset/"' in html  # ask for a new one
        assert 'name="new_password1"' not in html
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_made_up_link_is_refused_in_words():
    user = UserFactory()
    browser = Client()

    refused = browser.get(f"/account/password/reset/{user.pk}/not-a-token/", follow=True)

    assert refused.status_code == 200
    assert b"<h1>This link no longer works</h1>" in refused.content


def test_an_address_no_account_has_sends_nothing_and_shows_the_same_page(smtp_server):
    UserFactory(email="known@example.com")
    known, unknown = Client(), Client()

    asked_known = ask_for_a_reset(known, "known@example.com")
    asked_unknown = ask_for_a_reset(unknown, "nobody@example.com")

    assert asked_unknown.status_code == asked_known.status_code == 302
    assert asked_unknown["Location"] == asked_known["Location"] == SENT
    assert unknown.get(SENT).content == known.get(SENT).content
    assert Job.objects.filter(kind=KIND).count() == 1  # the known one's
    jobs_run(KIND)
    assert [m["To"] for m in smtp_server.messages] == ["known@example.com"]


def test_a_malformed_address_is_said_on_the_page():
    response = ask_for_a_reset(Client(), "not-an-address")

    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert not PasswordResetRequest.objects.exists()


def test_each_request_is_emailed_once_whatever_the_runs(smtp_server):
    """The job's key is the request's: a second run of its job, or a job run again after
    its email was sent (a worker that died before recording it), sends nothing more."""
    user = UserFactory()
    ask_for_a_reset(Client(), user.email)
    key = f"{user.pk}:{PasswordResetRequest.objects.get().pk}"

    assert jobs_run(KIND) == [key]
    assert jobs_run(KIND) == []
    assert send_password_reset_email(key) is False  # sent already (SentEmail)

    assert len(smtp_server.messages) == 1
    assert SentEmail.objects.get(kind="password_reset").key == key


def test_an_account_gets_a_few_reset_emails_an_hour_at_most(settings, wall_clock, smtp_server):
    """More requests show the same page and send nothing: a stranger cannot fill someone's
    mailbox; an hour later the account gets one again."""
    settings.SHOPFLOW_PASSWORD_RESET_EMAILS_ALLOWED = 2
    user = UserFactory()
    answers = [ask_for_a_reset(Client(), user.email) for _ in range(3)]

    assert [(a.status_code, a["Location"]) for a in answers] == [(302, SENT)] * 3
    assert PasswordResetRequest.objects.count() == 2
    assert len(jobs_run(KIND, runs=3)) == 2
    assert len(smtp_server.messages) == 2

    wall_clock.advance(3601)
    ask_for_a_reset(Client(), user.email)
    assert PasswordResetRequest.objects.count() == 3


def test_a_client_asks_for_a_few_resets_an_hour_at_most_whatever_the_accounts(
    settings, wall_clock, smtp_server
):
    """Its network's budget, for any accounts: one client cannot mail every customer. An
    IPv6 client is counted by its /64 (it may pick a new address for each request); another
    client still gets its link; an hour later the first one does again."""
    settings.SHOPFLOW_PASSWORD_RESET_ADDRESS_ALLOWED = 2
    users = UserFactory.create_batch(4)
    answers = [
        ask_for_a_reset(Client(), user.email, ip=f"2001:db8:1:2::{n + 1}")
        for n, user in enumerate(users[:3])
    ]

    assert [(a.status_code, a["Location"]) for a in answers] == [(302, SENT)] * 3
    assert [r.user for r in PasswordResetRequest.objects.order_by("id")] == users[:2]
    ask_for_a_reset(Client(), users[3].email, ip="2001:db8:9::1")  # another network
    assert len(jobs_run(KIND, runs=4)) == 3
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(
        u.email for u in [*users[:2], users[3]]
    )

    wall_clock.advance(3601)
    ask_for_a_reset(Client(), users[2].email, ip="2001:db8:1:2::ff")
    assert PasswordResetRequest.objects.filter(user=users[2]).exists()


def test_an_account_deactivated_before_its_email_goes_gets_none(smtp_server):
    user = UserFactory()
    ask_for_a_reset(Client(), user.email)
    user.is_active = False
    user.save()

    jobs_run(KIND)

    assert not smtp_server.messages
    assert Job.objects.get(kind=KIND).status == "done"
