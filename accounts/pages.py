"""The account pages: session login (throttled as every login path is), logout, sign-up
(the API's registration service) and password change (Django's own views)."""

import functools

from django.contrib.auth import login as session_login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from . import services
from .forms import LoginForm, SignUpForm

FRONT_DOOR = "front-door"  # config.pages: where a new account lands


def login_throttled(view):
    """A login page whose form refused a throttled attempt (accounts.forms) answers 429
    with Retry-After; the form is shown again, with its message."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        wait = getattr(request, "login_retry_after", None)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

    return wrapped


login = login_throttled(
    auth_views.LoginView.as_view(template_name="accounts/login.html", authentication_form=LoginForm)
)
logout = auth_views.LogoutView.as_view()


@require_http_methods(["GET", "POST"])
def signup(request):
    """A new account, made as POST /api/auth/register/ makes one (a customer and a welcome
    email follow), signed in and sent to the front door; the form again with its errors."""
    if request.user.is_authenticated:
        return redirect(FRONT_DOOR)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        fields = form.cleaned_data
        try:
            user = services.user_register(
                username=fields["username"], email=fields["email"], password=fields["password"]
            )
        except ValidationError as refused:  # naming its field
            form.add_error(None, refused)
        else:
            session_login(request, user)
            return redirect(FRONT_DOOR)
    return render(request, "accounts/signup.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, which signs out the account's other sessions; its API token goes too, so
    that whoever signed in elsewhere ("Not you?") is out of the API as well."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.api_token_revoke(user=form.user)
        return response


password_change = PasswordChangeView.as_view()
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="accounts/password_change_done.html"
)
