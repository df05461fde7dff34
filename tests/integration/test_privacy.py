"""Confidentiality, tested: a whole meeting on a real node (JSON logs), with errors and
failures on the way, leaves none of its names, words or tokens in the node's output or on its
disk.

Every secret of the scenario carries a distinctive marker. Afterwards:
- nothing the node wrote to stdout or stderr contains any marker, nor any distinctive word
  of one (a truncated name is still a name): logs carry ids and counts only;
- nothing under the data directory (read as bytes: the SQLite file, its WAL and shm) holds a
  name, a chat, a note, a topic, a key or a token. The room's own definition (name,
  guidelines, crisis text) is durable by design and is found there, which also proves the
  scan reads the room store at all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
from collections.abc import Iterable
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from signaling.client import Client, CommandError
from signaling.closes import Close
from tests.integration.nodes import NodeFactory
from tests.integration.rawws import Raw, api, expect_event, pack

# Durable by design: the room's definition. Still never in a log line.
ROOM_NAME = "Lantern Hollow Circle"
GUIDELINES = "Juniperwise guideline: what is said in Lantern Hollow stays there."
CRISIS = "Asterfield crisis line 0800 111 222"

FACILITATOR = "Zephyrine Quartzwell"
MEMBER = "Barnaby Thistlewick"
SECOND = "Odalys Fernwhistle"
GUEST = "Ignatius Marrowby"
STRANGER = "Ophelia Brackenridge"
KEY = "key-Marigold-Sorrelgate-7731"
FACILITATOR_KEY = "key-Hawthorn-Quillon-1180"
SECOND_KEY = "key-Bramblecot-Vesper-5512"
CHAT = "Vermilion kestrels nest quietly in November"
CHAT_BOX = b"Cinnabar-sealed-ciphertext-Wolfsbane"
SUPPORT = "Saffronowl: I am struggling with the anniversary tonight"
LOBBY_SUPPORT = "Tamarisk: can someone talk with me before I join"
TOPIC = "Obsidianheron: grief and the holidays"
LOBBY_MESSAGE = "Pellucidawn: we start in five minutes"
SDP = "v=0 o=Cobaltfinch 4242 IN IP4 192.0.2.77"
GUESSED_TOKEN = "Guessedtoken-Larkspur-9931"
PATH_MARKER = "Pathmarker-Quincewood"

SECRET_TEXT = [FACILITATOR, MEMBER, SECOND, GUEST, STRANGER, KEY, FACILITATOR_KEY, SECOND_KEY,
               CHAT, CHAT_BOX.decode(), SUPPORT, LOBBY_SUPPORT, TOPIC, LOBBY_MESSAGE, SDP,
               GUESSED_TOKEN, PATH_MARKER]  # fmt: skip
ROOM_TEXT = [ROOM_NAME, GUIDELINES, CRISIS]


def words(texts: Iterable[str]) -> set[str]:
    """Each text, and each distinctive word in it (7+ letters, not a common word)."""
    common = {"holidays", "struggling", "anniversary", "ciphertext", "guideline", "someone",
              "November", "quietly", "minutes", "tonight", "Circle", "Lantern", "Hollow",
              "sealed"}  # fmt: skip
    found = set(texts)
    for text in texts:
        found.update(w for w in re.findall(r"[A-Za-z]{7,}", text) if w not in common)
    return found


def leaks(haystack: str | bytes, needles: Iterable[str]) -> list[str]:
    """The needles found in `haystack`, ignoring case."""
    if isinstance(haystack, bytes):
        hay = haystack.lower()
        return sorted(n for n in needles if n.lower().encode() in hay)
    low = haystack.lower()
    return sorted(n for n in needles if n.lower() in low)


def data_dir_bytes(data_dir: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*")
             if p.is_file()}  # fmt: skip
    assert files, f"nothing under {data_dir}"
    return files


def token_forms(token: str) -> list[str]:
    """A token, and what would betray it even cut short: its first 12 characters."""
    return [token, token[:12]]


async def raw_http(port: int, request: bytes) -> bytes:
    """Send `request` bytes as they are; the answer, read until the node hangs up or has
    said nothing more for a second."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        writer.write(request)
        await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(65536), 1.0):
                answer += chunk
        return answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_whole_meeting_leaves_no_trace_in_logs_or_on_disk(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(args=["--log-format", "json"])
    tokens: list[str] = [node.admin_token]

    # --- the host sets up the room ------------------------------------------------------
    async with api(node) as http:
        created = (await http.post("/api/rooms", json={"name": ROOM_NAME})).json()
        room = created["id"]
        tokens += [created["invite"], created["facilitator"]]
        patched = await http.patch(
            f"/api/rooms/{room}", json={"guidelines": GUIDELINES, "crisis": CRISIS}
        )
        assert patched.status_code == 200
        rotated = (await http.post(f"/api/rooms/{room}/rotate")).json()
        invite, facilitator = rotated["invite"], rotated["facilitator"]
        tokens += [invite, facilitator]
    old_invite = created["invite"]

    # --- the meeting --------------------------------------------------------------------
    fay = await Client.join(node.ws_url, room, facilitator, FACILITATOR, key=FACILITATOR_KEY)
    ann = await Client.join(node.ws_url, room, invite, MEMBER, key=KEY)
    await fay.command("lobby_message", text=LOBBY_MESSAGE)
    await ann.command("support", text=LOBBY_SUPPORT)
    await fay.command("admit", member=ann.me)
    bob = await Client.join(node.ws_url, room, invite, SECOND, key=SECOND_KEY)
    await fay.command("admit", member=bob.me)
    gus = await Client.join(node.ws_url, room, invite, GUEST)
    await fay.command("deny", member=gus.me)
    await expect_event(bob, "admitted", member=bob.me)

    await fay.command("set_topic", text=TOPIC)
    await ann.chat(CHAT)
    await bob.request({"t": "chat", "box": CHAT_BOX})
    await ann.command("support", text=SUPPORT)
    await ann.signal(bob.me, {"type": "offer", "sdp": SDP})
    heard = await asyncio.wait_for(bob.signals.get(), 5)
    assert heard["data"]["sdp"] == SDP
    await bob.react("🙏")
    await fay.command("start_round", seconds=60)
    await expect_event(ann, "turn")
    await fay.command("end_round")
    await ann.command("raise_hand")
    await fay.command("call_on", member=ann.me)
    tokens += [ann.resume_token, bob.resume_token, fay.resume_token]
    await ann.reconnect()  # a resume, with its token
    tokens.append(ann.resume_token)
    await ann.chat(CHAT + " again")

    # --- errors, each carrying secrets ----------------------------------------------------
    raw = await Raw.connect(node.ws_url + f"?name={STRANGER.replace(' ', '+')}&t={invite}")
    await raw.send_raw(f"{FACILITATOR} says hello in a text frame")
    await raw.expect_error("bad_frame")
    await raw.send_raw(b"\xc1" + MEMBER.encode() + CHAT.encode())
    await raw.expect_error("bad_frame")
    await raw.send({"t": "hello", "room": room, "token": GUESSED_TOKEN, "name": STRANGER,
                    "accept": True, "key": KEY})  # fmt: skip
    await raw.expect_error("bad_token")
    await raw.send({"t": "hello", "room": room, "token": old_invite, "name": STRANGER,
                    "accept": True})  # fmt: skip
    await raw.expect_error("bad_token")
    await raw.send({"t": "hello", "room": room, "token": invite, "name": STRANGER * 3,
                    "accept": True})  # fmt: skip
    await raw.expect_error("too_large")
    await raw.send({"t": "hello", "resume": f"{room}.{ann.me}.x.{GUESSED_TOKEN}", "seq": 0})
    await raw.expect_error("resume_expired")
    await raw.send({"t": "chat", "id": 1, "text": SUPPORT})
    await raw.expect_error("invalid", 1)  # before hello
    await raw.hello(room, invite, STRANGER, key=KEY)
    await raw.send({"t": SUPPORT, "id": 2})
    await raw.expect_error("unknown_type", 2)
    await raw.send({"t": "ping", "id": 3, TOPIC: CHAT})
    await raw.expect_error("invalid", 3)
    await raw.send({"t": "cmd", "id": 4, "op": LOBBY_MESSAGE, "args": {"text": CHAT}})
    await raw.expect_error("too_large", 4)
    await raw.send({"t": "cmd", "id": 5, "op": "support", "args": {SDP: SUPPORT}})
    await raw.expect_error("invalid", 5)
    await raw.send({"t": "cmd", "id": 6, "op": "support", "args": {"text": SUPPORT * 40}})
    await raw.expect_error("too_large", 6)
    await raw.send({"t": "chat", "id": 7, "text": CHAT * 100})
    await raw.expect_error("too_large", 7)
    await raw.send({"t": "signal", "to": GUEST, "data": {"sdp": SDP}})
    await raw.expect_error("not_allowed")
    await raw.send({"t": "hello", "room": room, "token": invite, "name": STRANGER,
                    "accept": True})  # fmt: skip
    await raw.expect_error("invalid")
    await raw.send({"t": "cmd", "id": 8, "op": "remove", "args": {"member": ann.me}})
    await raw.expect_error("not_allowed", 8)
    await raw.send_raw(pack({"t": "chat", "id": 9, "text": (CHAT + SUPPORT) * 800}))
    await raw.expect_closed(Close.TOO_BIG)

    # A blocked browser tries to come back, name and key in hand.
    await fay.command("remove", member=bob.me, block=True)
    back = Client(node.ws_url)
    with contextlib.suppress(CommandError, ConnectionClosed):
        await back.open({"t": "hello", "room": room, "token": invite, "name": SECOND,
                         "accept": True, "key": SECOND_KEY})  # fmt: skip
    await back.close()

    # --- the HTTP side, and failures below the application ----------------------------------
    async with httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=5) as http:
        await http.get(f"/r/{room}", params={"name": MEMBER, "token": invite})
        await http.get(f"/{PATH_MARKER}/{invite}")
        await http.get("/ws", params={"token": facilitator, "name": FACILITATOR})
        await http.get("/api/rooms", headers={"Authorization": f"Bearer {GUESSED_TOKEN}"})
        await http.get("/healthz", headers={"User-Agent": STRANGER, "Referer": CHAT})
    async with api(node) as http:
        assert (await http.get(f"/api/rooms/{PATH_MARKER}")).status_code == 404
        bad = await http.post("/api/rooms", json={"name": ROOM_NAME, TOPIC: SUPPORT})
        assert bad.status_code == 400
        long = await http.post("/api/rooms", json={"name": SUPPORT * 10})
        assert long.status_code == 400
        sent = await http.post(
            "/api/rooms", content=f'{{"name": "{CHAT}", ', headers={"content-type": "text/x"}
        )
        assert sent.status_code == 400
    with contextlib.suppress(InvalidStatus, ConnectionClosed, OSError):
        stray = await Raw.connect(f"ws://127.0.0.1:{node.port}/{PATH_MARKER}?t={facilitator}")
        await stray.close()
    # Malformed HTTP, and WebSocket handshakes the server must refuse, full of secrets.
    for request in (
        f"GET /{PATH_MARKER} HTTP/1.1\r\nHost: x\r\n{MEMBER}\r\n\r\n",
        f"BREW /{invite} HTCPCP/1.0\r\n{CHAT}\r\n\r\n",
        f"GET /r/{room}?{SUPPORT} HTTP/1.1\r\nHost: x\r\nContent-Length: -{KEY}\r\n\r\n",
    ):
        await raw_http(node.port, request.encode())
    bad_key = base64.b64encode(FACILITATOR.encode()).decode() + "==" + KEY
    handshake = (
        f"GET /ws?token={invite} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {bad_key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nX-Name: {SECOND}\r\n\r\n"
    )
    answer = await raw_http(node.port, handshake.encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    good_key = "dGhlIHNhbXBsZSBub25jZQ=="
    version = handshake.replace("Version: 13", f"Version: {TOPIC}").replace(bad_key, good_key)
    await raw_http(node.port, version.encode())
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01" + SUPPORT.encode() * 20)  # a TLS hello to a plain port
        with contextlib.suppress(OSError):
            sock.recv(4096)

    # --- the end ------------------------------------------------------------------------
    await fay.command("end_meeting")
    for client in (fay, ann, bob, gus):
        await client.close()
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        metrics = (await http.get(f"{node.url}/metrics")).text
        assert (await http.get(f"{node.url}/healthz")).status_code == 200

    secrets_all = words(SECRET_TEXT) | {t for token in tokens for t in token_forms(token)}
    # While the node runs: its store, WAL and shm as they are now.
    live_files = data_dir_bytes(node.data_dir)
    assert any(name.endswith("-wal") for name in live_files), list(live_files)
    node.stop()  # SIGTERM: a graceful shutdown, whose lines are checked too
    stopped_files = data_dir_bytes(node.data_dir)

    # --- the node's output: JSON lines, ids and counts, nothing else ------------------------
    log = node.log_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) > 10
    for line in lines:
        json.loads(line)  # the requested format, every line
    # One line per connection, ours (with its id); websockets' anonymous pair is dropped.
    assert any('"connection closed"' in line and '"conn"' in line for line in lines)
    assert not any('"connection open"' in line for line in lines)
    assert not any('"connection closed"' in line and '"conn"' not in line for line in lines)
    assert any('"Application shutdown complete."' in line for line in lines)
    assert leaks(log, secrets_all | words(ROOM_TEXT)) == []
    assert leaks(node.stdout_text(), secrets_all | words(ROOM_TEXT)) == []
    assert leaks(metrics, secrets_all | words(ROOM_TEXT)) == []

    # --- the disk: the room's definition, and nothing of the meeting ----------------------
    for files in (live_files, stopped_files):
        for name, content in files.items():
            assert leaks(content, secrets_all) == [], name
        everything = b"".join(files.values())
        assert leaks(everything, [ROOM_NAME]) == [ROOM_NAME], list(files)
