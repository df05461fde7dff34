"""One node's per-chat code path in one process, with no network: CPU per chat.

The fan-out benchmark (bench/fanout) is the measure that counts, but on this shared 2-core
machine its CPU figure moves by 10-20 % from run to run. This one drives the node's own
code (uvicorn's protocol subclass, the /ws endpoint, the connection, the memory broker,
the hub and the outlets) exactly as a socket would, with transports that throw the bytes
away, so it measures Hearth's user-space work per chat and nothing else: no kernel, no
load generator, caches warm. Use it to compare two versions of the code; under callgrind
(`--callgrind`) it prints instructions per chat, which repeat to the last digit.

    .venv/bin/python bench/hotpath.py                   # process CPU µs per chat
    .venv/bin/python bench/hotpath.py --callgrind       # instructions per chat (slow)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import structlog
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.app import create_app
from server.settings import Settings
from server.state import node_state
from server.ws import WebSocketEndpoint
from server.ws_protocol import protocol_class
from signaling.limits import Limits


class NullTransport(asyncio.Transport):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class Member:
    def __init__(self, proto: Any, transport: NullTransport, client: ClientProtocol) -> None:
        self.proto, self.transport, self.client = proto, transport, client

    def frame(self, message: dict[str, Any]) -> bytes:
        self.client.send_binary(msgpack.packb(message))
        return b"".join(self.client.data_to_send())

    async def say(self, message: dict[str, Any]) -> None:
        """Hand one frame to the node and wait (a bounded number of loop turns) for the
        answer written back to this member."""
        before = self.transport.writes
        self.proto.data_received(self.frame(message))
        for _ in range(100):
            if self.transport.writes > before:
                return
            await asyncio.sleep(0)
        raise RuntimeError(f"no answer to {message['t']}")


async def connect(cls: type[Any], config: Config) -> Member:
    proto = cls(config, ServerState(), {})
    transport = NullTransport()
    proto.connection_made(transport)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws"), max_size=None)
    client.send_request(client.connect())
    proto.data_received(b"".join(client.data_to_send()))
    for _ in range(100):
        await asyncio.sleep(0)
        if proto.handshake_complete:
            break
    # The client side never reads what the node writes: its handshake answer is taken as
    # given, so the client may frame messages.
    client.state = State.OPEN
    client.parser = client.parse()
    next(client.parser)
    return Member(proto, transport, client)


async def run(members: int, chats: int, data_dir: Path) -> tuple[float, int]:
    limits = Limits(connections_per_ip=10**6, hello_per_minute=10**6, rate_per_second=10**6)
    token = "hotpath-admin-token-0123456789"
    settings = Settings(data_dir=data_dir, admin_token=token, limits=limits)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        room, tokens = await node_state(app).store.create("hot path")
        direct = WebSocketEndpoint(lambda _scope: app.state.signaling)
        config = Config(
            app=app, ws="websockets-sansio", lifespan="off", ws_max_size=32768, log_level="warning"
        )
        config.load()
        cls = protocol_class(limits.outbound_bytes, direct)
        circle = []
        for i in range(members):
            m = await connect(cls, config)
            hello: dict[str, Any] = {"t": "hello", "room": room.id, "name": f"p{i}", "accept": True}
            hello["token"] = tokens.facilitator if i == 0 else tokens.invite
            await m.say(hello)
            circle.append(m)
        facilitator = circle[0]
        await facilitator.say({"t": "cmd", "id": 1, "op": "admit_all", "args": {}})
        for _ in range(10):
            await asyncio.sleep(0)
        pad = "x" * 64
        for i in range(200):  # warm-up
            await circle[i % members].say({"t": "chat", "id": 10**6 + i, "text": pad})
        writes = sum(m.transport.writes for m in circle)
        started = time.process_time()
        for i in range(chats):
            await circle[i % members].say({"t": "chat", "id": i + 1, "text": f"{i} {pad}"})
        cpu = time.process_time() - started
        writes = sum(m.transport.writes for m in circle) - writes
        return cpu, writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=12)
    ap.add_argument("--chats", type=int, default=20000)
    ap.add_argument("--callgrind", action="store_true", help="instructions per chat")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if a.callgrind:
        print(f"instructions per chat: {callgrind(a.members):,.0f}")
        return
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cpu, writes = uvloop.run(run(a.members, a.chats, Path(tmp)))
        print(
            f"{cpu / a.chats * 1e6:.1f} µs CPU per chat, {writes / a.chats:.2f} writes per chat "
            f"({a.chats} chats in a circle of {a.members})"
        )


def callgrind(members: int) -> float:
    """Instructions of a run with 3,000 chats minus one with 1,000, per chat: the set-up
    and start-up cancel out."""
    if shutil.which("valgrind") is None:
        sys.exit("bench/hotpath.py: --callgrind needs valgrind (apt install valgrind)")
    totals = []
    for chats in (1000, 3000):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    __file__,
                    "--chats",
                    str(chats),
                    "--members",
                    str(members),
                    "--repeat",
                    "1",
                ],
                check=True,
                capture_output=True,
            )
            for line in Path(out).read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    totals.append(int(line.split()[1]))
                    break
    return (totals[1] - totals[0]) / 2000


if __name__ == "__main__":
    main()
