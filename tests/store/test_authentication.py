"""Token authentication of the shop's API (store.authentication): the customer comes
with the user."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed

from store.authentication import CustomerTokenAuthentication
from store.models import Customer
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_a_token_request_loads_token_user_and_customer_in_one_query(
    user, django_assert_num_queries
):
    client_for(user)  # creates the token
    key = user.auth_token.key
    with django_assert_num_queries(1):
        found, token = CustomerTokenAuthentication().authenticate_credentials(key)
        assert token.key == key and found == user
        assert found.customer == user.customer
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        CustomerTokenAuthentication().authenticate_credentials("no-such-key")


def test_a_token_of_an_inactive_user_is_refused(user):
    client = client_for(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = client.get("/api/orders/")

    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


def test_a_user_without_a_customer_gets_one_on_first_use(user):
    client = client_for(user)
    Customer.objects.filter(user=user).delete()

    assert client.post("/api/carts/", format="json").status_code == 201
    assert Customer.objects.filter(user=user).exists()
