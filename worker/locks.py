"""Every row lock the worker takes: named querysets, in primary-key order, for the
caller's transaction."""

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, Now, RowNumber

from core.clock import db_now

from . import sql
from .models import Job, held_by_an_attempt


def jobs_due(*, kind: str | None = None) -> QuerySet[Job]:
    """The pending jobs (of `kind`, or of every kind) a claim may take now: due, and no
    attempt holds them (a lease that ran out was an attempt's that lost its worker). The
    database's clock."""
    due = Job.objects.filter(status=Job.Status.PENDING, due_at__lte=Now()).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=Now())
    )
    return due if kind is None else due.filter(kind=kind)


def jobs_due_skip_locked(*, kind: str, limit: int, concurrency: int = 0) -> QuerySet[Job]:
    """Up to `limit` due jobs of `kind` (jobs_due), those due longest first; jobs another
    worker's claim holds are skipped. With `concurrency`, only jobs whose concurrency key
    has fewer leases than that running (the caller serialises its kind's claims)."""
    due = jobs_due(kind=kind)
    if concurrency:
        due = due.annotate(running=_running(kind=kind)).filter(running__lt=concurrency)
    return due.select_for_update(skip_locked=True, of=("self",)).order_by("due_at", "pk")[:limit]


def jobs_claimable(*, kind: str, concurrency: int = 0) -> QuerySet[Job]:
    """The due jobs of `kind` (jobs_due) that claims could take now: with `concurrency`,
    no more of a concurrency key's than it has leases free, those due longest first (the
    others wait for a lease to end, and must not hide other keys' jobs from the
    dispatcher's window)."""
    due = jobs_due(kind=kind)
    if not concurrency:
        return due
    place = Window(
        RowNumber(), partition_by=[F("concurrency_key")], order_by=[F("due_at"), F("pk")]
    )
    return due.annotate(running=_running(kind=kind), place=place).filter(
        place__lte=concurrency - F("running")
    )


def _running(*, kind: str):
    """How many leases the job's concurrency key has running (0 for none)."""
    running = (
        Job.objects.filter(
            held_by_an_attempt(), kind=kind, concurrency_key=OuterRef("concurrency_key")
        )
        .order_by()
        .values("concurrency_key")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(running), 0)


def jobs_ended_skip_locked(*, kind: str, days: int) -> QuerySet[Job]:
    """The jobs of `kind` that ended over `days` ago (the database's clock); those another
    transaction holds are skipped."""
    ended = Job.objects.filter(kind=kind, ended_at__lt=db_now(plus_seconds=-days * 86400))
    rows = ended.exclude(status=Job.Status.PENDING).select_for_update(skip_locked=True)
    return rows.order_by("pk")


def jobs_claim_serialise(*, kind: str) -> None:
    """Hold `kind`'s claim lock to the end of the caller's transaction: claims of a kind
    with a concurrency cap take turns, so that two cannot both see room for one more."""
    sql.advisory_xact_lock(name=f"jobs claim {kind}")
