"""The account pages: session login (throttled as every login path is), logout, sign-up
(the API's registration service, throttled as it is), password change and password reset
by email (Django's own views; the email is email_app's job)."""

import functools

from django.contrib.auth import login as session_login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .exceptions import SignUpThrottled
from .forms import LoginForm, PasswordResetForm, SignUpForm, throttled_error

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
    email follow), signed in and sent to the front door; else the form again with its
    errors, answering as the API does: 400, or 429 with Retry-After when the sign-up
    throttle refused it."""
    back_to = _next_page(request)
    if request.user.is_authenticated:
        return redirect(back_to)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    context = {"form": form, "next": "" if back_to == FRONT_DOOR else back_to}
    retry_after = None
    if form.is_valid():
        fields = form.cleaned_data
        try:
            user = services.user_register(
                username=fields["username"],
                email=fields["email"],
                password=fields["password"],
                ip=selectors.request_ip(request=request),
            )
        except ValidationError as refused:  # naming its field
            form.add_error(None, refused)
        except SignUpThrottled as refused:
            form.add_error(None, throttled_error(refused))
            retry_after = refused.retry_after
        else:
            session_login(request, user)
            return redirect(back_to)
    if retry_after is not None:
        response = render(request, "accounts/signup.html", context, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    # A refused sign-up answers 400, as the API does; the form says why.
    status = 400 if form.is_bound else 200
    return render(request, "accounts/signup.html", context, status=status)


def _next_page(request) -> str:
    """Where the visitor was (?next=, kept through the form) when it is this site's;
    else the front door."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and safe else FRONT_DOOR


class ApiTokenRevoked:
    """A password set by Django's view signs out the account's other sessions; its API
    token goes too, so that whoever signed in elsewhere ("Not you?") is out of the API as
    well."""

    def form_valid(self, form):
        response = super().form_valid(form)
        services.api_token_revoke(user=form.user)
        return response


class PasswordChangeView(ApiTokenRevoked, auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password-change-done")


password_change = PasswordChangeView.as_view()
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="accounts/password_change_done.html"
)


# --- Password reset by email (Django's views and tokens) ------------------------------
# The page asks for an email address and always shows the same "sent" page, whether an
# account has it or not; the email with the link is email_app's job (accounts.forms.
# PasswordResetForm). The link opens the confirm page, where the new password is set.

password_reset = auth_views.PasswordResetView.as_view(
    template_name="accounts/password_reset.html",
    form_class=PasswordResetForm,
    success_url=reverse_lazy("password-reset-sent"),
)
password_reset_sent = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_sent.html"
)


class PasswordResetConfirmView(ApiTokenRevoked, auth_views.PasswordResetConfirmView):
    """Django's: a valid link (its token is spent once the password changes) leads to the
    new password's form."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")


password_reset_confirm = PasswordResetConfirmView.as_view()
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)
