"""Token authentication that loads the shop customer with the user, in the one query
DRF's TokenAuthentication makes anyway: every shop endpoint needs the customer."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from . import selectors


class CustomerTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        token = selectors.auth_token_get(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
