"""`{% load money %}{{ order.total|money }}`: "12.50 EUR", the shop's currency named."""

from django import template

from core.money import money

register = template.Library()
register.filter("money", money)
