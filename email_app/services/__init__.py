"""Writes of email_app by concern: sending (email_send, the one public send API, and the
message it sends, each logged once sent), emails (Shopflow's own emails from their
templates). Other apps import the public send API from here."""

from .sending import email_send

__all__ = ["email_send"]
