"""Writes of email_app by concern: claims (the claim and record that send each email at most
once), sending (email_send, the one public send API, and the message it sends), emails
(Shopflow's own emails from their templates). Other apps import the public send API from
here: email_send, and EmailInFlight, which it raises while another delivery sends."""

from .claims import EmailInFlight
from .sending import email_send

__all__ = ["EmailInFlight", "email_send"]
