"""A real SMTP server for the load benchmark (aiosmtpd), run as its own process so its CPU
is measured apart from the load client's.

    python bench/smtp_sink.py --port 2525 --log var/bench/smtp.log

It accepts every message and appends one line per message to the log:
"<unix time> <connection number>". Commands on standard input change its behaviour
while it runs:

    delay 200    take 200 ms before answering each DATA (a slow SMTP server)
"""

import argparse
import asyncio
import itertools
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, log):
        self.log = log
        self.delay = 0.0
        self.connections = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        connection = getattr(session, "sink_number", 0)
        self.log.write(f"{time.time():.6f} {connection}\n")
        return "250 OK"


class CountingSMTP(SMTP):
    """Numbers each connection, so the log shows whether clients reuse them."""

    def connection_made(self, transport):
        super().connection_made(transport)
        self.session.sink_number = next(self.event_handler.connections)


class SinkController(Controller):
    def factory(self):
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    with open(args.log, "a", buffering=1) as log:
        sink = Sink(log)
        controller = SinkController(sink, hostname="127.0.0.1", port=args.port)
        controller.start()
        print("ready", flush=True)
        stop = threading.Event()
        for line in sys.stdin:
            command, _, value = line.strip().partition(" ")
            if command == "delay":
                sink.delay = float(value) / 1000
                print(f"delay {value}", flush=True)
            elif command == "quit":
                break
        stop.set()
        controller.stop()


if __name__ == "__main__":
    main()
