"""A TCP proxy that holds every chunk `delay` seconds each way, in order: the latency of a
long link, for a host whose kernel has no netem. The delay is read from a file, so that
a test changes it while connections stay open.

    python -m tests.support.delay_proxy LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_FILE
"""

import asyncio
import sys
import time
from pathlib import Path


class Delay:
    def __init__(self, path: Path):
        self.path = path
        self.seconds = 0.0
        self.read_at = 0.0

    def now(self) -> float:
        if time.monotonic() - self.read_at > 0.5:
            self.read_at = time.monotonic()
            try:
                self.seconds = float(self.path.read_text() or 0)
            except (OSError, ValueError):
                self.seconds = 0.0
        return self.seconds


async def pipe(reader, writer, delay: Delay) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def forward():
        while (item := await queue.get()) is not None:
            due, data = item
            # A fixed wait is the point: each chunk is held until its due time (the latency).
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # a fixed wait is the point
            writer.write(data)
            await writer.drain()
        writer.close()

    forwarding = asyncio.create_task(forward())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay.now(), data))
    except ConnectionError:
        pass
    queue.put_nowait(None)
    await forwarding


async def main(listen: str, target: str, delay_file: str) -> None:
    delay = Delay(Path(delay_file))
    target_host, target_port = target.rsplit(":", 1)

    async def serve(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(
                target_host, int(target_port)
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer, delay),
            pipe(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    host, port = listen.rsplit(":", 1)
    server = await asyncio.start_server(serve, host, int(port))
    print(f"delay proxy {listen} -> {target} ready.", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
