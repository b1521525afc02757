from django.core.management.base import BaseCommand

from worker.schedule import install_schedule


class Command(BaseCommand):
    help = "Create the beat schedule's missing entries (idempotent)."

    def handle(self, *args, **options):
        created = install_schedule()
        self.stdout.write(f"Created: {', '.join(created)}." if created else "Nothing to create.")
