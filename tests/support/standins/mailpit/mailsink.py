"""A mail sink in Mailpit's place: SMTP on 1025 keeps every message; GET /api/v1/messages
on 8025 lists them, newest first, in Mailpit's shape (ID, MessageID, From, To, Subject)."""

import email
import email.policy
import json
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict] = []
LOCK = threading.Lock()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with LOCK:
            MESSAGES.append(
                {
                    "ID": uuid.uuid4().hex,
                    "MessageID": (message["Message-ID"] or "").strip().strip("<>"),
                    "From": {"Address": envelope.mail_from},
                    "To": [{"Address": address} for address in envelope.rcpt_tos],
                    "Subject": str(message["Subject"] or ""),
                }
            )
        return "250 Message accepted"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        if not self.path.startswith("/api/v1/messages"):
            self.send_error(404)
            return
        with LOCK:
            newest_first = list(reversed(MESSAGES))
        body = json.dumps({"total": len(newest_first), "messages": newest_first}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # As PID 1, a signal's default action is ignored: stop on docker stop's SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Controller(Sink(), hostname="0.0.0.0", port=1025).start()
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()
