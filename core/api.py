"""API-wide error shape: every error answer is JSON with a `detail`; where people browse (`/`,
/account/) a page in the site's frame instead, and in the admin Django's own."""

import functools
import logging

from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import is_valid_path
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .exceptions import DomainError

logger = logging.getLogger(__name__)

PAGES = "/account/"  # the pages people read (config.urls); not found there is a page too


# How long a client should wait before retrying after the database went away (a
# failover or a restart takes seconds; Django reconnects at the next request).
DATABASE_RETRY_AFTER_SECONDS = 5


# SQLSTATEs of a database that is away or refused for now: connection exceptions (class
# 08), an administrator's or a crash's shutdown, a serialization failure, a deadlock, and
# the bounds a request met (a lock held too long by another, a statement past its time,
# its transaction idle past its time: config/settings, DATABASE_*_TIMEOUT).
TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01", "55P03", "57014", "25P03"}


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError) and _database_away(exc):
        # 503: nothing of the request's transaction was committed, so a retry is safe (with
        # an Idempotency-Key, a checkout retry is safe even if the commit itself failed).
        logger.warning("database unavailable during a request: %s", exc)
        set_rollback()
        return Response(
            {"detail": "The database is unavailable; try again in a few seconds."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DomainError):  # its words and status, whatever the view
        set_rollback()
        return Response(exc.answer(), status=exc.status)
    if isinstance(exc, ValidationError):  # a model's or a service's: DRF's 400
        exc = exceptions.ValidationError(get_error_detail(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" not in response.data:
        # A field-level ValidationError: keep DRF's field errors, add a one-line summary.
        response.data = {"detail": _first_message(response.data), **response.data}
    elif isinstance(response.data, list):
        response.data = {"detail": _first_message(response.data), "errors": response.data}
    return response


def _database_away(exc) -> bool:
    """Whether a database error is one a retry in a moment may not meet (the connection
    failed, a failover, a deadlock), rather than a bug such as a missing table, which
    stays a 500 with its traceback."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in TRANSIENT_SQLSTATES
    if isinstance(exc, InterfaceError) or "database is locked" in str(exc):  # SQLite busy
        return True
    return not connection.is_usable()  # the connection itself is gone


def _first_message(data) -> str:
    if isinstance(data, dict):
        for field, value in data.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data) if data else "Invalid input."


# --- Errors Django answers before (or instead of) a view: JSON, but where people browse ------


def _admin(request) -> bool:
    return request.path.startswith("/admin/")


def _refusal(request, *, status: int, detail: str, page: tuple[str, str]):
    """`{"detail": detail}` with `status`; on a path people browse (the front door, PAGES),
    the page `(title, message)` in the site's frame instead."""
    if request.path_info == "/" or request.path_info.startswith(PAGES):
        title, message = page
        context = {"title": title, "message": message}
        return render(request, "core/error_page.html", context, status=status)
    return JsonResponse({"detail": detail}, status=status)


def json_bad_request(request, exception=None):
    if _admin(request):
        return defaults.bad_request(request, exception)
    status, detail = 400, "Bad request."
    if isinstance(exception, RequestDataTooBig):
        status, detail = 413, "Request body too large."
    elif isinstance(exception, DisallowedHost):
        detail = "Invalid Host header."
    elif isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        detail = "Too many fields in the request body."
    title = "Too large" if status == 413 else "Bad request"
    return _refusal(request, status=status, detail=detail, page=(title, detail))


def json_permission_denied(request, exception=None):
    if _admin(request):
        return defaults.permission_denied(request, exception)
    detail = "You do not have permission to perform this action."
    page = ("Not allowed", "This page is not open to your account.")
    return _refusal(request, status=403, detail=detail, page=page)


def json_csrf_failure(request, reason=""):
    if _admin(request):
        return csrf.csrf_failure(request, reason)
    # On a page, most often a form left open while its session ended or changed (a sign-in
    # in another tab): nothing was done, and sending it again from a fresh page works.
    message = "Nothing was sent: the form had expired. Go back, reload it and send it again."
    return _refusal(
        request, status=403, detail=f"CSRF Failed: {reason}", page=("Form expired", message)
    )


def json_not_found(request, exception=None):
    """Not found; for an API path that exists with its trailing slash, that path (the API
    is not redirected there: core.middleware.CommonMiddleware). Under /account/, where
    people browse, a page in the site's frame instead."""
    detail = "Not found."
    if request.path_info.startswith("/api/") and is_valid_path(f"{request.path_info}/"):
        detail = f"Not found. Did you mean {request.path}/ (with its trailing slash)?"
    page = ("Not found", "There is nothing here, or nothing of yours.")
    return _refusal(request, status=404, detail=detail, page=page)


def json_server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)


# The methods a view that changes nothing takes (json_get_only, the probes).
READ_METHODS = ("GET", "HEAD")


def json_get_only(view):
    """A plain Django view that answers GET and HEAD, and anything else 405 in JSON, worded
    as DRF words it (not a CSRF page: no method it takes changes anything)."""

    @functools.wraps(view)
    def get_only(request, *args, **kwargs):
        if request.method not in READ_METHODS:
            return JsonResponse(
                {"detail": f'Method "{request.method}" not allowed.'},
                status=405,
                headers={"Allow": ", ".join(READ_METHODS)},
            )
        return view(request, *args, **kwargs)

    return csrf_exempt(get_only)


class ErrorSerializer(serializers.Serializer):
    """Every error answer (for the schema): a one-line `detail`."""

    detail = serializers.CharField()
