"""Circle fan-out benchmark: R rooms x M members chatting at a fixed rate through Hearth.

The workload is the one of ../shared/bench-anchors (50 rooms x 12 members, 1 message/s per
member, 64-byte padding): every chat must reach the other M-1 members of its room. Load
generators are separate processes (uvloop + websockets), so they never share the node's
event loop; they timestamp each chat with CLOCK_MONOTONIC, which every process on the machine
shares, and keep latencies in a histogram of 10 us buckets.

Modes:
  fanout    one run at --rate; prints deliveries/s, latency p50/p99/max, server CPU seconds
            per 1,000 deliveries, losses, and the nodes' garbage collections meanwhile
  saturate  steps of increasing --sat-rates until p99 > --sat-p99-ms or any loss
  idle      --idle-conns connections that only join; prints server RSS per connection

Every loop is bounded: connects and joins have timeouts, send schedules end at a fixed time,
and the run has a drain window after which whatever has not arrived counts as lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parent.parent
BUCKET_US = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the node(s) under test ---------------------------------------------------------------


@dataclass
class Nodes:
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]
    admin: str
    data_dir: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def ws(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.ports[i]}/ws"

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def collector_pauses(nodes: Nodes) -> dict[str, float] | None:
    """The nodes' garbage-collector pauses so far (`hearth_gc_pause_seconds`), summed over
    nodes: count and seconds of young (generations 0 and 1) and full collections. None when
    a node does not answer in time: past its saturation a node's /metrics waits behind the
    backlog, and the run's other figures are still worth having."""
    from prometheus_client.parser import text_string_to_metric_families

    total = {"young": 0.0, "young_s": 0.0, "full": 0.0, "full_s": 0.0}
    for i in range(len(nodes.ports)):
        try:
            with urllib.request.urlopen(nodes.url(i) + "/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:  # a timeout, or the node refusing: no figure rather than no run
            return None
        for family in text_string_to_metric_families(text):
            if family.name != "hearth_gc_pause_seconds":
                continue
            for sample in family.samples:
                kind = "full" if sample.labels.get("generation") == "2" else "young"
                if sample.name.endswith("_count"):
                    total[kind] += sample.value
                elif sample.name.endswith("_sum"):
                    total[kind + "_s"] += sample.value
    return total


def collections_between(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float | int | None]:
    if before is None or after is None:
        return dict.fromkeys(("gc_full", "gc_full_ms", "gc_young", "gc_young_ms"))
    return {
        "gc_full": int(after["full"] - before["full"]),
        "gc_full_ms": round((after["full_s"] - before["full_s"]) * 1000, 1),
        "gc_young": int(after["young"] - before["young"]),
        "gc_young_ms": round((after["young_s"] - before["young_s"]) * 1000, 1),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nodes(count: int, redis_url: str | None, log_dir: Path) -> Nodes:
    admin = secrets.token_urlsafe(24)
    data_dir = log_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        HEARTH_ADMIN_TOKEN=admin,
        # The generator connects everyone from 127.0.0.1: lift the per-address caps.
        HEARTH_CONNECTIONS_PER_IP="1000000",
        HEARTH_HELLO_PER_MINUTE="1000000",
        HEARTH_RATE_PER_SECOND="1000",
        HEARTH_RATE_BURST="1000",
        HEARTH_LOG_FORMAT="json",
    )
    if redis_url:
        env["HEARTH_REDIS_URL"] = redis_url
    nodes = Nodes([], [], admin, data_dir)
    for i in range(count):
        port = free_port()
        log = log_dir / f"node-{i}.log"
        argv = [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--data-dir", str(data_dir)]
        proc = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        nodes.procs.append(proc)
        nodes.ports.append(port)
        nodes.logs.append(log)
    for i in range(count):
        for _ in range(100):  # bounded: 10 s
            try:
                with urllib.request.urlopen(nodes.url(i) + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            nodes.stop()
            raise RuntimeError(f"node {i} did not start; see {nodes.logs[i]}")
    return nodes


def create_room(nodes: Nodes, name: str) -> dict[str, str]:
    req = urllib.request.Request(
        nodes.url(0) + "/api/rooms",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": f"Bearer {nodes.admin}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        body = json.loads(r.read())
    return {"id": body["id"], "token": body["facilitator"]}


@dataclass
class Redis:
    proc: subprocess.Popen[bytes] | None
    url: str
    port: int

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def commands(self) -> int:
        """Commands Redis has processed so far (INFO stats), for commands per delivery."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "INFO", "stats"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
        for line in out.splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        return 0


def start_redis(spec: str, log_dir: Path) -> Redis:
    """`start`: our own redis-server on a free port (no persistence, like the anchors' run);
    anything else is a URL of a Redis someone else runs."""
    if spec != "start":
        port = int(spec.rsplit(":", 1)[1].split("/")[0])
        return Redis(None, spec, port)
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(log_dir)]
    log = (log_dir / "redis.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):  # bounded: 10 s
        probe = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True)
        if probe.stdout.strip() == b"PONG":
            break
        time.sleep(0.1)
    return Redis(proc, f"redis://127.0.0.1:{port}/0", port)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in parts[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def busy_ticks() -> tuple[int, int, int]:
    """The machine's (busy, total, steal) ticks so far. Steal is time the hypervisor gave
    to other guests while ours wanted to run: counted as busy, and the likeliest cause of
    one run differing from the next on a shared host."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    steal = parts[7] if len(parts) > 7 else 0
    return sum(parts) - idle, sum(parts), steal


def machine_pcts(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict[str, float]:
    """The machine's busy and stolen shares between two `busy_ticks` readings, in %."""
    total = max(1, after[1] - before[1])
    return {
        "machine_busy_pct": round((after[0] - before[0]) / total * 100, 1),
        "machine_steal_pct": round((after[2] - before[2]) / total * 100, 1),
    }


# --- the load generator (one process per shard of rooms) -----------------------------------


@dataclass
class Shard:
    rooms: list[tuple[int, str, str]]  # (room index, room id, token)
    members: int
    urls: list[str]
    rate: float
    payload: int
    idle: bool = False


class Worker:
    def __init__(self, shard: Shard) -> None:
        self.s = shard
        self.hist: Counter[int] = Counter()
        self.max_us = 0
        self.received = 0
        self.extra = 0
        self.self_echo = 0
        self.sent_measured: Counter[int] = Counter()  # room index -> measured messages sent
        self.sockets: list[Any] = []
        self.lag_max = 0.0
        self.measure_from = 0
        self.measure_to = 0

    async def join_all(self) -> int:
        from websockets.asyncio.client import connect

        failures = 0
        sem = asyncio.Semaphore(50)

        async def join(room: tuple[int, str, str], j: int) -> None:
            nonlocal failures
            async with sem:
                try:
                    ws = await connect(
                        self.s.urls[j % len(self.s.urls)],
                        compression=None,
                        max_size=2**20,
                        open_timeout=20,
                        ping_interval=None,
                    )
                    hello = {
                        "t": "hello",
                        "room": room[1],
                        "token": room[2],
                        "name": f"m{j}",
                        "accept": True,
                    }
                    await ws.send(msgpack.packb(hello))
                    for _ in range(50):  # bounded: skip anything before the welcome
                        frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 20))
                        if frame.get("t") == "welcome":
                            break
                    else:
                        raise RuntimeError("no welcome")
                    self.sockets.append((room[0], j, ws))
                except Exception:
                    failures += 1

        await asyncio.gather(*(join(r, j) for r in self.s.rooms for j in range(self.s.members)))
        return failures

    async def read(self, room: int, me: int, ws: Any) -> None:
        unpack = msgpack.unpackb
        try:
            async for data in ws:
                frame = unpack(data)
                if frame.get("type") != "chat":
                    continue
                now = time.monotonic_ns()
                sent_ns, sender, _, measured, _ = frame["text"].split(" ", 4)
                if int(sender) == me:
                    self.self_echo += 1
                    continue
                if measured == "1":
                    us = (now - int(sent_ns)) // 1000
                    self.hist[us // BUCKET_US] += 1
                    self.max_us = max(self.max_us, us)
                    self.received += 1
                else:
                    self.extra += 1
        except Exception:
            pass

    async def send(self, room: int, me: int, ws: Any, t0: float, t_end: float) -> None:
        period = 1.0 / self.s.rate
        at = t0 + random.random() * period
        pad = "x" * self.s.payload
        n = 0
        while at < t_end:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag_max = max(self.lag_max, -delay)
            measured = self.measure_from <= at < self.measure_to
            text = f"{time.monotonic_ns()} {me} {n} {int(measured)} {pad}"
            n += 1
            try:
                await ws.send(msgpack.packb({"t": "chat", "id": n, "text": text}))
            except Exception:
                return
            if measured:
                self.sent_measured[room] += 1
            at += period

    async def run(self, conn: Any) -> None:
        failures = await self.join_all()
        conn.send(("ready", {"connected": len(self.sockets), "failures": failures}))
        cmd, args = conn.recv()
        if cmd == "stop":
            for _, _, ws in self.sockets:
                await ws.close()
            conn.send(("result", {}))
            return
        t0, warmup, duration, drain = args
        self.measure_from, self.measure_to = t0 + warmup, t0 + warmup + duration
        t_end = self.measure_to
        readers = [asyncio.create_task(self.read(r, j, ws)) for r, j, ws in self.sockets]
        await asyncio.gather(*(self.send(r, j, ws, t0, t_end) for r, j, ws in self.sockets))
        await asyncio.sleep(max(0.0, t_end + drain - time.monotonic()))
        for _, _, ws in self.sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        members_in: Counter[int] = Counter(r for r, _, _ in self.sockets)
        expected = sum(n * (members_in[r] - 1) for r, n in self.sent_measured.items())
        conn.send(
            (
                "result",
                {
                    "hist": dict(self.hist),
                    "max_us": self.max_us,
                    "received": self.received,
                    "expected": expected,
                    "extra": self.extra,
                    "self_echo": self.self_echo,
                    "sent": sum(self.sent_measured.values()),
                    "lag_max_ms": self.lag_max * 1000,
                },
            )
        )


def worker_main(shard: Shard, conn: Any) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.run(Worker(shard).run(conn))
    except ImportError:
        asyncio.run(Worker(shard).run(conn))


# --- one measured run -----------------------------------------------------------------------


def percentile(hist: Counter[int], total: int, q: float) -> float:
    if total == 0:
        return 0.0
    need, seen = q * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= need:
            return (bucket + 1) * BUCKET_US / 1000
    return 0.0


def spawn(shards: list[Shard]) -> list[tuple[BaseProcess, Any]]:
    ctx = mp.get_context("spawn")
    out: list[tuple[BaseProcess, Any]] = []
    for shard in shards:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(shard, child), daemon=True)
        p.start()
        out.append((p, parent))
    return out


def recv(conn: Any, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError("a load generator did not answer in time")
    return conn.recv()


def plan(nodes: Nodes, a: argparse.Namespace, rooms: int, rate: float, idle: bool) -> list[Shard]:
    made = [(i, *create_room(nodes, f"bench-{i}").values()) for i in range(rooms)]
    urls = [nodes.ws(i) for i in range(len(nodes.ports))]
    procs = max(1, min(a.gen_procs, rooms))
    return [
        Shard([r for r in made if r[0] % procs == k], a.members, urls, rate, a.payload, idle)  # type: ignore[misc]
        for k in range(procs)
    ]


def fanout(
    nodes: Nodes, a: argparse.Namespace, rate: float, duration: float, redis: Redis | None
) -> dict[str, Any]:
    workers = spawn(plan(nodes, a, a.rooms, rate, idle=False))
    redis_pids = [redis.proc.pid] if redis is not None and redis.proc is not None else []
    try:
        ready = [recv(c, 120)[1] for _, c in workers]
        t0 = time.monotonic() + 0.5
        for _, c in workers:
            c.send(("go", (t0, a.warmup, duration, a.drain)))
        time.sleep(max(0.0, t0 + a.warmup - time.monotonic()))
        cpu0, busy0 = cpu_seconds(nodes.pids), busy_ticks()
        gc0 = collector_pauses(nodes)
        rcpu0 = cpu_seconds(redis_pids)
        rcmd0 = redis.commands() if redis is not None else 0
        time.sleep(max(0.0, t0 + a.warmup + duration - time.monotonic()))
        busy1 = busy_ticks()
        gc1 = collector_pauses(nodes)
        time.sleep(a.drain)
        cpu1 = cpu_seconds(nodes.pids)
        rcpu1 = cpu_seconds(redis_pids)
        rcmd1 = redis.commands() if redis is not None else 0
        results = [recv(c, 60)[1] for _, c in workers]
    finally:
        for p, _ in workers:
            p.join(5)
            if p.is_alive():
                p.kill()
    hist: Counter[int] = Counter()
    for r in results:
        hist.update({int(k): v for k, v in r["hist"].items()})
    received = sum(r["received"] for r in results)
    expected = sum(r["expected"] for r in results)
    cpu = cpu1 - cpu0
    return {
        "rate_per_member": rate,
        "connections": sum(x["connected"] for x in ready),
        "connect_failures": sum(x["failures"] for x in ready),
        "sent": sum(r["sent"] for r in results),
        "expected": expected,
        "received": received,
        "lost": expected - received,
        "deliveries_per_s": round(received / duration, 1),
        "p50_ms": percentile(hist, received, 0.50),
        "p99_ms": percentile(hist, received, 0.99),
        "max_ms": round(max(r["max_us"] for r in results) / 1000, 2),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_s_per_1k": round(cpu / (received / 1000), 4) if received else None,
        "server_cpu_pct": round(cpu / (duration + a.drain) * 100, 1),
        **machine_pcts(busy0, busy1),
        "send_lag_max_ms": round(max(r["lag_max_ms"] for r in results), 2),
        # The nodes' garbage collections while measuring (server/collector.py).
        **collections_between(gc0, gc1),
        "redis_cpu_s_per_1k": (
            round((rcpu1 - rcpu0) / (received / 1000), 4) if redis_pids and received else None
        ),
        "redis_commands_per_delivery": (
            round((rcmd1 - rcmd0) / received, 3) if redis is not None and received else None
        ),
    }


def idle(nodes: Nodes, a: argparse.Namespace) -> dict[str, Any]:
    rooms = max(1, a.idle_conns // a.members)
    time.sleep(1)
    base = rss_kib(nodes.pids)
    workers = spawn(plan(nodes, a, rooms, 0.0, idle=True))
    try:
        ready = [recv(c, 300)[1] for _, c in workers]
        time.sleep(5)  # let allocations settle
        loaded = rss_kib(nodes.pids)
        cpu0 = cpu_seconds(nodes.pids)
        time.sleep(10)
        idle_cpu = (cpu_seconds(nodes.pids) - cpu0) / 10 * 100
        for _, c in workers:
            c.send(("stop", None))
        for _, c in workers:
            recv(c, 60)
    finally:
        for p, _ in workers:
            p.join(5)
            if p.is_alive():
                p.kill()
    conns = sum(x["connected"] for x in ready)
    return {
        "connections": conns,
        "connect_failures": sum(x["failures"] for x in ready),
        "rss_base_mib": round(base / 1024, 1),
        "rss_loaded_mib": round(loaded / 1024, 1),
        "rss_per_connection_kib": round((loaded - base) / max(1, conns), 1),
        "idle_cpu_pct": round(idle_cpu, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="fanout", help="fanout, saturate, idle (comma list)")
    ap.add_argument("--rooms", type=int, default=50)
    ap.add_argument("--members", type=int, default=12)
    ap.add_argument("--rate", type=float, default=1.0, help="chat messages/s per member")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--drain", type=float, default=3.0)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--gen-procs", type=int, default=2)
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument(
        "--redis",
        default=None,
        help="'start' (a redis-server of the benchmark's own) or redis://... of a running one",
    )
    ap.add_argument("--sat-rates", default="2,3,4,5,6,8,10,12,16")
    ap.add_argument("--sat-duration", type=float, default=8.0)
    ap.add_argument("--sat-p99-ms", type=float, default=50.0)
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--json", action="store_true", help="print one JSON line only")
    a = ap.parse_args(argv)

    import resource
    import tempfile

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, Any] = {
        "rooms": a.rooms,
        "members": a.members,
        "nodes": a.nodes,
        "redis": bool(a.redis),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        for mode in a.mode.split(","):
            where = Path(tmp) / mode
            where.mkdir(parents=True)
            redis = start_redis(a.redis, where) if a.redis else None
            nodes = start_nodes(a.nodes, redis.url if redis else None, where)
            try:
                if mode == "fanout":
                    out["fanout"] = fanout(nodes, a, a.rate, a.duration, redis)
                elif mode == "saturate":
                    steps = []
                    for rate in (float(r) for r in a.sat_rates.split(",")):
                        step = fanout(nodes, a, rate, a.sat_duration, redis)
                        steps.append(step)
                        if step["lost"] or step["p99_ms"] > a.sat_p99_ms:
                            break
                    passing = [s for s in steps if not s["lost"] and s["p99_ms"] <= a.sat_p99_ms]
                    out["saturate"] = {
                        "steps": steps,
                        "highest_passing_rate": passing[-1]["rate_per_member"] if passing else None,
                    }
                elif mode == "idle":
                    out["idle"] = idle(nodes, a)
                else:
                    raise SystemExit(f"unknown mode {mode}")
            finally:
                nodes.stop()
                if redis is not None:
                    redis.stop()
    if a.json:
        print(json.dumps(out))
    else:
        report(out)
    return 0


def report(out: dict[str, Any]) -> None:
    print(
        f"Hearth fan-out: {out['rooms']} rooms x {out['members']} members, {out['nodes']} node(s)"
    )
    f = out.get("fanout")
    if f:
        print(
            f"  fanout @ {f['rate_per_member']}/s/member: {f['deliveries_per_s']} deliveries/s, "
            f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms, "
            f"lost {f['lost']} of {f['expected']}"
        )
        print(
            f"  server CPU {f['server_cpu_s_per_1k']} s per 1,000 deliveries "
            f"({f['server_cpu_pct']}% of a core; machine {f['machine_busy_pct']}% busy, "
            f"including {f['machine_steal_pct']}% stolen by the host)"
        )
        if f["gc_full"] is None:
            print("  collector: not read (a node's /metrics did not answer within 5 s)")
        else:
            print(
                f"  collector: {f['gc_full']} full collections ({f['gc_full_ms']} ms), "
                f"{f['gc_young']} young ({f['gc_young_ms']} ms) while measuring"
            )
        if f.get("redis_commands_per_delivery") is not None:
            print(
                f"  Redis: {f['redis_commands_per_delivery']} commands per delivery, "
                f"CPU {f['redis_cpu_s_per_1k']} s per 1,000 deliveries"
            )
    s = out.get("saturate")
    if s:
        for step in s["steps"]:
            print(
                f"  saturate @ {step['rate_per_member']}/s/member: {step['deliveries_per_s']}/s, "
                f"p99 {step['p99_ms']} ms, lost {step['lost']}, machine {step['machine_busy_pct']}%"
            )
        print(f"  highest passing rate: {s['highest_passing_rate']} msg/s/member")
    i = out.get("idle")
    if i:
        print(
            f"  idle: {i['connections']} connections ({i['connect_failures']} failed), "
            f"{i['rss_per_connection_kib']} KiB per connection, idle CPU {i['idle_cpu_pct']}%"
        )
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
