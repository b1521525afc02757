"""Token authentication that loads the shop customer with the user, in the one query
DRF's TokenAuthentication makes anyway: every shop endpoint needs the customer."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


class CustomerTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user__customer").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
