import pytest
from django.contrib.auth import get_user_model

from store.models import Customer
from worker.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]

User = get_user_model()


def register(client, **overrides):
    body = {"username": "ada", "email": "ada@example.com", "password": "s3cure-enough-pw"}
    body.update(overrides)
    return client.post("/api/auth/register/", body, format="json")


def test_register_creates_user_customer_and_queues_welcome_email(anon_client):
    response = register(anon_client)

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ada" and body["email"] == "ada@example.com"
    assert "password" not in body
    user = User.objects.get(username="ada")
    assert Customer.objects.filter(user=user).exists()
    assert Job.objects.filter(kind="welcome_email", key=str(user.pk)).exists()


def test_token_from_credentials_then_authenticated_call(anon_client):
    register(anon_client)
    response = anon_client.post(
        "/api/auth/token/", {"username": "ada", "password": "s3cure-enough-pw"}, format="json"
    )
    assert response.status_code == 200
    anon_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert anon_client.get("/api/orders/").status_code == 200


def test_wrong_password_gets_no_token(anon_client):
    register(anon_client)
    response = anon_client.post(
        "/api/auth/token/", {"username": "ada", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", ""), ("username", "has space"), ("email", "not-an-email"), ("password", "123")],
)
def test_invalid_registration_is_400_and_creates_nothing(anon_client, field, value):
    response = register(anon_client, **{field: value})
    assert response.status_code == 400
    assert field in response.json() and "detail" in response.json()
    assert not User.objects.exists()
    assert not Job.objects.exists()


def test_taken_username_is_400(anon_client):
    register(anon_client)
    response = register(anon_client, email="other@example.com")
    assert response.status_code == 400
    assert response.json()["username"] == ["This username is taken."]
    assert User.objects.count() == 1


def test_session_login_works_too(anon_client, user):
    from tests.factories import PASSWORD

    assert anon_client.login(username=user.username, password=PASSWORD)
    assert anon_client.get("/api/orders/").status_code == 200


def test_unknown_api_path_is_json_404(anon_client):
    response = anon_client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
