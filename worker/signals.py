from django.dispatch import Signal

# Sent when a job fails for good (worker.jobs.job_fail), in the transaction that records
# it, with core.signals.send_robust_isolated. Arguments: kind, key, error.
job_failed = Signal()
