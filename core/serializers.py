"""Serializers every app may build on: DRF's, as DRF makes them (store and notifications
import ModelSerializer from here; once they import DRF's, this module can go)."""

from rest_framework.serializers import ModelSerializer

__all__ = ["ModelSerializer"]
