"""A batch's email claims are one INSERT ... ON CONFLICT DO NOTHING RETURNING
(email_app.sql): it inserts and returns what the ORM's equivalent (bulk_create with
ignore_conflicts, then a read) would, on SQLite and on PostgreSQL (`make test` runs these
on SQLite too when DATABASE_URL names another database)."""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from email_app import sql
from email_app.models import SentEmail

pytestmark = [pytest.mark.django_db, pytest.mark.orm_equivalence]

CLAIMS = [uuid.UUID(int=n) for n in range(1, 6)]


@pytest.fixture
def claimed_before():
    SentEmail.objects.create(kind="welcome", key="1", subject="sent", status="sent")
    SentEmail.objects.create(
        kind="confirmation_email", key="2", subject="held", claim=uuid.UUID(int=99)
    )


def batch() -> list[SentEmail]:
    """New, sent before, new under another kind, held by another delivery, new twice."""
    emails = [("welcome", "7"), ("welcome", "1"), ("confirmation_email", "1")]
    emails += [("confirmation_email", "2"), ("welcome", "7")]
    return [
        SentEmail(kind=kind, key=key, recipients=[f"{key}@example.com"], subject=f"#{n}", claim=c)
        for n, ((kind, key), c) in enumerate(zip(emails, CLAIMS, strict=True))
    ]


def claim_with_the_orm(*, rows: list[SentEmail]) -> set[uuid.UUID]:
    SentEmail.objects.bulk_create(rows, ignore_conflicts=True)
    claims = [row.claim for row in rows]
    return set(SentEmail.objects.filter(claim__in=claims).values_list("claim", flat=True))


def after(claim) -> tuple[set[uuid.UUID], list[tuple]]:
    """What `claim` returns and leaves, rolled back afterwards."""
    with transaction.atomic():
        made = claim(rows=batch())
        fields = ("kind", "key", "recipients", "subject", "status", "claim")
        rows = list(SentEmail.objects.order_by("kind", "key").values_list(*fields))
        transaction.set_rollback(True)
    return made, rows


def test_a_batchs_claims_insert_and_return_what_the_orm_would(claimed_before):
    made, rows = after(sql.sent_emails_claim)

    assert (made, rows) == after(claim_with_the_orm)
    assert made == {CLAIMS[0], CLAIMS[2]}


def test_a_claim_is_dated_by_the_databases_clock(claimed_before):
    before = timezone.now()
    made = sql.sent_emails_claim(rows=batch())

    claimed_at = SentEmail.objects.filter(claim__in=made).values_list("claimed_at", flat=True)
    assert len(claimed_at) == 2
    assert all(abs(at - before) < timedelta(seconds=5) for at in claimed_at)


def test_no_rows_claim_nothing():
    assert sql.sent_emails_claim(rows=[]) == set()
