"""The shop's currency (settings.SHOPFLOW_CURRENCY, ISO 4217): one for every price and
total, named beside each amount wherever one is shown (the API's `currency`, the emails
and the pages through the `money` template filter, core/templatetags/money.py)."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def money(amount) -> str:
    """`amount` (a Decimal, a number or its string) with two decimals and the currency:
    "12.50 EUR". Not a number: as it is, so that a page still renders."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return f"{value:.2f} {settings.SHOPFLOW_CURRENCY}"


@extend_schema_field(OpenApiTypes.STR)
class CurrencyField(serializers.ReadOnlyField):
    """The shop's currency beside an object's amounts: the same for every object."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text", "The currency of the amounts (ISO 4217), the shop's one: e.g. EUR."
        )
        super().__init__(source="*", **kwargs)

    def to_representation(self, value) -> str:
        return settings.SHOPFLOW_CURRENCY
