"""Measure what one pub/sub message costs the process that receives it: ours against redis-py's `PubSub`.

Every serving process receives every award's `leaderboard:updates` message, whatever its number of clients, so
this cost is paid once per award per process. A child process publishes seed-sized `score_update` messages at a
steady rate (one at a time, as awards arrive); this process reads them, alternating between redis-py's
`PubSub.get_message(timeout=1.0)` on the client the service used before (`scoreboard.redis.create_redis`) and
`kit/subscription.py`'s `Subscription.get()`, each `--rounds` times, and reports the CPU time of this process per
message received (uvloop, as under `scoreboard serve`). redis-py's figure is the baseline of the same run.

    .tools/bin/uv run --frozen --no-sync python bench/subscription.py            # embedded Valkey, ~1 minute
    .tools/bin/uv run --frozen --no-sync python bench/subscription.py --redis-url redis://127.0.0.1:6379/0

Progress goes to stderr; the Markdown report (or JSON) to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import uvloop

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import log
from benchkit.report import emit, fmt, header, heading, machine_info, ratio

from scoreboard.config import Settings
from scoreboard.embedded.valkey import EmbeddedValkey
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.subscription import Subscription
from scoreboard.redis import create_redis

CHANNEL = "bench:subscription"
# A score_update as the award script publishes it (seed format, top 10): ~1.3 KB.
ROW = '{"rank":%d,"userId":"6f1c2a0e-8d5b-4c1e-9a3f-%012d","score":%d,"username":"player-%04d"}'
DATA = (
    '{"type":"score_update","userId":"6f1c2a0e-8d5b-4c1e-9a3f-000000000001","newScore":1234,"scoreChange":10,'
    '"actionId":"complete-quest","rank":3,"timestamp":"2026-11-25T03:40:00Z","eventId":1732505000,'
    '"previousScore":1224,"leaderboard":[' + ",".join(ROW % (i, i, 5000 - i * 10, i) for i in range(1, 11)) + "]}"
)
PUBLISHER = """
import sys, time, redis
url, channel, count, rate, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
client = redis.Redis.from_url(url)
start = time.perf_counter()
for i in range(count):
    client.publish(channel, data)
    while time.perf_counter() < start + (i + 1) / rate:
        pass
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="CPU per pub/sub message received: kit/subscription.py against redis-py's PubSub.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=6000, help="messages per round")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second (awards/s of a busy board)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per client, alternated")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of an embedded Valkey")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def _publish(url: str, count: int, rate: float) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-c", PUBLISHER, url, CHANNEL, str(count), str(rate), DATA]
    return subprocess.Popen(args)  # noqa: S603 - our own interpreter and arguments


async def _measure(url: str, count: int, rate: float, take: Callable[[], Awaitable[int]]) -> float:
    """CPU seconds of this process per message, from the first message received to the last."""
    publisher = _publish(url, count, rate)
    try:
        received = await take()  # the first: CPU is counted from here on
        started = time.process_time()
        while received < count:
            received += await take()
        return (time.process_time() - started) / (count - 1)
    finally:
        publisher.wait(timeout=60)


async def redis_py_round(url: str, count: int, rate: float) -> float:
    """redis-py's PubSub as the hub read it: `get_message(ignore_subscribe_messages=True, timeout=1.0)`."""
    client = create_redis(Settings(redis_url=url))
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)

    async def take() -> int:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        return int(message is not None)

    try:
        return await _measure(url, count, rate, take)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def ours_round(url: str, count: int, rate: float) -> float:
    """`Subscription.get()`: every message that arrived together in one call."""
    subscription = await Subscription.open(Pipelined.from_url(url), (CHANNEL,))

    async def take() -> int:
        return len(await subscription.get())

    try:
        return await _measure(url, count, rate, take)
    finally:
        subscription.close()


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    report = header(machine_info())
    report["settings"] = {"messages": args.messages, "rate": args.rate, "rounds": args.rounds, "bytes": len(DATA)}
    figures: dict[str, list[float]] = {"redis-py": [], "ours": []}
    for n in range(args.rounds):
        for name, round_ in (("redis-py", redis_py_round), ("ours", ours_round)):
            seconds = await round_(url, args.messages, args.rate)
            figures[name].append(seconds * 1e6)
            log(f"round {n + 1}: {name} {seconds * 1e6:.1f} us per message")
    report["us_per_message"] = figures
    medians = {name: statistics.median(values) for name, values in figures.items()}
    report["median_us_per_message"] = medians
    report["ours_over_redis_py"] = ratio(medians["ours"], medians["redis-py"])
    return report


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        *heading("Pub/sub message cost", report),
        f"- {s['messages']:,} messages of {s['bytes']:,} bytes per round at {s['rate']:,.0f}/s, {s['rounds']} rounds"
        " per client, alternated; CPU of the receiving process per message",
        "",
        "| Client | Per message, each round | Median |",
        "|---|---|--:|",
    ]
    for name, values in report["us_per_message"].items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {rounds} µs | {fmt(report['median_us_per_message'][name], 1)} µs |")
    lines += ["", f"- ours ÷ redis-py: **{fmt(report['ours_over_redis_py'], 2)}**", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.redis_url is not None:
        emit(uvloop.run(run(args, args.redis_url)), args.json, markdown)
        return 0
    with tempfile.TemporaryDirectory(prefix="scoreboard-bench-") as folder:
        valkey = EmbeddedValkey(Path(folder))
        valkey.start()
        try:
            emit(uvloop.run(run(args, valkey.url())), args.json, markdown)
        finally:
            valkey.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
