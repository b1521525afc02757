"""The load client: aiohttp on asyncio, in a process of its own so that its CPU is not the
stack's. One JSON command on standard input, one JSON answer on standard output; progress
on standard error every 5 s.

    {"base": URL, "tokens": [...], "products": [...], "steps": [STEP, ...]}

A step is {"do": "closed", "clients": N, "seconds": S} (N shoppers, each starting an order
as soon as its last one ended), {"do": "open", "rate": R, "seconds": S} (an order started
every 1/R s whatever the others are doing), or {"do": "register", "usernames": [...]}
(Shopflow's sign-up, then its API token). An order is three requests: cart, item, checkout.
The answer: {"flows": [[started, checkout ms, error], ...], "tokens": [...]}.
"""

import asyncio
import json
import random
import sys
import time

import aiohttp

PASSWORD = "bench-Pa55word-long-enough"


class Shoppers:
    def __init__(self, command: dict, session: aiohttp.ClientSession):
        self.base, self.session = command["base"], session
        self.tokens, self.products = command.get("tokens", []), command.get("products", [])
        self.random = random.Random(7)
        self.flows: list[list] = []

    async def request(self, method: str, path: str, token: str = "", body=None):
        headers = {"Authorization": f"Token {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.read()

    async def order(self, token: str) -> None:
        started, error, checkout_ms = time.time(), "", 0.0
        try:
            status, data = await self.request("POST", "/api/carts/", token)
            if status != 201:
                raise ValueError(f"cart {status}")
            cart = json.loads(data)["id"]
            item = {"product_id": self.random.choice(self.products), "quantity": 1}
            status, _ = await self.request("POST", f"/api/carts/{cart}/items/", token, item)
            if status != 201:
                raise ValueError(f"item {status}")
            before = time.perf_counter()
            status, _ = await self.request("POST", "/api/orders/", token, {"cart_id": cart})
            checkout_ms = (time.perf_counter() - before) * 1000
            if status != 201:
                raise ValueError(f"checkout {status}")
        except (ValueError, TimeoutError, aiohttp.ClientError) as exc:
            error = str(exc) or type(exc).__name__
        self.flows.append([started, checkout_ms, error])

    async def closed(self, step: dict) -> None:
        deadline = time.monotonic() + step["seconds"]

        async def loop(token):
            while time.monotonic() < deadline:
                await self.order(token)

        await asyncio.gather(*(loop(token) for token in self.tokens[: step["clients"]]))

    async def open(self, step: dict) -> None:
        rate, start, tasks = step["rate"], time.monotonic(), []
        for n in range(int(step["seconds"] * rate)):
            await asyncio.sleep(max(start + n / rate - time.monotonic(), 0))
            tasks.append(asyncio.create_task(self.order(self.tokens[n % len(self.tokens)])))
        await asyncio.gather(*tasks)

    async def register(self, step: dict) -> None:
        """One at a time: the login throttle counts attempts in flight from one address."""
        for name in step["usernames"]:
            body = {"username": name, "email": f"{name}@bench.example", "password": PASSWORD}
            status, data = await self.request("POST", "/api/auth/register/", body=body)
            if status == 201:
                body = {"username": name, "password": PASSWORD}
                status, data = await self.request("POST", "/api/auth/token/", body=body)
            if status != 200:
                raise SystemExit(f"registering {name}: {status} {data[:300]!r}")
            self.tokens.append(json.loads(data)["token"])

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(5)
            done = [f for f in self.flows if not f[2]]
            print(
                f"    ... {len(done)} orders, {len(self.flows) - len(done)} errors", file=sys.stderr
            )


async def run(command: dict) -> dict:
    # Idle connections dropped before the server's 5 s keep-alive would close them under
    # a request (a reset, not a server failure).
    connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=3)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        shoppers = Shoppers(command, session)
        reporter = asyncio.create_task(shoppers.progress())
        for step in command["steps"]:
            await getattr(shoppers, step["do"])(step)
        reporter.cancel()
    return {"flows": shoppers.flows, "tokens": shoppers.tokens}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.stdin.read())))))
