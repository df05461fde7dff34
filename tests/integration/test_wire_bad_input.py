"""Bad input on the wire, against a real node: every malformed, mistyped, oversized or
out-of-turn frame gets its `error` (or, past the frame limit, a 1009 close), changes nothing,
and nobody else in the room notices.

Each case ends with the same proof (`Circle.unharmed`): the facilitator and an admitted
witness received no event, error or signal since the case began, and the connection that
misbehaved (or a fresh one, where the case closed it) still pings, chats and is heard.

One node serves the module, with per-address and rate limits opened wide: every client here
comes from 127.0.0.1, and those limits have their own tests in test_wire_limits.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from rooms.commands import OPS
from signaling.client import Client, CommandError
from signaling.closes import Close
from signaling.codec import Codec
from signaling.errors import SignalingError
from signaling.limits import Limits
from tests.integration.nodes import Node, start_node
from tests.integration.rawws import (
    ERROR_CODES,
    Circle,
    Frame,
    Raw,
    create_room,
    delete_room,
    expect_event,
    healthy,
    pack,
    rotate_room,
)

FRAME_LIMIT = 32 * 1024  # the default `frame_bytes`
NAME_LIMIT = 40
CHAT_LIMIT = 2000
MAX_ID = 2**53 - 1
RID = 7  # the request id the cases below carry, where they carry one

GENEROUS = {
    "HEARTH_HELLO_PER_MINUTE": "100000",
    "HEARTH_CONNECTIONS_PER_IP": "100000",
    "HEARTH_RATE_PER_SECOND": "100000",
    "HEARTH_RATE_BURST": "100000",
    "HEARTH_HELLO_TIMEOUT_SECONDS": "600",  # the fuzz test keeps a hello-less socket open
}


@pytest.fixture(scope="module")
def wire_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node(tmp_path_factory.mktemp("bad-input"), env=GENEROUS, name="bad-input")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
async def circle(wire_node: Node) -> AsyncIterator[Circle]:
    gathered = await Circle.gather(wire_node)
    try:
        yield gathered
    finally:
        await gathered.close()


def case(data: bytes | str, code: str, rid: int | None, label: str) -> Any:
    return pytest.param(data, code, rid, id=label)


def frame(**fields: object) -> bytes:
    return pack(fields)


# --- cases for a seated member --------------------------------------------------------------


def _framing() -> list[Any]:
    ping = frame(t="ping", id=RID)
    return [
        case("hello", "bad_frame", None, "text frame"),
        case('{"t": "ping", "id": 7}', "bad_frame", None, "text frame of json"),
        case(b"", "bad_frame", None, "empty binary frame"),
        case(b"\xc1", "bad_frame", None, "never-used msgpack byte"),
        case(b"\xff\xfe\x00garbage", "bad_frame", None, "not msgpack"),
        case(ping[:-1], "bad_frame", None, "truncated map"),
        case(ping + b"\x00", "bad_frame", None, "trailing bytes"),
        case(ping + ping, "bad_frame", None, "two maps in one frame"),
        case(pack(["ping", RID]), "bad_frame", None, "array"),
        case(pack(7), "bad_frame", None, "int"),
        case(pack("ping"), "bad_frame", None, "string"),
        case(pack(None), "bad_frame", None, "nil"),
        case(pack(True), "bad_frame", None, "bool"),
        case(pack(1.5), "bad_frame", None, "float"),
        case(pack(b"\x81\xa1t"), "bad_frame", None, "binary"),
        case(b"\xa3\xff\xfe\xfd", "bad_frame", None, "string that is not utf-8"),
        case(pack({"t": b"\xff", "id": RID}), "invalid", RID, "type tag as binary"),
        case(pack(msgpack.ExtType(1, b"abc")), "bad_frame", None, "ext type instead of a map"),
        case(frame(t="ping", id=RID, x=msgpack.ExtType(1, b"a")), "bad_frame", None, "ext field"),
        case(frame(t="ping", id=RID, x=msgpack.ExtType(5, b"")), "bad_frame", None, "empty ext"),
        case(frame(t="ping", id=RID, x=msgpack.Timestamp(0)), "bad_frame", None, "timestamp ext"),
        case(pack({"t": "ping", "id": RID, 1: 1}), "bad_frame", None, "int map key"),
        case(pack({"t": "ping", "id": RID, None: 1}), "bad_frame", None, "nil map key"),
        case(pack({b"t": "ping", b"id": RID}), "bad_frame", None, "binary map keys"),
        case(pack({"t": "ping", "id": RID, b"x": 1}), "bad_frame", None, "one binary map key"),
        case(
            frame(t="cmd", id=RID, op="raise_hand", args={2: 1}),
            "bad_frame",
            None,
            "int key inside args",
        ),
        case(
            frame(t="chat", id=RID, text="hi", box=None, x={b"k": 1}),
            "bad_frame",
            None,
            "binary key in a nested map",
        ),
        case(
            b"\x83\xa1t\xa4ping\xa2id\x07\xa1x" + b"\x91" * 2000 + b"\xc0",
            "bad_frame",
            None,
            "nested past msgpack's depth",
        ),
    ]


def _type_tag() -> list[Any]:
    return [
        case(frame(), "invalid", None, "empty map"),
        case(frame(id=RID), "invalid", RID, "no t"),
        case(frame(t=None, id=RID), "invalid", RID, "t nil"),
        case(frame(t=5, id=RID), "invalid", RID, "t int"),
        case(frame(t=["ping"], id=RID), "invalid", RID, "t list"),
        case(frame(t="shout", id=RID), "unknown_type", RID, "unknown t"),
        case(frame(t="", id=RID), "unknown_type", RID, "empty t"),
        case(frame(t="PING", id=RID), "unknown_type", RID, "t in capitals"),
        case(frame(t="welcome", id=RID), "unknown_type", RID, "a server frame type"),
        case(frame(t="event", seq=1, type="chat"), "unknown_type", None, "an event frame"),
        case(frame(t="x" * 5000, id=RID), "unknown_type", RID, "long unknown t"),
    ]


def _ids(make: Any, label: str) -> list[Any]:
    """A request id missing or mistyped, for a frame type built by `make(id)`."""
    return [
        case(make(None), "invalid", None, f"{label} id nil"),
        case(make(True), "invalid", None, f"{label} id bool"),
        case(make("7"), "invalid", None, f"{label} id string"),
        case(make(7.0), "invalid", None, f"{label} id float"),
        case(make({"n": 7}), "invalid", None, f"{label} id map"),
        case(make(-1), "invalid", -1, f"{label} id negative"),
        case(make(MAX_ID + 1), "invalid", MAX_ID + 1, f"{label} id past 2^53"),
        case(make(2**64 - 1), "invalid", 2**64 - 1, f"{label} id uint64 max"),
        case(make(-(2**63)), "invalid", -(2**63), f"{label} id int64 min"),
    ]


def _ping() -> list[Any]:
    return [
        case(frame(t="ping"), "invalid", None, "ping without id"),
        *_ids(lambda i: frame(t="ping", id=i), "ping"),
        case(frame(t="ping", id=RID, extra=1), "invalid", RID, "ping extra field"),
        case(frame(t="ping", id=RID, now=1.0), "invalid", RID, "ping with a pong field"),
    ]


def _chat() -> list[Any]:
    long_text = "x" * (CHAT_LIMIT + 1)
    return [
        case(frame(t="chat", text="hi"), "invalid", None, "chat without id"),
        *_ids(lambda i: frame(t="chat", id=i, text="hi"), "chat"),
        case(frame(t="chat", id=RID), "invalid", RID, "chat without text or box"),
        case(frame(t="chat", id=RID, text=None), "invalid", RID, "chat text nil"),
        case(frame(t="chat", id=RID, text="hi", box=b"x"), "invalid", RID, "chat text and box"),
        case(frame(t="chat", id=RID, text=5), "invalid", RID, "chat text int"),
        case(frame(t="chat", id=RID, text=b"hi"), "invalid", RID, "chat text binary"),
        case(frame(t="chat", id=RID, text=["hi"]), "invalid", RID, "chat text list"),
        case(frame(t="chat", id=RID, text={"s": "hi"}), "invalid", RID, "chat text map"),
        case(frame(t="chat", id=RID, box="text"), "invalid", RID, "chat box text"),
        case(frame(t="chat", id=RID, text=long_text), "too_large", RID, "chat text too long"),
        case(
            frame(t="chat", id=RID, box=b"\x00" * (CHAT_LIMIT * 4 + 65)),
            "too_large",
            RID,
            "chat box too long",
        ),
        case(frame(t="chat", id=RID, text="hi", to="x"), "invalid", RID, "chat extra field"),
    ]


def _react() -> list[Any]:
    return [
        case(frame(t="react"), "invalid", None, "react without emoji"),
        case(frame(t="react", emoji=5), "invalid", None, "react emoji int"),
        case(frame(t="react", emoji=None), "invalid", None, "react emoji nil"),
        case(frame(t="react", emoji="🙂" * 17), "too_large", None, "react emoji too long"),
        case(frame(t="react", emoji="🙂", id=RID), "invalid", RID, "react extra id"),
        case(frame(t="react", emoji="🙂", x=1), "invalid", None, "react extra field"),
    ]


def _signal() -> list[Any]:
    return [
        case(frame(t="signal", data={}), "invalid", None, "signal without to"),
        case(frame(t="signal", to=5, data={}), "invalid", None, "signal to int"),
        case(frame(t="signal", to="x"), "invalid", None, "signal without data"),
        case(frame(t="signal", to="x", data="sdp"), "invalid", None, "signal data text"),
        case(frame(t="signal", to="x", data=[1]), "invalid", None, "signal data list"),
        case(frame(t="signal", to="x", data=None), "invalid", None, "signal data nil"),
        case(frame(t="signal", to="x" * 129, data={}), "too_large", None, "signal to too long"),
        case(frame(t="signal", to="x", data={}, y=1), "invalid", None, "signal extra field"),
        case(frame(t="signal", to="nobody", data={}), "not_allowed", None, "signal to a stranger"),
    ]


def _cmd(op: str, args: object = None, **fields: object) -> bytes:
    body: dict[str, object] = {"t": "cmd", "id": RID, "op": op, **fields}
    if args is not None:
        body["args"] = args
    return pack(body)


def _cmd_frame() -> list[Any]:
    return [
        case(frame(t="cmd", op="raise_hand"), "invalid", None, "cmd without id"),
        *_ids(lambda i: frame(t="cmd", id=i, op="raise_hand"), "cmd"),
        case(frame(t="cmd", id=RID), "invalid", RID, "cmd without op"),
        case(frame(t="cmd", id=RID, op=5), "invalid", RID, "cmd op int"),
        case(frame(t="cmd", id=RID, op=None), "invalid", RID, "cmd op nil"),
        case(_cmd(""), "invalid", RID, "cmd op empty"),
        case(_cmd("explode"), "invalid", RID, "cmd unknown op"),
        case(_cmd("Raise_Hand"), "invalid", RID, "cmd op in capitals"),
        case(_cmd("x" * 33), "too_large", RID, "cmd op too long"),
        case(_cmd("raise_hand", "x"), "invalid", RID, "cmd args text"),
        case(_cmd("raise_hand", [1]), "invalid", RID, "cmd args list"),
        case(_cmd("raise_hand", 1), "invalid", RID, "cmd args int"),
        case(_cmd("raise_hand", {}, extra=1), "invalid", RID, "cmd extra field"),
    ]


# Ops a client must never be able to name: chat and react have frames of their own, and the
# rest are the node's own commands (an arrival, a lost connection, a timer).
NOT_CLIENT_OPS = (
    "chat",
    "react",
    "arrive",
    "disconnect",
    "reconnect",
    "grace_expired",
    "turn_time_up",
)


def _cmd_args() -> list[Any]:
    unknown = [
        ("raise_hand", {"member": "x"}),
        ("admit", {"member": "x", "block": True}),
        ("lower_hand", {"who": "x"}),
        ("start_round", {"seconds": 60, "seed": 4}),
        ("start_round", {"seconds": 60, "speed": 2}),
        ("support", {"text": "hi", "to": "x"}),
    ]
    wrong = [
        ("admit", {"member": 5}),
        ("admit", {"member": None}),
        ("admit", {"member": ["x"]}),
        ("remove", {"member": "x", "block": "yes"}),
        ("remove", {"member": "x", "block": 1}),
        ("start_round", {"seconds": "60"}),
        ("start_round", {"seconds": True}),
        ("start_round", {"seconds": 1.5}),
        ("start_round", {"seconds": MAX_ID + 1}),
        ("start_round", {"seconds": 60, "order": "sideways"}),
        ("start_round", {"seconds": 60, "kind": 3}),
        ("start_round", {"seconds": 60, "second_pass": "no"}),
        ("extend", {"seconds": {"n": 1}}),
        ("set_order", {"members": "ab"}),
        ("set_order", {"members": [1, 2]}),
        ("set_order", {"members": {"a": 1}}),
        ("set_order", {"members": ["x"] * 257}),
        ("lower_hand", {"member": 5}),
        ("set_topic", {"text": 5}),
        ("support", {"text": ["x"]}),
        ("lobby_message", {"text": b"x"}),
    ]
    missing = [
        ("admit", {}),
        ("deny", {}),
        ("remove", {"block": True}),
        ("mute", {}),
        ("promote", {}),
        ("call_on", {}),
        ("set_order", {}),
        ("start_round", {"overtime": 5}),
        ("extend", {}),
        ("support", {}),
        ("lobby_message", {}),
    ]
    too_large = [
        ("support", {"text": "x" * 1001}),
        ("set_topic", {"text": "x" * 201}),
        ("lobby_message", {"text": "x" * 301}),
        ("admit", {"member": "x" * 129}),
    ]
    return [
        *(case(_cmd(op, {}), "invalid", RID, f"cmd op {op}") for op in NOT_CLIENT_OPS),
        *(case(_cmd(op, a), "invalid", RID, f"{op} unknown arg {sorted(a)}") for op, a in unknown),
        *(case(_cmd(op, a), "invalid", RID, f"{op} wrong {a!r:.40}") for op, a in wrong),
        *(case(_cmd(op, a), "invalid", RID, f"{op} missing arg") for op, a in missing),
        *(case(_cmd(op, a), "too_large", RID, f"{op} arg too long") for op, a in too_large),
    ]


def _out_of_turn() -> list[Any]:
    return [
        case(
            frame(t="hello", room="r", token="t", name="n", accept=True),
            "invalid",
            None,
            "a second hello",
        ),
        case(frame(t="hello", resume="a.b.c.d", seq=0), "invalid", None, "a resume when seated"),
        case(frame(t="hello", room="r", token="t"), "invalid", None, "a broken second hello"),
    ]


SEATED_CASES = [
    *_framing(),
    *_type_tag(),
    *_ping(),
    *_chat(),
    *_react(),
    *_signal(),
    *_cmd_frame(),
    *_cmd_args(),
    *_out_of_turn(),
]


@pytest.mark.parametrize(("data", "code", "rid"), SEATED_CASES)
async def test_a_bad_frame_from_a_member_gets_its_error_and_harms_nobody(
    circle: Circle, data: bytes | str, code: str, rid: int | None
) -> None:
    await circle.raw.send_raw(data)
    await circle.raw.expect_error(code, rid)
    await circle.unharmed()


async def test_a_flurry_of_bad_frames_gets_one_error_each_in_order(circle: Circle) -> None:
    cases = [p.values for p in SEATED_CASES]
    for data, _, _ in cases:
        await circle.raw.send_raw(data)
    for _, code, rid in cases:
        await circle.raw.expect_error(code, rid)
    await circle.unharmed()


async def test_a_signal_to_oneself_is_refused(circle: Circle) -> None:
    await circle.raw.send({"t": "signal", "to": circle.raw.me, "data": {"sdp": "x"}})
    await circle.raw.expect_error("not_allowed")
    await circle.unharmed()


async def test_validation_comes_before_policy(circle: Circle) -> None:
    """A member naming a facilitator's op with bad arguments hears about the arguments; with
    good ones, that the op is not theirs. Neither changes the room."""
    await circle.raw.send_raw(_cmd("admit", {"member": 5}))
    await circle.raw.expect_error("invalid", RID)
    await circle.raw.send_raw(_cmd("admit", {"member": circle.witness.me}))
    await circle.raw.expect_error("not_allowed", RID)
    await circle.raw.send_raw(_cmd("end_meeting"))
    await circle.raw.expect_error("not_allowed", RID)
    await circle.unharmed()


async def test_the_limits_are_inclusive(circle: Circle) -> None:
    """A chat of exactly the chat limit is delivered whole."""
    text = "é" * CHAT_LIMIT  # characters, not bytes
    rid = await circle.raw.chat(text)
    await expect_event(circle.witness, "chat", id=rid, text=text)
    await circle.settle()
    await circle.unharmed()


# --- the hard frame limit -------------------------------------------------------------------


async def test_a_frame_at_the_limit_is_read_and_answered(circle: Circle) -> None:
    head = frame(t="chat", id=RID, text="")
    text = "x" * (FRAME_LIMIT - len(head) - 2)  # str 16 header grows by two bytes
    data = frame(t="chat", id=RID, text=text)
    assert len(data) == FRAME_LIMIT
    await circle.raw.send_raw(data)
    await circle.raw.expect_error("too_large", RID)
    await circle.unharmed()


@pytest.mark.parametrize(
    "size", [FRAME_LIMIT + 1, 4 * FRAME_LIMIT, 1024 * 1024], ids=["limit+1", "4x", "1MiB"]
)
async def test_a_frame_past_the_limit_closes_with_1009_before_hello(
    circle: Circle, size: int
) -> None:
    stranger = await circle.connect()
    # The node may close while a big frame is still being written: the write then fails.
    with contextlib.suppress(ConnectionClosed, OSError):
        await stranger.send_raw(b"\x00" * size)
    await stranger.expect_closed(Close.TOO_BIG)
    await circle.saw_nothing()
    fresh = await circle.connect()
    await fresh.hello(circle.room["id"], circle.room["invite"], "Fresh")
    await circle.facilitator.command("admit", member=fresh.me)
    await fresh.reply_event("admitted")
    await circle.settle()
    await circle.unharmed(fresh)
    await fresh.close()


async def test_a_fragmented_message_past_the_limit_closes_with_1009(circle: Circle) -> None:
    stranger = await circle.connect()
    chunk = b"\x00" * (FRAME_LIMIT // 2)
    with contextlib.suppress(ConnectionClosed):  # closed before the last fragment, maybe
        await stranger.ws.send([chunk, chunk, chunk])
    await stranger.expect_closed(Close.TOO_BIG)
    await circle.saw_nothing()


async def test_a_member_closed_for_an_oversized_frame_resumes_its_seat(circle: Circle) -> None:
    raw = circle.raw
    token, seq = raw.welcome["resume"], raw.welcome["seq"]
    seq = max([seq, *(ev["seq"] for ev in raw.events)])
    await raw.send_raw(pack({"t": "chat", "id": RID, "text": "x" * (FRAME_LIMIT + 10)}))
    await raw.expect_closed(Close.TOO_BIG)
    # The only sign of it the others get: the seat is reconnecting, then present again.
    await expect_event(circle.witness, "reconnecting", member=raw.me)
    back = await circle.connect()
    welcome = await back.resume(token, seq)
    assert welcome["me"] == raw.me
    await expect_event(circle.witness, "present", member=raw.me)
    for client in circle.others():
        await client.ping()
        seen = [(ev["type"], ev.get("member")) for ev in circle.news(client)]
        assert seen == [("reconnecting", raw.me), ("present", raw.me)]
    await circle.settle()
    await circle.unharmed(back)
    await back.close()


# --- before hello ---------------------------------------------------------------------------


def _hello(**fields: object) -> bytes:
    body: dict[str, object] = {"t": "hello", "room": "ROOM", "token": "INVITE", "name": "Nia"}
    body["accept"] = True
    body.update(fields)
    return pack({k: v for k, v in body.items() if v is not _DROP})


_DROP = object()

GREETING_CASES = [
    case(frame(t="ping", id=RID), "invalid", RID, "ping before hello"),
    case(_cmd("raise_hand"), "invalid", RID, "cmd before hello"),
    case(frame(t="chat", id=RID, text="hi"), "invalid", RID, "chat before hello"),
    case(frame(t="react", emoji="🙂"), "invalid", None, "react before hello"),
    case(frame(t="signal", to="x", data={}), "invalid", None, "signal before hello"),
    case("hello", "bad_frame", None, "text before hello"),
    case(b"\xc1", "bad_frame", None, "garbage before hello"),
    case(frame(t="shout"), "unknown_type", None, "unknown type before hello"),
    case(_hello(room=_DROP), "invalid", None, "hello without room"),
    case(_hello(token=_DROP), "invalid", None, "hello without token"),
    case(_hello(name=_DROP), "invalid", None, "hello without name"),
    case(_hello(room=5), "invalid", None, "hello room int"),
    case(_hello(token=True), "invalid", None, "hello token bool"),
    case(_hello(token=b"INVITE"), "invalid", None, "hello token binary"),
    case(_hello(name=None), "invalid", None, "hello name nil"),
    case(_hello(name=["Nia"]), "invalid", None, "hello name list"),
    case(_hello(accept="yes"), "invalid", None, "hello accept text"),
    case(_hello(accept=1), "invalid", None, "hello accept int"),
    case(_hello(key=5), "invalid", None, "hello key int"),
    case(_hello(id=RID), "invalid", RID, "hello with an id"),
    case(_hello(extra="x"), "invalid", None, "hello extra field"),
    case(_hello(seq=0), "invalid", None, "hello with a seq"),
    case(_hello(name="N" * (NAME_LIMIT + 1)), "too_large", None, "hello name too long"),
    case(_hello(room="r" * 129), "too_large", None, "hello room too long"),
    case(_hello(token="t" * 129), "too_large", None, "hello token too long"),
    case(_hello(key="k" * 129), "too_large", None, "hello key too long"),
    case(frame(t="hello", resume="a.b.c.d"), "invalid", None, "resume without seq"),
    case(frame(t="hello", resume=5, seq=0), "invalid", None, "resume token int"),
    case(frame(t="hello", resume="a.b.c.d", seq=True), "invalid", None, "resume seq bool"),
    case(frame(t="hello", resume="a.b.c.d", seq=-1), "invalid", None, "resume seq negative"),
    case(frame(t="hello", resume="a.b.c.d", seq=MAX_ID + 1), "invalid", None, "resume seq 2^53"),
    case(frame(t="hello", resume="a.b.c.d", seq="0"), "invalid", None, "resume seq text"),
    case(
        frame(t="hello", resume="a.b.c.d", seq=0, room="r"),
        "invalid",
        None,
        "resume with a room",
    ),
    case(frame(t="hello", resume="r" * 513, seq=0), "too_large", None, "resume too long"),
    case(frame(t="hello", resume="forged", seq=0), "resume_expired", None, "resume forged"),
    case(frame(t="hello", resume="a.b.c.d", seq=0), "resume_expired", None, "resume unknown seat"),
]


def _fill(data: bytes | str, room: Frame) -> bytes | str:
    """Put the real room id and invite token where a case names ROOM and INVITE."""
    if isinstance(data, bytes) and b"ROOM" in data:
        m = msgpack.unpackb(data, raw=False)
        m.update((k, room["id"]) for k, v in list(m.items()) if v == "ROOM")
        m.update((k, room["invite"]) for k, v in list(m.items()) if v == "INVITE")
        return pack(m)
    return data


async def join_lobby(circle: Circle, raw: Raw, name: str = "Nia") -> None:
    """The proof for a greeting-phase case: `raw` can still say hello, and arrives."""
    welcome = await raw.hello(circle.room["id"], circle.room["invite"], name)
    assert welcome["state"]["lobby"] is True
    await expect_event(circle.facilitator, "joined_lobby", member=raw.me)


@pytest.mark.parametrize(("data", "code", "rid"), GREETING_CASES)
async def test_a_bad_frame_before_hello_gets_its_error_and_hello_still_works(
    circle: Circle, data: bytes | str, code: str, rid: int | None
) -> None:
    raw = await circle.connect()
    await raw.send_raw(_fill(data, circle.room))
    await raw.expect_error(code, rid)
    await circle.saw_nothing()
    await join_lobby(circle, raw)
    await raw.close()


@pytest.mark.parametrize("name", ["", "   ", "\x00\x01\x1b", "\u202e\u2066", "\t\n"])
async def test_a_hello_with_no_printable_name_is_invalid(circle: Circle, name: str) -> None:
    raw = await circle.connect()
    await raw.send({"t": "hello", "room": circle.room["id"], "token": circle.room["invite"],
                    "name": name, "accept": True})  # fmt: skip
    await raw.expect_error("invalid")
    await circle.saw_nothing()
    await join_lobby(circle, raw)
    await raw.close()


async def test_a_name_of_exactly_the_limit_is_accepted_whole(circle: Circle) -> None:
    raw = await circle.connect()
    name = "Ñ" * NAME_LIMIT  # characters, not bytes
    await raw.hello(circle.room["id"], circle.room["invite"], name)
    await expect_event(circle.facilitator, "joined_lobby", member=raw.me, name=name)
    await raw.close()


@pytest.mark.parametrize("accept", [False, None], ids=["accept false", "accept missing"])
async def test_an_invite_hello_without_accepting_the_guidelines_is_invalid(
    circle: Circle, accept: bool | None
) -> None:
    raw = await circle.connect()
    hello: Frame = {"t": "hello", "room": circle.room["id"], "token": circle.room["invite"]}
    hello["name"] = "Nia"
    if accept is not None:
        hello["accept"] = accept
    await raw.send(hello)
    await raw.expect_error("invalid")
    await circle.saw_nothing()
    await join_lobby(circle, raw)
    await raw.close()


async def test_every_refused_token_gets_the_same_bad_token_answer(circle: Circle) -> None:
    node, room = circle.node, circle.room
    other = await create_room(node, name="Another circle")
    gone = await create_room(node, name="A deleted circle")
    await delete_room(node, gone["id"])
    rotated = await create_room(node, name="A rotated circle")
    fresh = await rotate_room(node, rotated["id"])
    attempts = {
        "unknown room": (room["id"] + "x", room["invite"]),
        "empty room": ("", room["invite"]),
        "wrong token": (room["id"], room["invite"][:-2] + "xx"),
        "empty token": (room["id"], ""),
        "another room's invite": (room["id"], other["invite"]),
        "another room's facilitator token": (room["id"], other["facilitator"]),
        "deleted room, invite": (gone["id"], gone["invite"]),
        "deleted room, facilitator": (gone["id"], gone["facilitator"]),
        "rotated invite": (rotated["id"], rotated["invite"]),
        "rotated facilitator token": (rotated["id"], rotated["facilitator"]),
    }
    raw = await circle.connect()
    answers = {}
    for label, (room_id, token) in attempts.items():
        await raw.send({"t": "hello", "room": room_id, "token": token, "name": "Nia",
                        "accept": True})  # fmt: skip
        answers[label] = await raw.expect_error("bad_token")
    # Word for word the same answer: it must not tell a guesser which part was wrong.
    assert len({repr(sorted(a.items())) for a in answers.values()}) == 1, answers
    await circle.saw_nothing()
    # The same connection, with a working link, gets in: the rotated room's fresh invite.
    welcome = await raw.hello(rotated["id"], fresh["invite"], "Nia")
    assert welcome["state"]["room"] == rotated["id"]
    await raw.close()


async def test_a_hello_for_a_room_deleted_mid_meeting_is_bad_token(circle: Circle) -> None:
    node, room = circle.node, circle.room
    await delete_room(node, room["id"])
    raw = await circle.connect()
    await raw.send({"t": "hello", "room": room["id"], "token": room["facilitator"],
                    "name": "Fay", "accept": True})  # fmt: skip
    await raw.expect_error("bad_token")
    await raw.close()
    assert await healthy(node)


# --- the fuzz -------------------------------------------------------------------------------

# Field names and values the node knows, mixed with noise, so the fuzz reaches past `t`.
FIELD_NAMES = ("t", "id", "op", "args", "to", "data", "text", "box", "emoji", "room", "token",
               "name", "accept", "key", "resume", "seq", "member", "seconds")  # fmt: skip
TYPES = ("hello", "cmd", "signal", "chat", "react", "ping", "event", "welcome")
# Ops that would end someone's seat or the meeting: the fuzz must leave the room standing.
ENDING_OPS = frozenset({"leave", "end_meeting", "remove", "deny", "hand_over", "demote"})
SAFE_OPS = tuple(sorted(set(OPS) - ENDING_OPS))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
maps = st.dictionaries(
    keys,
    st.one_of(values, st.sampled_from(TYPES), st.sampled_from(SAFE_OPS)),
    max_size=6,
)
typed_maps = st.builds(
    lambda t, op, m: {**m, "t": t, **({"op": op} if t == "cmd" else {})},
    st.sampled_from(TYPES),
    st.sampled_from(SAFE_OPS),
    maps,
)

# Nearly valid frames: a well-formed frame of each type, then a field or two dropped or
# replaced. Member ids are placeholders ("@witness") that `Fuzzed.throw` fills in, so some
# commands and signals reach real people and pass validation.
MEMBER_REFS = st.sampled_from(["@witness", "@me", "@facilitator", "nobody", ""])
ARG_NAMES = sorted({f.name for cls in OPS.values() for f in dataclasses.fields(cls)})
WORDS = ("manual", "arrival", "shuffle", "facilitator_last", "share", "check_in", "check_out")
arg_values = st.one_of(
    MEMBER_REFS,
    st.integers(min_value=-5, max_value=4000),
    st.booleans(),
    st.sampled_from(WORDS),
    st.lists(MEMBER_REFS, max_size=3),
    st.text(max_size=30),
    values,
)
request_ids = st.one_of(
    st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=MAX_ID), values
)
templates = st.one_of(
    st.builds(lambda i: {"t": "ping", "id": i}, request_ids),
    st.builds(lambda i, x: {"t": "chat", "id": i, "text": x}, request_ids, st.text(max_size=60)),
    st.builds(lambda i, b: {"t": "chat", "id": i, "box": b}, request_ids, st.binary(max_size=60)),
    st.builds(lambda x: {"t": "react", "emoji": x}, st.text(max_size=20)),
    st.builds(
        lambda to, d: {"t": "signal", "to": to, "data": d},
        MEMBER_REFS,
        st.dictionaries(st.sampled_from(["type", "sdp", "candidate", "sdpMid"]), values),
    ),
    st.builds(
        lambda i, op, a: {"t": "cmd", "id": i, "op": op, "args": a},
        request_ids,
        st.sampled_from(SAFE_OPS),
        st.dictionaries(st.sampled_from(ARG_NAMES), arg_values, max_size=3),
    ),
    st.builds(
        lambda r, t, n, a: {"t": "hello", "room": r, "token": t, "name": n, "accept": a},
        st.text(max_size=12),
        st.text(max_size=12),
        st.text(max_size=50),
        st.booleans(),
    ),
    st.builds(
        lambda r, n: {"t": "hello", "resume": r, "seq": n},
        st.text(max_size=40),
        st.integers(min_value=-3, max_value=2**60),
    ),
)
mutations = st.lists(
    st.one_of(st.tuples(st.just("drop"), keys), st.tuples(st.just("set"), keys, values)),
    max_size=2,
)


def _mutate(m: Frame, changes: list[tuple[Any, ...]]) -> Frame:
    m = dict(m)
    for change in changes:
        if change[0] == "drop":
            m.pop(change[1], None)
        else:
            m[change[1]] = change[2]
    return m


mutants = st.builds(_mutate, templates, mutations)
oversized = st.integers(min_value=FRAME_LIMIT + 1, max_value=FRAME_LIMIT + 64).map(
    lambda n: b"\x00" * n
)
ordinary = st.one_of(st.binary(max_size=200), st.text(max_size=50))


def _payload(n: int) -> st.SearchStrategy[Frame | bytes | str]:
    """Out of 16: nearly valid frames 9, typed maps 3, any maps 2, noise 1, oversized 1 (each
    oversized frame costs the fuzzer its socket)."""
    if n < 9:
        return mutants
    if n < 12:
        return typed_maps
    if n < 14:
        return maps
    if n < 15:
        return ordinary
    return oversized


payloads = st.integers(min_value=0, max_value=15).flatmap(_payload)


_CODEC = Codec(Limits())


def _request_id(data: bytes | str) -> int | None:
    """The id the node echoes for `data`: its integer `id`, when the frame reads as a map."""
    try:
        m = _CODEC.unpack(data)
    except SignalingError:
        return None
    rid = m.get("id")
    return rid if isinstance(rid, int) and not isinstance(rid, bool) else None


class Fuzzed:
    """The fuzzer's seat: a raw facilitator, re-seated by resume when the node closes it."""

    def __init__(self, circle: Circle, raw: Raw) -> None:
        self.circle, self.raw = circle, raw
        self.token, self.seq = raw.welcome["resume"], raw.welcome["seq"]
        self.closes = 0

    def fill(self, payload: Frame | bytes | str) -> bytes | str:
        """`payload` as sent: a map has its member placeholders filled in and is packed."""
        if not isinstance(payload, dict):
            return payload
        names = {
            "@witness": self.circle.witness.me,
            "@facilitator": self.circle.facilitator.me,
            "@me": self.raw.me,
        }

        def fill(v: object) -> object:
            if isinstance(v, str):
                return names.get(v, v)
            if isinstance(v, list):
                return [fill(x) for x in v]
            if isinstance(v, dict):
                return {k: fill(x) for k, x in v.items()}
            return v

        return pack(fill(payload))

    async def throw(self, data: bytes | str) -> None:
        raw = self.raw
        await raw.send_raw(data)
        sentinel = raw.next_id()
        try:
            await raw.send({"t": "ping", "id": sentinel})
            replies = []
            while True:
                reply = await raw.reply()
                if reply.get("t") == "pong" and reply.get("id") == sentinel:
                    break
                replies.append(reply)
        except ConnectionClosed:
            assert raw.ws.close_code == Close.TOO_BIG, (raw.ws.close_code, data[:64])
            assert len(data) > FRAME_LIMIT
            event("closed 1009")
            await self.reseat()
            return
        assert len(data) <= FRAME_LIMIT
        assert len(replies) <= 1, replies
        rid = _request_id(data)
        for reply in replies:
            event(f"{reply['t']} {reply.get('code', '')}".strip())
            if reply["t"] == "error":
                assert reply["code"] in ERROR_CODES, reply
                assert reply["id"] == rid, (reply, data)
            else:  # a frame that happened to be valid: its ack or pong, echoing its id
                assert reply["t"] in ("ack", "pong"), reply
                assert reply["id"] == rid, (reply, data)
        self.seq = max([self.seq, *(ev["seq"] for ev in raw.events)])
        raw.events.clear()

    async def reseat(self) -> None:
        self.closes += 1
        self.raw = await Raw.connect(self.circle.node.ws_url)
        welcome = await self.raw.resume(self.token, self.seq)
        self.token, self.seq = welcome["resume"], welcome["seq"]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.lists(payloads, min_size=1, max_size=3))
