"""Hosts on one machine, for tests of what crosses a network: network namespaces on a
bridge (iproute2, as root), each with an address of its own, and the faults between them,
made where the host cannot see them, on the bridge (an nftables table of the bridge
family): a link cut (at once, or right after a given request has passed), one port of one
peer dropped, a share of packets lost. This kernel has no netem, so latency is a proxy's:
the data host's services listen on its loopback behind a TCP proxy on its address that
holds every chunk (tests.support.delay_proxy).

This process stays in the machine's own namespace, on the bridge's first address: it is
the customers (HTTP to the web host) and the mail server (SMTP on its address), and it
forwards to a server of the machine's that listens on its loopback only (RabbitMQ)."""

import contextlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import PROJECT_DIR
from tests.support.polling import wait_until


def namespaces_unavailable() -> str:
    """Why hosts cannot be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if not shutil.which("ip") or not shutil.which("nft"):
        return "needs iproute2's ip and nftables' nft (.ci/run installs nftables)"
    probe = f"sf-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"ip netns add is not allowed here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], check=True)
    return ""


def sh(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr.strip()}"


class Network:
    """A bridge and the hosts on it; everything is removed on close()."""

    def __init__(self):
        self.id = os.getpid() % 25000  # a /24 of its own for each id
        self.prefix = f"10.{77 + self.id // 250}.{self.id % 250}"
        self.bridge = f"sfbr{self.id}"
        self.address = f"{self.prefix}.1"  # this process's, on the bridge
        self.hosts: list[Host] = []
        self.forwarders: list[subprocess.Popen] = []
        self._numbers = itertools.count(2)
        self.table = f"sf{self.id}"  # the faults: nft's bridge family sees every frame
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.address}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        sh("nft", "add", "table", "bridge", self.table)
        for hook in ("input", "forward", "output"):
            chain = f"{{ type filter hook {hook} priority 0; }}"
            sh("nft", "add", "chain", "bridge", self.table, hook, chain)

    def nft(self, verb: str, kind: str, *rest: str) -> None:
        """`nft <verb> <kind> bridge <this network's table> <rest>`."""
        sh("nft", verb, kind, "bridge", self.table, *rest)

    def host(self, name: str) -> "Host":
        host = Host(self, name, next(self._numbers))
        self.hosts.append(host)
        return host

    def forward(self, port: int, target: str, log: Path) -> str:
        """A TCP forwarder on this process's address and `port` to `target` (host:port) in
        the machine's namespace: how the hosts reach a server that listens on the machine's
        loopback only, through the bridge (a host cut off is cut off from it too). Its
        address."""
        delay_file = log.with_suffix(".delay")
        delay_file.write_text("0")
        listen = f"{self.address}:{port}"
        argv = [sys.executable, "-m", "tests.support.delay_proxy", listen, target, str(delay_file)]
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_DIR)}
        with open(log, "ab") as output:
            self.forwarders.append(
                subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
            )
        wait_until(lambda: b" ready." in log.read_bytes(), message=f"the forwarder to {target}")
        return listen

    def close(self) -> None:
        for process in self.forwarders:
            process.kill()
            process.wait()
        for host in reversed(self.hosts):
            host.close()
        subprocess.run(["nft", "delete", "table", "bridge", self.table], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)


class Host:
    """A network namespace with one interface (eth0) on the bridge, and the processes
    started in it."""

    def __init__(self, network: Network, name: str, number: int):
        self.name = name
        self.ns = f"sf{network.id}-{name}"
        self.ip = f"{network.prefix}.{number}"
        self.veth = f"sfv{network.id}n{number}"  # the bridge's end, in the machine's namespace
        self.network = network
        self.chain = f"host{number}"  # its faults' rules
        self.delay_file = Path(tempfile.gettempdir()) / f"{self.ns}.delay"
        self.delay_file.write_text("0")
        self.processes: list[subprocess.Popen] = []
        self.cut_sets: list[str] = []  # cut_after()'s steps
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        sh("ip", "link", "set", self.veth, "master", network.bridge, "up")
        self.ip_in("addr", "add", f"{self.ip}/24", "dev", "eth0")
        self.ip_in("link", "set", "eth0", "up")
        self.ip_in("link", "set", "lo", "up")
        network.nft("add", "chain", self.chain)
        for hook in ("input", "forward", "output"):
            network.nft("add", "rule", hook, "jump", self.chain)

    def ip_in(self, *argv: str) -> None:
        sh("ip", "-n", self.ns, *argv)

    def start(
        self, argv: list[str], *, env: dict, log: Path, user: str = "", cwd: Path | None = None
    ) -> subprocess.Popen:
        """Run `argv` on this host (as `user`, if given), its output in `log`."""
        prefix = ["ip", "netns", "exec", self.ns, *(["runuser", "-u", user, "--"] if user else [])]
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [*prefix, *argv],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=cwd or log.parent,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    # --- faults ------------------------------------------------------------------------

    def cut(self) -> None:
        """The host's link dead both ways: every frame dropped, no error to anyone."""
        self.network.nft("add", "rule", self.chain, "iifname", self.veth, "drop")
        self.network.nft("add", "rule", self.chain, "oifname", self.veth, "drop")

    def cut_after(self, peer: "Host", port: int, prefix: bytes, *, times: int = 1) -> None:
        """The link cut, as cut() cuts it, the moment this host has sent `port` on `peer` the
        `times`-th segment whose payload begins with `prefix`, that one let through: a
        request that reaches the peer and whose answer never comes back (is_cut() tells
        when). Each step is a set of the bridge's table that the segment's rule adds this
        host to, the last one dropping all it sends and receives."""
        steps = [f"{self.chain}_seen{n}" for n in range(1, times)] + [f"{self.chain}_cut"]
        for step in steps:
            self.network.nft("add", "set", step, "{ type ipv4_addr; flags dynamic; }")
        for field in ("saddr", "daddr"):
            self.network.nft("add", "rule", self.chain, "ip", field, f"@{steps[-1]}", "drop")
        sent = ["iifname", self.veth, "ip", "daddr", peer.ip, "tcp", "dport", str(port)]
        for offset in range(0, len(prefix), 16):  # nft compares 16 bytes at most at once
            chunk = prefix[offset : offset + 16]
            sent += [f"@ih,{offset * 8},{len(chunk) * 8}", f"0x{chunk.hex()}"]
        for n in reversed(range(len(steps))):  # the last step first: a segment takes one
            after = ["ip", "saddr", f"@{steps[n - 1]}"] if n else []
            self.network.nft(
                "add", "rule", self.chain, *sent, *after, "add", f"@{steps[n]}", "{ ip saddr }"
            )
        self.cut_sets = steps

    def is_cut(self) -> bool:
        """Whether cut_after()'s segment has passed (the link is cut since)."""
        if not self.cut_sets:
            return False
        listed = subprocess.run(
            ["nft", "list", "set", "bridge", self.network.table, self.cut_sets[-1]],
            capture_output=True,
            text=True,
        )
        return bool(re.search(rf"[{{ ]{re.escape(self.ip)}[ ,}}]", listed.stdout))

    def lose(self, percent: int) -> None:
        """`percent` of what the host sends lost, at random."""
        self._drop_sent("numgen", "random", "mod", "100", "<", str(percent))

    def drop_to(self, peer: "Host", port: int) -> None:
        """Drop what this host sends to `port` on `peer` (the rest of the link works)."""
        self._drop_sent("ip", "daddr", peer.ip, "tcp", "dport", str(port))

    def _drop_sent(self, *match: str) -> None:
        """Drop what this host sends that matches `match`, an nft expression."""
        self.network.nft("add", "rule", self.chain, "iifname", self.veth, *match, "drop")

    def delay(self, seconds: float) -> None:
        """Hold every chunk `seconds` each way on the connections to this host's services
        (their proxies)."""
        self.delay_file.write_text(str(seconds))

    def restore(self) -> None:
        """Every fault of this host's link removed."""
        self.network.nft("flush", "chain", self.chain)
        for step in self.cut_sets:
            self.network.nft("delete", "set", step)
        self.cut_sets = []
        self.delay(0)

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()
        subprocess.run(["ip", "netns", "delete", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.veth], capture_output=True)
        self.delay_file.unlink(missing_ok=True)

    def behind_proxy(self, port: int, local_port: int, log: Path) -> None:
        """A delaying proxy on this host's address and `port`, to `local_port` on its
        loopback."""
        delay_proxy = [sys.executable, "-m", "tests.support.delay_proxy"]
        proxy = [*delay_proxy, f"{self.ip}:{port}", f"127.0.0.1:{local_port}", str(self.delay_file)]
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_DIR)}
        self.start(proxy, env=env, log=log)
        wait_until(lambda: b" ready." in log.read_bytes(), message=f"the proxy on {port}")


