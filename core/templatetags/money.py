"""`{% load money %}{{ order.total|money }}`: "12.50 EUR", the shop's currency named."""

from django import template

from core.money import money as money_text

register = template.Library()


@register.filter
def money(amount) -> str:
    return money_text(amount)
