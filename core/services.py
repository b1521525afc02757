from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction


def user_register(*, username: str, email: str, password: str):
    """Create a shop user. The Customer row and the welcome email follow from post_save
    receivers in store and email_app, inside this same transaction."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
    return user
