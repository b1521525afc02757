"""GET /api/webhooks/event-types/: each event type with the JSON Schema of its body, for
staff; the schemas as the repository keeps them, and strict enough to refuse a body that
is not the event's."""

import json

import pytest

from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.webhooks import schema_errors
from webhooks import events

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/event-types/"


def test_staff_get_every_event_type_with_its_schema_and_customers_do_not():
    assert client_for(UserFactory()).get(URL).status_code == 403
    answer = client_for(UserFactory(is_staff=True)).get(URL)

    assert answer.status_code == 200
    served = {row["type"]: row["schema"] for row in answer.json()}
    assert list(served) == [*events.EVENT_TYPES, events.TEST]
    for kind, schema in served.items():
        assert schema == json.loads((events.SCHEMAS / f"{kind}.json").read_text())
        assert schema["properties"]["type"] == {"const": kind}


def test_a_body_not_of_its_type_does_not_validate():
    cancelled = {
        "type": "order.cancelled",
        "timestamp": "2026-11-29T06:00:00Z",
        "data": {"id": 1, "status": "placed", "sequence": 1},
    }
    errors = schema_errors(json.dumps(cancelled).encode())
    assert any("'cancelled' was expected" in error for error in errors)
    assert schema_errors(b'{"type": "order.refunded"}')  # no schema: not an event of ours
