"""The shop's currency: a setting (SHOPFLOW_CURRENCY, ISO 4217) checked as the process
starts, and the `money` filter the templates show each amount with."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from core.env import env_currency


@pytest.mark.parametrize("value", ["eur", "EURO", "EU", "€", "E1R", "EUR,USD"])
def test_a_currency_not_three_upper_case_letters_stops_the_process_in_one_line(
    value, monkeypatch, capsys
):
    monkeypatch.setenv("SHOPFLOW_CURRENCY", value)

    with pytest.raises(SystemExit) as stopped:
        env_currency("SHOPFLOW_CURRENCY", "EUR")

    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "SHOPFLOW_CURRENCY must be an ISO 4217 currency code, three upper-case letters"
        f" such as EUR, not {value!r}."
    )


@pytest.mark.parametrize(("value", "currency"), [("", "EUR"), (" CHF ", "CHF"), ("JPY", "JPY")])
def test_the_currency_is_the_settings_code_and_euros_without_one(value, currency, monkeypatch):
    monkeypatch.setenv("SHOPFLOW_CURRENCY", value)

    assert env_currency("SHOPFLOW_CURRENCY", "EUR") == currency


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(Decimal("12.5"), "12.50 USD"), ("37.50", "37.50 USD"), (0, "0.00 USD"), (None, "")],
)
def test_the_money_filter_shows_two_decimals_and_the_currency(amount, shown, settings):
    settings.SHOPFLOW_CURRENCY = "USD"

    rendered = Template("{% load money %}{{ amount|money }}").render(Context({"amount": amount}))

    assert rendered == shown
