"""Micro benchmark of the Redis broker alone: chats through two `RedisBroker`s on one Redis.

Two brokers ("nodes") in one process share R rooms of M people each; every room is served
by both. Then every room's people chat, one chat at a time per room, alternating between the
nodes, all rooms at once, until N chats were committed and both nodes' listeners heard every
one of them. Printed: this process's CPU time (`time.process_time`, so other load on the
machine matters less than in `bench/fanout`) per chat and per 1,000 deliveries (a chat
reaches M-1 people), Redis commands per chat (from `INFO commandstats`, with the commands
run inside scripts), Redis CPU per 1,000 deliveries, and the broker's counters.

    .venv/bin/python bench/broker_micro.py --rooms 50 --members 12 --chats 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import busy_ticks, machine_pcts  # noqa: E402
from rooms import MemberId, RoomId, RoomState, decide  # noqa: E402
from rooms import commands as c  # noqa: E402
from rooms.events import AnyEvent  # noqa: E402
from rooms.state import Role  # noqa: E402
from signaling.broker import Commit, NoListener  # noqa: E402
from signaling.limits import Limits  # noqa: E402
from signaling.redis_broker import RedisBroker  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


class Counter(NoListener):
    """Counts the commits a node hears; ignores the rest."""

    def __init__(self) -> None:
        self.events = 0
        self.commits = 0

    def on_commit(self, commit: Commit) -> None:
        self.commits += 1
        self.events += len(commit.events)


def engine(command: c.AnyCommand, actor: MemberId | None) -> Any:
    def run(state: RoomState, now: float) -> list[AnyEvent]:
        return decide(state, command, actor, now)

    return run


def redis_stats(server: RedisServer) -> tuple[int, dict[str, int], float]:
    import redis

    r = redis.Redis(port=server.port)
    try:
        total = int(r.info("stats")["total_commands_processed"])
        per = {
            k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in r.info("commandstats").items()
        }
        cpu = r.info("cpu")
        return total, per, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    finally:
        r.close()


async def run_once(url: str, server: RedisServer, a: argparse.Namespace) -> dict[str, Any]:
    limits = Limits()
    nodes = [RedisBroker(url, limits, grace_seconds=60.0) for _ in range(2)]
    heard = [Counter(), Counter()]
    for broker, counter in zip(nodes, heard, strict=True):
        broker.attach(counter)
        await broker.start()
    rooms = [RoomId(f"micro-{time.monotonic_ns()}-{i}") for i in range(a.rooms)]
    people = [MemberId(f"p{j}") for j in range(a.members)]
    for room in rooms:
        for broker in nodes:
            await broker.subscribe(room)
        for j, member in enumerate(people):
            arrive = c.Arrive(member, f"name {j}", Role.FACILITATOR)
            await nodes[j % 2].transact(room, engine(arrive, None))
    for broker in nodes:
        await asyncio.sleep(0.2)
        broker.stats.transacts = 0
    per_room = a.chats // a.rooms
    base = [h.events for h in heard]

    async def chatter(room: RoomId) -> None:
        for n in range(per_room):
            j = n % a.members
            chat = c.SendChat(n, f"{time.monotonic_ns()} {'x' * a.payload}")
            await nodes[j % 2].transact(
                room, engine(chat, people[j]), dedupe=f"{people[j]}:chat:{n}"
            )

    total0, per0, rcpu0 = redis_stats(server)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(chatter(r) for r in rooms))
    want = per_room * a.rooms
    deadline = time.monotonic() + 30
    while any(h.events - b < want for h, b in zip(heard, base, strict=True)):
        if time.monotonic() > deadline:
            raise RuntimeError("not everything was heard")
        await asyncio.sleep(0.001)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    total1, per1, rcpu1 = redis_stats(server)
    stats = [dataclasses.asdict(n.stats) for n in nodes]
    for broker in nodes:
        await broker.close()
    deliveries = want * (a.members - 1)
    per_cmd = {k: round((per1.get(k, 0) - per0.get(k, 0)) / want, 2) for k in per1}
    return {
        "chats": want,
        "cpu_s": round(cpu1 - cpu0, 3),
        "wall_s": round(wall1 - wall0, 3),
        "cpu_us_per_chat": round((cpu1 - cpu0) / want * 1e6, 1),
        "cpu_s_per_1k_deliveries": round((cpu1 - cpu0) / deliveries * 1000, 5),
        "redis_commands_per_chat": round((total1 - total0) / want, 2),
        "redis_commands_per_delivery": round((total1 - total0) / deliveries, 3),
        "redis_cpu_s_per_1k_deliveries": round((rcpu1 - rcpu0) / deliveries * 1000, 5),
        "commands": {k: v for k, v in sorted(per_cmd.items()) if v},
        "stats": stats,
    }


async def main_async(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hearth-micro-") as tmp:
        server = RedisServer.launch(Path(tmp), "--appendonly", "no")
        try:
            runs = []
            for _ in range(a.repeat):
                b0 = busy_ticks()
                out = await run_once(server.url, server, a)
                b1 = busy_ticks()
                out |= machine_pcts(b0, b1)
                runs.append(out)
                if not a.json:
                    print(json.dumps(out))
        finally:
            server.kill()
    summary = {
        key: statistics.median(r[key] for r in runs)
        for key in (
            "cpu_us_per_chat",
            "cpu_s_per_1k_deliveries",
            "redis_commands_per_chat",
            "redis_commands_per_delivery",
            "redis_cpu_s_per_1k_deliveries",
            "machine_busy_pct",
            "wall_s",
        )
    }
    print(json.dumps({"median_of": len(runs), **summary}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rooms", type=int, default=50)
    ap.add_argument("--members", type=int, default=12)
    ap.add_argument("--chats", type=int, default=20000)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop, as `hearth serve`")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main_async(a))
    else:
        asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
