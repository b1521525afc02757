"""CPU seconds by process kind, read with psutil: every process of a stack (found from its
roots and their children) and the PostgreSQL backends serving its database. A backend
that exits within a phase (a connection a request, Django's default, lives milliseconds)
is counted whole from the postmaster's reaped children: nothing else may use the server
during a run, since those backends no longer say which database they served."""

import threading

import psutil

KINDS = ("web", "workers", "dispatcher", "beat", "flower", "postgres", "redis")
# runstack is `make run`'s supervisor, a development convenience no deployment runs: shown
# apart, not in the total (it echoes the services' logs).
APART = ("supervisor",)


def kind_of(process: psutil.Process, database: str) -> str | None:
    try:
        name, cmdline = process.name(), " ".join(process.cmdline())
    except psutil.Error:
        return None
    if name.startswith("postgres") or cmdline.startswith("postgres"):
        # A backend's title names its database ("postgres: user db host state").
        return "postgres" if f" {database} " in f"{cmdline} " else None
    if "redis-server" in name or "redis-server" in cmdline:
        return "redis"
    if "manage.py runstack" in cmdline:
        return "supervisor"
    if "gunicorn" in cmdline:
        return "web"
    if "manage.py dispatch" in cmdline:
        return "dispatcher"
    words = cmdline.split()
    if "celery" not in cmdline or "-A" not in words:
        return None
    command = words[words.index("-A") + 2 : words.index("-A") + 3]  # "-A app <command>"
    return {"worker": "workers", "beat": "beat", "flower": "flower"}.get(
        command[0] if command else ""
    )


def postmaster_reaped_seconds() -> float:
    """CPU seconds of the PostgreSQL server's backends that have exited (the postmaster's
    reaped children), 0 when no server runs here."""
    for process in psutil.process_iter(["name"]):
        if not (process.info["name"] or "").startswith("postgres"):
            continue
        try:
            parent = process.parent()
            if parent is None or not parent.name().startswith("postgres"):
                times = process.cpu_times()
                return times.children_user + times.children_system
        except psutil.Error:
            continue
    return 0.0


class CpuMeter:
    """Reads the CPU seconds of a stack's processes, each by its pid."""

    def __init__(self, roots: list[int], database: str):
        self.roots, self.database = roots, database

    def processes(self):
        family = {}
        for root in self.roots:
            try:
                top = psutil.Process(root)
                family |= {p.pid: p for p in [top, *top.children(recursive=True)]}
            except psutil.NoSuchProcess:
                continue
        # The server's other processes serve other databases (other runs, other sessions).
        backends = [
            p
            for p in psutil.process_iter(["name"])
            if p.pid not in family and (p.info["name"] or "").startswith("postgres")
        ]
        return [*family.values(), *backends]

    def snapshot(self) -> dict[int, tuple[str, float]]:
        found = {}
        for process in self.processes():
            kind = kind_of(process, self.database)
            if not kind:
                continue
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            found[process.pid] = (kind, times.user + times.system)
        return found

    def window(self) -> "Window":
        return Window(self)


class Window(threading.Thread):
    """CPU seconds by kind from its start to its stop, read every second: a process that
    exits in between (a PostgreSQL backend whose connection was recycled) counts until
    its last reading, one that starts in between counts whole."""

    def __init__(self, meter: CpuMeter):
        super().__init__(daemon=True)
        self.meter, self.stopped = meter, threading.Event()
        self.reaped = postmaster_reaped_seconds()
        self.first = meter.snapshot()
        self.last = dict(self.first)
        self.start()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.last.update(self.meter.snapshot())

    def stop(self) -> dict[str, float]:
        self.stopped.set()
        self.join()
        alive = self.meter.snapshot()
        self.last.update(alive)
        totals = dict.fromkeys((*KINDS, *APART), 0.0)
        for pid, (kind, seconds) in self.last.items():
            if kind == "postgres" and pid not in alive:
                continue  # exited: counted whole below, with the reaped ones
            totals[kind] += max(seconds - self.first.get(pid, (kind, 0.0))[1], 0.0)
        totals["postgres"] += max(postmaster_reaped_seconds() - self.reaped, 0.0)
        return totals
