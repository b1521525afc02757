"""lib.db's written-out statements behave as the ORM's bulk_create() and update(), on
PostgreSQL and SQLite alike (the suite runs on both)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from lib.db import delete_rows, insert_rows, insert_unless_exists, update_rows

pytestmark = pytest.mark.django_db

PLACED = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


def event(order_id: int, **fields) -> AnalyticsEvent:
    values = {
        "customer_id": 7,
        "items": [{"sku": "MUG-1", "quantity": 2, "unit_price": "12.50"}],
        "units": 2,
        "revenue": Decimal("25.00"),
        "occurred_at": PLACED,
    }
    return AnalyticsEvent(order_id=order_id, **{**values, **fields})


def test_insert_rows_writes_json_decimals_and_times_as_the_orm_reads_them_back():
    rows = [event(1), event(2)]

    assert insert_rows(rows) == 2

    stored = AnalyticsEvent.objects.get(order_id=1)
    assert stored.items == [{"sku": "MUG-1", "quantity": 2, "unit_price": "12.50"}]
    assert stored.revenue == Decimal("25.00")
    assert stored.occurred_at == PLACED
    assert stored.recorded_at is not None  # auto_now_add, as save() would set it
    assert AnalyticsEvent.objects.filter(occurred_at=PLACED).count() == 2


@pytest.mark.skipif(
    not connection.features.can_return_rows_from_bulk_insert, reason="no INSERT ... RETURNING"
)
def test_insert_rows_gives_each_row_its_primary_key_in_order():
    rows = [event(1), event(2), event(3)]

    insert_rows(rows)

    assert [row.pk for row in rows] == list(
        AnalyticsEvent.objects.order_by("order_id").values_list("pk", flat=True)
    )
    assert not rows[0]._state.adding


def test_insert_rows_is_one_statement_for_many_rows():
    with CaptureQueriesContext(connection) as queries:
        insert_rows([event(n) for n in range(1, 41)])

    assert len(queries) == 1
    assert AnalyticsEvent.objects.count() == 40


def test_insert_rows_splits_what_the_database_cannot_take_in_one_statement():
    fields = [f for f in AnalyticsEvent._meta.concrete_fields if not f.primary_key]
    count = 1200
    rows = [event(n) for n in range(count)]
    per_statement = connection.ops.bulk_batch_size(fields, rows)

    with CaptureQueriesContext(connection) as queries:
        assert insert_rows(rows) == count

    inserts = [q for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == -(-count // per_statement)  # one statement on PostgreSQL
    assert AnalyticsEvent.objects.count() == count
    if connection.features.can_return_rows_from_bulk_insert:
        stored = dict(AnalyticsEvent.objects.values_list("order_id", "pk"))
        assert [row.pk for row in rows] == [stored[n] for n in range(count)]


def test_insert_rows_ignoring_conflicts_counts_only_the_rows_that_went_in():
    insert_rows([event(1)])

    assert insert_rows([event(1, units=99), event(2)], ignore_conflicts=True) == 1

    assert AnalyticsEvent.objects.get(order_id=1).units == 2  # the first row stands
    assert AnalyticsEvent.objects.filter(order_id=2).exists()


def test_insert_rows_without_ignoring_conflicts_raises_on_a_duplicate():
    from django.db import IntegrityError, transaction

    insert_rows([event(1)])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows([event(1)])


def test_insert_unless_exists_needs_no_savepoint_inside_a_transaction():
    from django.db import transaction

    claim = SentEmail(kind="welcome", key="1", recipients=["a@example.com"], subject="Hi")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert insert_unless_exists(claim) is True
        assert insert_unless_exists(SentEmail(kind="welcome", key="1", subject="Hi")) is False
        # The transaction is still usable after the refused insert.
        assert SentEmail.objects.filter(kind="welcome").count() == 1

    assert not [q for q in queries if "SAVEPOINT" in q["sql"].upper()]


def test_update_rows_changes_the_matching_rows_only_and_counts_them():
    insert_rows([event(1), event(2), event(3)])

    changed = update_rows(
        AnalyticsEvent, values={"units": 5, "revenue": Decimal("1.10")}, order_id__in=[1, 3]
    )

    assert changed == 2
    assert dict(AnalyticsEvent.objects.values_list("order_id", "units")) == {1: 5, 2: 2, 3: 5}
    assert AnalyticsEvent.objects.get(order_id=1).revenue == Decimal("1.10")


def test_update_rows_matches_datetimes_as_the_orm_stored_them():
    on_the_second = PLACED.replace(microsecond=0)
    for key, claimed_at in (("9", PLACED), ("10", on_the_second)):
        SentEmail.objects.create(kind="welcome", key=key, subject="Hi", claimed_at=claimed_at)

    assert not update_rows(SentEmail, values={"status": "sent"}, key="9", claimed_at=on_the_second)
    assert update_rows(SentEmail, values={"status": "sent"}, key="9", claimed_at=PLACED) == 1
    assert update_rows(SentEmail, values={"status": "sent"}, claimed_at=on_the_second) == 1
    assert dict(SentEmail.objects.values_list("key", "status")) == {"9": "sent", "10": "sent"}


def test_update_rows_matches_uuids_as_stored():
    from worker.models import OutboxMessage

    messages = [OutboxMessage(task_name="bench.noop", args=[n]) for n in range(3)]
    insert_rows(messages)

    changed = update_rows(
        OutboxMessage,
        values={"last_error": "x"},
        task_id__in=[messages[0].task_id, messages[2].task_id],
    )

    assert changed == 2
    assert OutboxMessage.objects.filter(last_error="x").count() == 2


def test_insert_rows_refuses_rows_with_a_primary_key_or_an_unsaved_related_row():
    from store.models import Product, StockMovement

    with pytest.raises(ValueError, match="primary key"):
        insert_rows([event(1, pk=777)])
    with pytest.raises(ValueError, match="unsaved"):
        insert_rows([StockMovement(product=Product(sku="NEW", name="New", price=1), delta=-1)])
    assert not AnalyticsEvent.objects.exists()


def test_insert_rows_ignoring_conflicts_sets_no_primary_keys():
    insert_rows([event(1)])
    rows = [event(1), event(2)]

    insert_rows(rows, ignore_conflicts=True)

    assert [row.pk for row in rows] == [None, None]


def test_update_rows_with_an_empty_in_list_runs_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert update_rows(AnalyticsEvent, values={"units": 1}, order_id__in=[]) == 0
    assert len(queries) == 0


def test_update_rows_refuses_to_run_without_a_condition_or_with_an_unknown_lookup():
    with pytest.raises(ValueError, match="no condition"):
        update_rows(AnalyticsEvent, values={"units": 1})
    with pytest.raises(ValueError, match="unsupported lookup"):
        update_rows(AnalyticsEvent, values={"units": 1}, order_id__gt=3)


def test_delete_rows_deletes_the_matching_rows_only():
    insert_rows([event(1), event(2), event(3)])
    first = AnalyticsEvent.objects.get(order_id=1)

    assert delete_rows(AnalyticsEvent, pk=first.pk) == 1
    assert delete_rows(AnalyticsEvent, order_id__in=[2, 99]) == 1
    assert delete_rows(AnalyticsEvent, order_id__in=[]) == 0

    assert list(AnalyticsEvent.objects.values_list("order_id", flat=True)) == [3]


def test_delete_rows_refuses_to_run_without_a_condition():
    with pytest.raises(ValueError, match="no condition"):
        delete_rows(AnalyticsEvent)
