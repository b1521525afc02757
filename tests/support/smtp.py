"""A real SMTP server (aiosmtpd) for the tests, and for bench/smtp_sink.py, which runs it
as a process of its own: it accepts mail, refuses it on demand, and can take its time."""

import asyncio
import email
import threading
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller

from devstack.stack import free_port


@dataclass
class SmtpHandler:
    """Accepts mail, or refuses DATA with a temporary (451) or permanent (554) error."""

    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    refuse_next: int = 0  # refuse this many deliveries temporarily, then accept
    refuse_always: bool = False
    refuse_to: set[str] = field(default_factory=set)  # refuse mail to these for good (554)
    defer_to: dict[str, int] = field(default_factory=dict)  # address: times to refuse (451)
    delay_next: float = 0.0  # hold the next delivery this long before answering
    delaying: threading.Event = field(default_factory=threading.Event)
    delayed_recipients: list[str] = field(default_factory=list)  # the delayed one's
    delay: float = 0.0  # hold every delivery this long (a slow server), unless delay_next
    stall_next_rcpt: float = 0.0  # hold the next RCPT this long (before any DATA is read)
    rcpt_stalled: threading.Event = field(default_factory=threading.Event)
    stalled_peer: tuple = ()  # the client whose RCPT is held: (address, port)
    rcpt_stall_over: threading.Event = field(default_factory=threading.Event)
    keep: bool = True  # False: count the messages only (a benchmark sends thousands)
    receiving: int = 0  # messages being received (DATA) right now
    most_received_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_next_rcpt:
            stall, self.stall_next_rcpt = self.stall_next_rcpt, 0.0
            self.stalled_peer = session.peer
            self.rcpt_stalled.set()
            try:
                await asyncio.sleep(stall)  # a fixed wait is the point: a stalled RCPT
            finally:  # also when the client hangs up, which cancels the session
                self.rcpt_stall_over.set()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.receiving += 1  # the server's event loop: one session at a time runs this
        self.most_received_at_once = max(self.most_received_at_once, self.receiving)
        try:
            return await self._deliver(session, envelope)
        finally:
            self.receiving -= 1

    async def _deliver(self, session, envelope):
        delay = self.delay
        if self.delay_next:
            delay, self.delay_next = self.delay_next, 0.0
            self.delayed_recipients = list(envelope.rcpt_tos)  # before the event: read after it
            self.delaying.set()
        if delay:
            await asyncio.sleep(delay)  # a fixed wait is the point: a slow SMTP server
        with self.lock:
            self.attempts += 1
            if refused := self._refusal(envelope.rcpt_tos):
                return refused
            if self.keep:
                self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def _refusal(self, recipients: list[str]) -> str:
        if self.refuse_always or self.refuse_to & set(recipients):
            return "554 5.7.1 Message rejected"
        deferred = [to for to in recipients if self.defer_to.get(to, 0) > 0]
        for to in deferred:
            self.defer_to[to] -= 1
        if deferred:
            return "451 4.3.0 Try again later"
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        return ""


class SmtpServer:
    """The server on 127.0.0.1 (or `host`) in a thread of this process, for a `with` block."""

    def __init__(
        self, handler: SmtpHandler | None = None, port: int | None = None, host="127.0.0.1"
    ):
        self.handler = handler or SmtpHandler()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname=host, port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        return list(self.handler.messages)

    def messages_to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m.get("To", "")]


def body_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


def unsubscribe_link(message) -> str:
    """The URL of a message's List-Unsubscribe header, unfolded."""
    return "".join(message["List-Unsubscribe"].split()).strip("<>")
