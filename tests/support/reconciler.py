"""Beat's side-effect reconciler, run by a test at production's pace and at its worst
phase: a test that waits for the reconciler to bring work back measures the longest that
takes, not a lucky run."""

from datetime import timedelta

from django.utils import timezone

from side_effects.services import side_effects_reconcile

# Beat's schedule (side_effects.apps).
RECONCILER_EVERY = timedelta(seconds=30)


class ReconcilerAtItsWorstPhase:
    """The reconciler run just before a side effect's deadline passes, so that the run that
    finds it overdue comes a whole interval later; then every interval."""

    def __init__(self, deadline):
        self.due = deadline - timedelta(seconds=0.5)

    def run_if_due(self) -> None:
        if timezone.now() >= self.due:
            side_effects_reconcile()
            self.due += RECONCILER_EVERY
