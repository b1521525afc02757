"""The load benchmark's SMTP server: the tests' own (tests/support/smtp.py) in a process
of its own, so that its CPU is measured apart from the load client's.

    python bench/smtp_sink.py --port 2525 --log var/bench/smtp.log

It accepts every message and appends one line per message to the log:
"<unix time> <connection number>". Commands on standard input change its behaviour
while it runs:

    delay 200    take 200 ms before answering each DATA (a slow SMTP server)
"""

import argparse
import sys

import common  # noqa: F401 - the project on sys.path

from tests.support.smtp import SmtpHandler, SmtpServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    with open(args.log, "a", buffering=1) as log:
        handler = SmtpHandler(keep=False, log=log)
        with SmtpServer(handler, port=args.port):
            print("ready", flush=True)
            for line in sys.stdin:
                command, _, value = line.strip().partition(" ")
                if command == "delay":
                    handler.delay = float(value) / 1000
                    print(f"delay {value}", flush=True)
                elif command == "quit":
                    break


if __name__ == "__main__":
    main()