def postgres_cluster(host: Host, directory: Path, log: Path) -> str:
    """A PostgreSQL cluster of the host's own, on its address (behind its proxy); its URL."""
    [bin_dir] = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1:]
    directory.mkdir(mode=0o700)
    shutil.chown(directory, "postgres", "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(directory), "-A", "trust", "-U", "postgres"]
    sh("runuser", "-u", "postgres", "--", *initdb, "--no-sync")
    settings = [
        "listen_addresses=127.0.0.1",
        "port=15432",
        f"unix_socket_directories={directory}",
        "fsync=off",
        "max_connections=200",
    ]
    postgres = [str(bin_dir / "postgres"), "-D", str(directory)]
    host.start(
        [*postgres, *(argument for setting in settings for argument in ("-c", setting))],
        env={"PATH": os.environ["PATH"]},
        log=log,
        user="postgres",
    )
    host.behind_proxy(5432, 15432, log.with_name("postgres-proxy.log"))
    ready = ["ip", "netns", "exec", host.ns, str(bin_dir / "pg_isready"), "-h", host.ip, "-q"]
    wait_until(lambda: subprocess.run(ready).returncode == 0, message="the data host's PostgreSQL")
    createdb = [str(bin_dir / "createdb"), "-h", host.ip, "-U", "postgres", "shop"]
    sh("ip", "netns", "exec", host.ns, *createdb)
    return f"postgres://postgres@{host.ip}:5432/shop"


def redis_server(host: Host, log: Path) -> str:
    """A Redis of the host's own, on its address (behind its proxy), keeping nothing on
    disk; its URL."""
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", "16379", "--save", ""]
    host.start(
        [*argv, "--appendonly", "no"],
        env={"PATH": os.environ["PATH"]},
        log=log,
    )
    if not log.with_name("redis-proxy.log").exists():
        host.behind_proxy(6379, 16379, log.with_name("redis-proxy.log"))
    ping = ["ip", "netns", "exec", host.ns, "redis-cli", "-h", host.ip, "ping"]
    wait_until(
        lambda: subprocess.run(ping, capture_output=True).stdout.strip() == b"PONG",
        message="the data host's Redis",
    )
    return f"redis://{host.ip}:6379/0"
