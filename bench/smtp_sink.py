"""The benchmark's SMTP server: the tests' own (tests/support/smtp.py) in a process of its
own, so that its CPU is apart from the stacks'. It accepts every message and keeps none;
`delay MS` on standard input makes it take MS before answering each DATA (a slow server).

    python bench/smtp_sink.py --port 2525
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.smtp import SmtpHandler, SmtpServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    handler = SmtpHandler(keep=False)
    with SmtpServer(handler, port=parser.parse_args().port):
        print("ready", flush=True)
        for line in sys.stdin:
            command, _, value = line.strip().partition(" ")
            if command == "delay":
                handler.delay = float(value) / 1000
                print(f"delay {value}", flush=True)


if __name__ == "__main__":
    main()
