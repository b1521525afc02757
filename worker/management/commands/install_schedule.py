from django.core.management.base import BaseCommand

from worker.schedule import install_default_schedule


class Command(BaseCommand):
    help = "Create the default beat schedule entries that are missing (idempotent)."

    def handle(self, *args, **options):
        created = install_default_schedule()
        self.stdout.write(f"Created: {', '.join(created)}." if created else "Nothing to create.")
