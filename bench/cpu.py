"""CPU seconds per process kind, read with psutil: the stack's (web, relay, worker, mail,
beat, flower, PostgreSQL, Redis; `make run`'s supervisor), and apart from it the load
client's (bench/shoppers.py) and the SMTP server's (bench/smtp_sink.py)."""

import contextlib
import time

import psutil

# What an order costs the shop: every process of the stack, side effects included.
STACK = ("web", "relay", "worker", "mail", "beat", "flower", "postgres", "redis")
# Shown apart: the load and the mail server stand for the world outside the shop, and
# runstack is a development convenience no deployment runs.
APART = ("client", "smtp", "supervisor")
BACKGROUND = ("relay", "worker", "mail", "beat", "flower")


def classify(process: psutil.Process) -> str | None:
    try:
        name = process.name()
        cmdline = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if name.startswith("postgres") or cmdline.startswith("postgres"):
        return "postgres"
    if "redis-server" in name or "redis-server" in cmdline:
        return "redis"
    if "smtp_sink.py" in cmdline:
        return "smtp"
    if "shoppers.py" in cmdline:
        return "client"
    if "manage.py runstack" in cmdline:
        return "supervisor"
    if "gunicorn" in cmdline or "uvicorn" in cmdline:
        return "web"
    if "relay_outbox" in cmdline:
        return "relay"
    if "celery" not in cmdline:
        return None
    words = cmdline.split()
    for kind in ("beat", "flower", "worker"):  # "-A worker beat" is beat, not a worker
        if kind in words[words.index("-A") + 2 :] if "-A" in words else kind in words:
            # The email queue's worker (runstack's "mail", compose's too) on its own line.
            return "mail" if kind == "worker" and "-Q emails" in cmdline else kind
    return None


class CpuMeter:
    """CPU seconds per process kind, including children that exited and were reaped."""

    def __init__(self, roots: list[int], redis_port: int | None):
        self.roots = roots  # pids whose descendants are the stack
        self.redis_port = redis_port

    def processes(self) -> dict[str, list[psutil.Process]]:
        kinds: dict[str, list[psutil.Process]] = {}
        seen = set()
        for root in self.roots:
            try:
                family = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in family:
                kind = classify(process)
                if kind and process.pid not in seen:
                    seen.add(process.pid)
                    kinds.setdefault(kind, []).append(process)
        for process in psutil.process_iter():
            if process.pid in seen:
                continue
            kind = classify(process)
            ours = kind == "redis" and self._listens(process, self.redis_port)
            if kind == "postgres" or ours:
                kinds.setdefault(kind, []).append(process)
        return kinds

    @staticmethod
    def _listens(process, port) -> bool:
        try:
            return any(c.laddr and c.laddr.port == port for c in process.net_connections("tcp"))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def snapshot(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for kind, processes in self.processes().items():
            for process in processes:
                try:
                    times = process.cpu_times()
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    continue
                parent_kind = None
                with contextlib.suppress(psutil.Error):
                    parent = process.parent()
                    parent_kind = classify(parent) if parent else None
                # Reaped children count once, at the top of each kind's tree.
                reaped = times.children_user + times.children_system if parent_kind != kind else 0
                totals[kind] = totals.get(kind, 0.0) + times.user + times.system + reaped
        return totals


def reference_cpu_ms() -> float:
    """CPU ms of a fixed pure-Python loop, best of five: how fast this machine is right
    now, so that absolute figures of runs on other days can be compared (this shared
    machine's speed has varied by almost 2x between sessions)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for number in range(1_000_000):
            total += number * number % 7
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)