async def test_fuzz_gets_only_known_errors_and_the_room_keeps_talking(
    fuzz: tuple[Fuzzed, Raw], data: list[Frame | bytes | str]
) -> None:
    fuzzed, greeter = fuzz
    for item in data:
        payload = fuzzed.fill(item)
        await fuzzed.throw(payload)
        # The same bytes at a socket that never said hello: errors only, never a welcome.
        if len(payload) <= FRAME_LIMIT:
            await greeter.send_raw(payload)
            reply = await greeter.reply()
            assert reply["t"] == "error", reply
            assert reply["code"] in ERROR_CODES, reply
            assert reply["id"] == _request_id(payload), (reply, payload)
    assert await healthy(fuzzed.circle.node)
    witness = fuzzed.circle.witness
    text = f"fuzz round {fuzzed.raw.next_id()}"
    ack = await witness.chat(text)
    assert ack["t"] == "ack"
    await expect_event(fuzzed.circle.facilitator, "chat", text=text)


@pytest.fixture
async def fuzz(wire_node: Node) -> AsyncIterator[tuple[Fuzzed, Raw]]:
    room = await create_room(wire_node)
    facilitator = await Client.join(wire_node.ws_url, room["id"], room["facilitator"], "Fa")
    witness = await Client.join(wire_node.ws_url, room["id"], room["invite"], "Wi")
    await facilitator.command("admit", member=witness.me)
    await expect_event(witness, "admitted", member=witness.me)
    raw = await Raw.connect(wire_node.ws_url)
    await raw.hello(room["id"], room["facilitator"], "Fz")
    circle = Circle(wire_node, room, facilitator, witness, raw)
    fuzzed = Fuzzed(circle, raw)
    greeter = await Raw.connect(wire_node.ws_url)
    try:
        yield fuzzed, greeter
        assert await healthy(wire_node)
        # After it all: the room still works for everyone, the fuzzer included.
        await circle.settle()
        circle.raw = fuzzed.raw
        await circle.unharmed()
        with contextlib.suppress(CommandError):  # the fuzz may have locked the room
            await facilitator.command("unlock")
        await join_lobby(circle, greeter, "Gr")
    finally:
        await greeter.close()
        await fuzzed.raw.close()
        await witness.close()
        await facilitator.close()
