"""Serializers every app may build on."""

import copy

from rest_framework import serializers


# DRF's ModelSerializer, its fields built from the model once per class. DRF builds them
# for every instance (it maps each model field to a serializer field and copies the
# declared ones): a third of the time an order's answer takes. What it builds depends on
# the class alone (its Meta and declared fields), so it is kept on the class and each
# instance gets a deep copy, as DRF's plain Serializer copies its declared fields. (A
# comment, not a docstring: the schema would publish it for every subclass.)
class ModelSerializer(serializers.ModelSerializer):
    def get_fields(self):
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return copy.deepcopy(built)
