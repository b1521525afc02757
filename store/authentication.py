"""Token authentication that loads the shop customer with the user in the one query DRF
makes anyway (every shop endpoint needs the customer), cached per process: a client's
next requests cost no query. docs/architecture.md, "API tokens", says when a change shows."""

import hashlib

from django.core.cache import caches
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


def token_cache():
    return caches["tokens"]


class CustomerTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        cache_key = "token:" + hashlib.sha256(key.encode()).hexdigest()
        # The cache's TIMEOUT is SHOPFLOW_TOKEN_CACHE_SECONDS: 0 caches nothing (Django's rule).
        token = token_cache().get(cache_key)
        if token is None:
            try:
                token = Token.objects.select_related("user__customer").get(key=key)
            except Token.DoesNotExist:
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            token_cache().set(cache_key, token)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
