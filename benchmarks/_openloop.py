"""An open-loop, rate-limited HTTP/1.1 load generator (wrk2's method, in Python): the p99 at a fixed rate.

wrk (4.1, Debian) has no fixed-rate mode and wrk2 is not installed. This client schedules request i
at start + i/rate and measures each latency from its *scheduled* time, so a slow response that
delays later requests counts against the server (no coordinated omission). Requests go out over a
pool of keep-alive connections; if none is free, the request waits in the queue and the wait is
part of its latency. Prints one JSON line: achieved rate, p50/p90/p99/max in ms, non-200 count.

Run: python benchmarks/_openloop.py --url http://127.0.0.1:8000/v1/scores --body body.json \
         --header "Authorization: Bearer …" --rate 400 --duration 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


async def run(url: str, body: bytes, headers: list[str], rate: float, duration: float, warmup: float,
              connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{h}\r\n" for h in headers)
    request = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"non200": 0, "done": 0}
    start = time.perf_counter() + 0.2
    measure_from = start + warmup

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                scheduled = await queue.get()
                if scheduled is None:
                    return
                writer.write(request)
                status = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    elif name.strip().lower() == b"transfer-encoding":
                        raise SystemExit("chunked responses are not supported by this client")
                if length:
                    await reader.readexactly(length)
                finished = time.perf_counter()
                counts["done"] += 1
                if status[9:12] != b"200":
                    counts["non200"] += 1
                if scheduled >= measure_from:
                    latencies.append(finished - scheduled)
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    total = int(rate * (warmup + duration))
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            queue.put_nowait(start + sent / rate)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - measure_from
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"target_rate": rate, "achieved_rate": len(latencies) / elapsed if elapsed > 0 else 0.0,
            "requests": len(latencies), "non200": counts["non200"], "p50_ms": pct(0.50), "p90_ms": pct(0.90),
            "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000 if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="file with the JSON body")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent but not measured")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    coro = run(args.url, Path(args.body).read_bytes(), args.header, args.rate, args.duration, args.warmup,
               args.connections)
    try:
        import uvloop
    except ImportError:  # plain asyncio works, just slower
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
