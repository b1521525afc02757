"""Clients that act as a user: the API with a token, a browser's login, a session cookie,
a login tried through the API or a login page."""


# The runner's own helpers: tests start Redis the way `make run` does.

# The password of the people the browser tests log in (tests/e2e/conftest.py `person`).
PASSWORD = "a-browser-password-1"


def browser_log_in(page, url: str, *, username: str, password: str) -> None:
    """Open `url` in a Playwright page, be sent to the login page (it needs a session),
    log in there and land back on `url`."""
    page.goto(url)
    assert "/account/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)


def client_for(user):
    """An API client that authenticates as `user` with their token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def session_cookie(process, user, settings) -> str:
    """Log `user` in through `process`'s login page as a browser does (the CSRF cookie,
    then the form); the session id."""
    import http.client
    import re

    # A hash the web process can check (the tests' own hasher is a fast one).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user.set_password("pw-for-the-session-1")
    user.save()
    conn = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)
    conn.request("GET", "/account/login/")
    page = conn.getresponse()
    csrf_cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
    csrf_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.read()).group(1)
    conn.request(
        "POST",
        "/account/login/",
        body=f"username={user.username}&password=pw-for-the-session-1&"
        f"csrfmiddlewaretoken={csrf_field.decode()}",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
        },
    )
    login = conn.getresponse()
    login.read()
    assert login.status == 302, login.status
    return re.search(r"sessionid=([^;]+)", login.getheader("Set-Cookie")).group(1)


UA = "pytest-browser/1.0"


def token_login(username, password, ip="10.0.0.1"):
    """`POST /api/auth/token/` from `ip`, with the user agent UA."""
    from rest_framework.test import APIClient

    return APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=UA,
    )


def page_login(path, username, password, ip="10.0.0.1"):
    """A login form (`path`: /account/login/ or /admin/login/) posted from `ip`."""
    from django.test import Client

    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)
