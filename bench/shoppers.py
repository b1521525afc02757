"""The load client of bench/load.py: aiohttp on asyncio, in a process of its own, so that
its CPU is measured apart from the stack's and from the bench's own (docs/performance.md
says why this client and not locust).

    python bench/shoppers.py        # driven by bench/load.py (ShopperProcess) over stdin

Each line in is a JSON command (what to do, the stack's address, the shoppers' tokens,
the products); what comes out is JSON lines: {"progress": ...} every 5 s of a phase, then
the answer: the flows (cart, item, checkout: one order each) with their timings.

  register   sign each username up, then take its API token
  rest       one shopper, one flow at a time, then GET /api/orders/{id}/ of each order
  closed     `clients` shoppers, each starting a flow as soon as its last one ended
  open       a flow started every 1/`rate` s, whatever the others are doing (open loop)
"""

import asyncio
import json
import random
import sys
import time

import aiohttp

PASSWORD = "bench-Pa55word-long-enough"


class Shoppers:
    """One keep-alive connection pool to the stack, and the flows it made."""

    def __init__(self, command: dict):
        self.command = command
        self.base = command["base"]
        self.tokens = command.get("tokens", [])
        self.products = command.get("products", [])
        self.random = random.Random(7)
        self.flows: list[dict] = []
        self.get_order_ms: list[float] = []
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self):
        # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close
        # them under a request (a reset, not a server failure).
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=512, keepalive_timeout=3)
        timeout = aiohttp.ClientTimeout(total=120)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    async def request(self, method: str, path: str, token: str = "", body=None):
        """(status, body, ms) of one request."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        started = time.perf_counter()
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as answer:
            data = await answer.read()
            return answer.status, data, (time.perf_counter() - started) * 1000

    async def flow(self, token: str) -> dict:
        """cart, item, checkout: one order."""
        done = {
            "phase": self.command.get("phase", ""),
            "started": time.time(),
            "cart_ms": 0.0,
            "item_ms": 0.0,
            "checkout_ms": 0.0,
            "created_at": 0.0,
            "order_id": None,
            "error": "",
        }
        try:
            status, data, done["cart_ms"] = await self.request("POST", "/api/carts/", token)
            if status != 201:
                done["error"] = f"cart {status}"
                return done
            cart = json.loads(data)["id"]
            item = {"product_id": self.random.choice(self.products), "quantity": 1}
            path = f"/api/carts/{cart}/items/"
            status, _, done["item_ms"] = await self.request("POST", path, token, item)
            if status != 201:
                done["error"] = f"item {status}"
                return done
            body = {"cart_id": cart}
            status, data, done["checkout_ms"] = await self.request(
                "POST", "/api/orders/", token, body
            )
            done["created_at"] = time.time()
            if status != 201:
                done["error"] = f"checkout {status}"
                return done
            done["order_id"] = json.loads(data)["id"]
        except (TimeoutError, aiohttp.ClientError) as exc:
            done["error"] = type(exc).__name__
        return done

    async def closed(self) -> None:
        deadline = time.monotonic() + self.command["seconds"]
        clients = self.tokens[: self.command["clients"]]

        async def loop(token):
            while time.monotonic() < deadline:
                self.flows.append(await self.flow(token))

        await asyncio.gather(*(loop(token) for token in clients))

    async def open(self) -> None:
        rate, start, tasks = self.command["rate"], time.monotonic(), []

        async def one(n):
            self.flows.append(await self.flow(self.tokens[n % len(self.tokens)]))

        for n in range(int(self.command["seconds"] * rate)):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)

    async def rest(self) -> None:
        token = self.tokens[0]
        for _ in range(self.command["count"]):
            self.flows.append(await self.flow(token))
            await asyncio.sleep(0.05)
        for order in [f["order_id"] for f in self.flows if f["order_id"]]:
            status, _, ms = await self.request("GET", f"/api/orders/{order}/", token)
            if status == 200:
                self.get_order_ms.append(ms)

    async def register(self) -> list[str]:
        """Sign-up and token, one shopper at a time: the login throttle counts the attempts
        in flight from one address, and eight at once look like a burst of guesses."""
        for username in self.command["usernames"]:
            body = {
                "username": username,
                "email": f"{username}@bench.example",
                "password": PASSWORD,
            }
            status, data, _ = await self.request("POST", "/api/auth/register/", body=body)
            if status == 201:
                body = {"username": username, "password": PASSWORD}
                status, data, _ = await self.request("POST", "/api/auth/token/", body=body)
                if status == 200:
                    self.tokens.append(json.loads(data)["token"])
                    continue
            return [f"{username}: {status} {data[:300]!r}"]
        return []

    async def progress(self) -> None:
        """Every 5 s: orders so far and their checkout p50, for bench/load.py to print."""
        while True:
            await asyncio.sleep(5)
            ok = sorted(f["checkout_ms"] for f in self.flows if f["order_id"])
            p50 = ok[len(ok) // 2] if ok else 0.0  # a glance at the run; figures are hdr's
            print(json.dumps({"progress": {"orders": len(ok), "checkout_p50_ms": p50}}), flush=True)


async def run(command: dict) -> dict:
    """One command, to its end: what the shoppers did, and the CPU it took."""
    async with Shoppers(command) as shoppers:
        reporter = asyncio.create_task(shoppers.progress())
        cpu = time.process_time()
        errors = await getattr(shoppers, command["do"])()
        cpu = time.process_time() - cpu
        reporter.cancel()
    return {
        "flows": shoppers.flows,
        "get_order_ms": shoppers.get_order_ms,
        "tokens": shoppers.tokens,
        "errors": errors or [],
        "cpu_s": cpu,
    }


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(asyncio.run(run(json.loads(line)))), flush=True)


if __name__ == "__main__":
    main()
