"""The phases of bench/load.py: what each one loads the stack with, and for how long."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str  # rest | closed | open
    seconds: float = 0.0
    clients: int = 0
    rate: float = 0.0
    flows: int = 0
    smtp_delay_ms: int = 0
    then_rate: float = 0.0  # burst: the steady rate after the closed loop
    then_seconds: float = 0.0
    step: float = 0.0  # search: the rate goes up by this

    @property
    def label(self) -> str:
        if self.kind == "rest":
            return "at rest, 1 client"
        smtp = f", SMTP {self.smtp_delay_ms} ms" if self.smtp_delay_ms else ""
        if self.kind == "closed":
            return f"closed loop, {self.clients} clients{smtp}"
        if self.kind == "burst":
            return (
                f"burst: {self.clients} clients for {self.seconds:g}s, then "
                f"{self.then_rate:g}/s for {self.then_seconds:g}s{smtp}"
            )
        if self.kind == "search":
            return f"sustainable-rate search, {self.seconds:g}s probes{smtp}"
        return f"open {self.rate:g}/s for {self.seconds:g}s{smtp}"

    @property
    def total_seconds(self) -> float:
        return self.seconds + self.then_seconds


def phases_for(args) -> list[Phase]:
    scale = 0.25 if args.quick else 1.0

    def s(seconds):
        return max(round(seconds * scale), 5)

    return [
        Phase("rest", "rest", flows=max(int(40 * scale), 10)),
        Phase("closed", "closed", seconds=s(args.closed_seconds), clients=args.clients),
        # The same with an SMTP server that takes its time, as a remote relay does.
        Phase(
            "closed200",
            "closed",
            seconds=s(args.closed_seconds),
            clients=args.clients,
            smtp_delay_ms=200,
        ),
        Phase("open10", "open", seconds=s(30), rate=10),
        Phase("open30", "open", seconds=s(60), rate=30),
        Phase("open50", "open", seconds=s(20), rate=50),
        Phase("smtp200", "open", seconds=s(60), rate=20, smtp_delay_ms=200),
        Phase(
            "burst30",
            "burst",
            seconds=s(20),
            clients=args.clients,
            then_rate=30,
            then_seconds=s(40),
        ),
        Phase(
            "burst200",
            "burst",
            seconds=s(20),
            clients=args.clients,
            then_rate=20,
            then_seconds=s(40),
            smtp_delay_ms=200,
        ),
        Phase("search", "search", seconds=s(20), rate=20, step=10),
        Phase("search200", "search", seconds=s(20), rate=20, step=10, smtp_delay_ms=200),
    ]
