import signal
import threading

from django.core.management.base import BaseCommand

from core.liveness import WAITING_SECONDS, liveness_vouch
from core.telemetry import telemetry_start
from worker.dispatcher import Dispatcher
from worker.outbox import relay_forever


class Command(BaseCommand):
    help = "Publish committed outbox rows to the broker until stopped (SIGTERM or Ctrl-C)."

    def handle(self, *args, **options):
        liveness_vouch(seconds=WAITING_SECONDS)
        telemetry_start("relay")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("outbox relay ready.")
        self.stdout.flush()
        relay_forever(stop=stop, each_pass=Dispatcher().tick)
        self.stdout.write("outbox relay stopped.")
