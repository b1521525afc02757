"""The API's JSON parser: DRF's, with the limits a public endpoint needs."""

import json

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 (DRF reads the stream whole, past
    Django's own check); nesting deeper than MAX_DEPTH, or too deep for the json module
    to recurse into (a RecursionError would be a 500), is 400."""

    MAX_DEPTH = 32  # far more than any request of this API has

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)  # None: no limit
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge()
        try:
            text = body.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
            data = json.loads(text, parse_constant=_refuse_constant if self.strict else None)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        except LookupError:  # a charset no codec knows (or one that is no text encoding)
            raise exceptions.ParseError("JSON parse error - unknown charset.") from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if _depth_exceeds(data, self.MAX_DEPTH):
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {self.MAX_DEPTH} levels."
            )
        return data


def _refuse_constant(name: str):
    """NaN and the infinities are no JSON (DRF's strict parser refuses them too)."""
    raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")


def _depth_exceeds(data, limit: int) -> bool:
    """Whether lists and objects in `data` nest deeper than `limit` (without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
