import signal
import threading

from django.core.management.base import BaseCommand

from core.liveness import WAITING_SECONDS, liveness_heartbeat
from core.telemetry import telemetry_start
from worker.dispatcher import dispatch_forever


class Command(BaseCommand):
    help = "Wake each kind's workers while it has due jobs, until stopped (SIGTERM or Ctrl-C)."

    def handle(self, *args, **options):
        liveness_heartbeat(seconds=WAITING_SECONDS)
        telemetry_start("dispatcher")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("dispatcher ready.")
        self.stdout.flush()
        dispatch_forever(stop=stop)
        self.stdout.write("dispatcher stopped.")
