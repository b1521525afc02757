"""API-wide error shape: every error answer is JSON with a `detail`."""

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" not in response.data:
        # A field-level ValidationError: keep DRF's field errors, add a one-line summary.
        response.data = {"detail": _first_message(response.data), **response.data}
    elif isinstance(response.data, list):
        response.data = {"detail": _first_message(response.data), "errors": response.data}
    return response


def _first_message(data) -> str:
    if isinstance(data, dict):
        for field, value in data.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data) if data else "Invalid input."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Unprocessable request."
    default_code = "unprocessable"


def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)
