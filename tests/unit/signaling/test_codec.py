"""The codec: bytes in, typed frames out, and every way a frame can be wrong.

Each test feeds bytes as a client would send them and checks the typed frame, or the error
code the client is told. `cmd.args` is checked for every op in `rooms.commands.OPS`, with
the engine's own dataclasses as the expected values, so a new op is covered the day it is
added.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import types
import typing
from pathlib import Path

import msgpack
import pytest

from rooms import commands as c
from rooms import events as e
from rooms.ids import MemberId
from rooms.state import OrderPreset, Returning, RoundKind
from signaling import wire
from signaling.broker import Sequenced
from signaling.codec import (
    MAX_ID,
    MAX_REF,
    Chat,
    Cmd,
    Codec,
    Hello,
    Ping,
    React,
    ResumeHello,
    Signal,
)
from signaling.errors import SignalingError
from signaling.limits import Limits
from tests.unit.signaling.examples import EVENTS, SECRET_KEY

LIMITS = Limits()
A, B = MemberId("a1"), MemberId("b2")


def pack(frame: object) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)  # type: ignore[no-any-return]


def decode(frame: object, limits: Limits = LIMITS) -> object:
    """Decode `frame` (packed first unless it is already bytes or text)."""
    data = frame if isinstance(frame, bytes | str) else pack(frame)
    return Codec(limits).decode(data)


def refused(frame: object, limits: Limits = LIMITS) -> SignalingError:
    with pytest.raises(SignalingError) as info:
        decode(frame, limits)
    return info.value


def code_of(frame: object, limits: Limits = LIMITS) -> str:
    return refused(frame, limits).code


def cmd(op: str, args: object = None, **extra: object) -> dict[str, object]:
    frame: dict[str, object] = {"t": "cmd", "id": 7, "op": op}
    if args is not None:
        frame["args"] = args
    frame.update(extra)
    return frame


# --- every frame type, decoded ---------------------------------------------------------

HELLO = {"t": "hello", "room": "r0", "token": "tok", "name": "Sam", "accept": True, "key": "k"}
RESUME = {"t": "hello", "resume": "r0.a1.ep0ch.s3cret", "seq": 12}
SIGNAL = {"t": "signal", "to": "b2", "data": {"sdp": {"type": "offer", "sdp": "v=0"}}}
CHAT = {"t": "chat", "id": 4, "text": "hello all"}
BOX = {"t": "chat", "id": 5, "box": b"\x00\x01\x02"}
REACT = {"t": "react", "emoji": "🙏"}
PING = {"t": "ping", "id": 9}
CMD = cmd("admit", {"member": "a1"})

# One valid example of every client frame type (and of both hellos and both chats).
EXAMPLES: dict[str, dict[str, object]] = {
    "hello": HELLO,
    "resume": RESUME,
    "cmd": CMD,
    "signal": SIGNAL,
    "chat": CHAT,
    "box": BOX,
    "react": REACT,
    "ping": PING,
}


def test_hello_decodes_every_field() -> None:
    assert decode(HELLO) == Hello(room="r0", token="tok", name="Sam", accept=True, key="k")


def test_hello_accept_and_key_are_optional() -> None:
    frame = {"t": "hello", "room": "r0", "token": "tok", "name": "Sam"}
    assert decode(frame) == Hello("r0", "tok", "Sam", accept=False, key="")
    assert decode({**frame, "accept": None, "key": None}) == Hello("r0", "tok", "Sam", False, "")


def test_resume_hello_decodes() -> None:
    assert decode(RESUME) == ResumeHello(resume="r0.a1.ep0ch.s3cret", seq=12)


def test_cmd_decodes_into_the_engines_command() -> None:
    assert decode(CMD) == Cmd(id=7, op="admit", command=c.Admit(A))


def test_signal_keeps_data_as_sent() -> None:
    assert decode(SIGNAL) == Signal(to="b2", data={"sdp": {"type": "offer", "sdp": "v=0"}})


def test_chat_with_text_or_box() -> None:
    assert decode(CHAT) == Chat(id=4, text="hello all", box=None)
    assert decode(BOX) == Chat(id=5, text=None, box=b"\x00\x01\x02")


def test_react_and_ping() -> None:
    assert decode(REACT) == React(emoji="🙏")
    assert decode(PING) == Ping(id=9)


def test_unpack_then_parse_is_decode() -> None:
    codec = Codec(LIMITS)
    for frame in EXAMPLES.values():
        assert codec.parse(codec.unpack(pack(frame))) == codec.decode(pack(frame))


# --- closed schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_an_unknown_field_is_refused_in_every_frame_type(kind: str) -> None:
    error = refused({**EXAMPLES[kind], "colour": "blue"})
    assert error.code == "invalid"
    assert "colour" in error.message


def test_a_resume_hello_takes_no_fields_of_a_first_hello() -> None:
    assert code_of({**RESUME, "room": "r0"}) == "invalid"
    assert code_of({**RESUME, "name": "Sam"}) == "invalid"


def test_a_long_unknown_field_name_is_cut_in_the_message() -> None:
    error = refused({**PING, "x" * 500: 1})
    assert error.code == "invalid"
    assert len(error.message) < 100


def test_chat_needs_exactly_one_of_text_and_box() -> None:
    assert code_of({"t": "chat", "id": 1}) == "invalid"
    assert code_of({"t": "chat", "id": 1, "text": "hi", "box": b"x"}) == "invalid"
    assert code_of({"t": "chat", "id": 1, "text": None, "box": None}) == "invalid"


# --- validation failures, each with its code -------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # the frame's type
        ({"id": 1}, "invalid"),
        ({"t": 5}, "invalid"),
        ({"t": None}, "invalid"),
        ({"t": "shout"}, "unknown_type"),
        ({"t": "welcome"}, "unknown_type"),  # a server frame is not a client frame
        ({"t": "event"}, "unknown_type"),
        # hello
        ({"t": "hello", "token": "tok", "name": "Sam"}, "invalid"),
        ({"t": "hello", "room": "r0", "name": "Sam"}, "invalid"),
        ({"t": "hello", "room": "r0", "token": "tok"}, "invalid"),
        ({**HELLO, "room": 5}, "invalid"),
        ({**HELLO, "token": b"tok"}, "invalid"),
        ({**HELLO, "name": ["Sam"]}, "invalid"),
        ({**HELLO, "accept": "yes"}, "invalid"),
        ({**HELLO, "accept": 1}, "invalid"),
        ({**HELLO, "key": 5}, "invalid"),
        # resume
        ({"t": "hello", "resume": "r.m.e.s"}, "invalid"),
        ({"t": "hello", "resume": None, "seq": 1}, "invalid"),
        ({"t": "hello", "resume": 5, "seq": 1}, "invalid"),
        ({**RESUME, "seq": -1}, "invalid"),
        ({**RESUME, "seq": "12"}, "invalid"),
        ({**RESUME, "seq": 1.0}, "invalid"),
        ({**RESUME, "seq": True}, "invalid"),
        # cmd
        ({"t": "cmd", "op": "lock"}, "invalid"),
        ({"t": "cmd", "id": 1}, "invalid"),
        (cmd("lock", id=-1), "invalid"),
        (cmd("lock", id=MAX_ID + 1), "invalid"),
        (cmd("lock", id=True), "invalid"),
        (cmd("lock", id=1.5), "invalid"),
        (cmd("lock", id="1"), "invalid"),
        (cmd("lock", id=None), "invalid"),
        (cmd("shout"), "invalid"),
        (cmd("chat", {"id": 1, "text": "hi"}), "invalid"),  # a frame of its own, not an op
        (cmd("react", {"emoji": "🙏"}), "invalid"),
        (cmd("arrive", {"member": "a1", "name": "Sam"}), "invalid"),  # the node's own
        (cmd("turn_time_up", {"turn_id": "1"}), "invalid"),
        (cmd("grace_expired", {"member": "a1", "since": 1.0}), "invalid"),
        (cmd("disconnect", {"member": "a1"}), "invalid"),
        (cmd("reconnect", {"member": "a1"}), "invalid"),
        (cmd(5), "invalid"),  # type: ignore[arg-type]
        (cmd("lock", ["not", "a", "map"]), "invalid"),
        (cmd("lock", "nope"), "invalid"),
        # signal
        ({"t": "signal", "data": {}}, "invalid"),
        ({"t": "signal", "to": "b2"}, "invalid"),
        ({"t": "signal", "to": "b2", "data": "sdp"}, "invalid"),
        ({"t": "signal", "to": "b2", "data": None}, "invalid"),
        ({"t": "signal", "to": 5, "data": {}}, "invalid"),
        # chat
        ({"t": "chat", "text": "hi"}, "invalid"),
        ({"t": "chat", "id": 1, "text": b"hi"}, "invalid"),
        ({"t": "chat", "id": 1, "box": "not bytes"}, "invalid"),
        # react and ping
        ({"t": "react"}, "invalid"),
        ({"t": "react", "emoji": 1}, "invalid"),
        ({"t": "ping"}, "invalid"),
        ({"t": "ping", "id": -5}, "invalid"),
    ],
)
def test_validation_failure(frame: dict[str, object], code: str) -> None:
    assert code_of(frame) == code


def test_request_ids_reach_two_to_the_53_minus_one() -> None:
    assert decode({"t": "ping", "id": MAX_ID}) == Ping(MAX_ID)
    assert decode({"t": "ping", "id": 0}) == Ping(0)


def test_unknown_type_message_names_the_type_cut_short() -> None:
    error = refused({"t": "x" * 200})
    assert error.code == "unknown_type"
    assert "x" * 32 in error.message
    assert "x" * 33 not in error.message


# --- bytes that are not a frame ---------------------------------------------------------

PING_BYTES = pack(PING)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(PING_BYTES[:-1], id="truncated"),
        pytest.param(PING_BYTES + b"\xc0", id="trailing-bytes"),
        pytest.param(pack(["ping", 9]), id="array"),
        pytest.param(pack(None), id="nil"),
        pytest.param(pack(9), id="integer"),
        pytest.param(pack("ping"), id="string"),
        pytest.param(pack(b"ping"), id="binary"),
        pytest.param(pack({1: "ping"}), id="int-key"),
        pytest.param(pack({"t": "ping", "id": 9, 1.5: 2}), id="float-key"),
        pytest.param(pack({"t": "ping", "id": 9, b"x": 1}), id="bytes-key"),
        pytest.param(pack({"t": "ping", "id": 9, "a": 1, b"b": 2}), id="mixed-keys"),
        pytest.param(pack({b"t": "ping", b"id": 9}), id="bytes-keys-only"),
        pytest.param(pack({"t": "ping", "id": msgpack.ExtType(1, b"\x01")}), id="ext"),
        pytest.param(pack({"t": "ping", "id": msgpack.ExtType(1, b"")}), id="empty-ext"),
        pytest.param(pack({"t": "ping", "id": msgpack.Timestamp(1)}), id="timestamp"),
        pytest.param(
            pack({"t": "signal", "to": "b2", "data": {"x": msgpack.ExtType(5, b"")}}),
            id="nested-empty-ext",
        ),
        pytest.param(
            pack({"t": "signal", "to": "b2", "data": {"x": {b"k": 1}}}), id="nested-bytes-key"
        ),
        pytest.param(pack({"t": "cmd", "id": 1, "op": "lock", "args": {1: 2}}), id="args-int-key"),
        pytest.param(pack({"t": "ping", "id": 9, "x": [0] * 1025}), id="array-too-long"),
        pytest.param(
            pack({"t": "ping", "id": 9, "x": {str(i): i for i in range(257)}}), id="map-too-long"
        ),
    ],
)
def test_bytes_that_are_no_frame_are_bad_frame(data: bytes) -> None:
    assert code_of(data) == "bad_frame"


def test_a_text_frame_is_bad_frame() -> None:
    error = refused('{"t": "ping", "id": 1}')
    assert error.code == "bad_frame"
    assert "binary" in error.message


def test_the_frame_size_is_checked_before_unpacking() -> None:
    limits = Limits(frame_bytes=64)
    # Garbage past the limit is too large, not unreadable: nothing tried to unpack it.
    error = refused(b"\xc1" * 65, limits)
    assert (error.code, error.size, error.limit) == ("too_large", 65, 64)  # type: ignore[attr-defined]
    frame = {"t": "chat", "id": 1, "text": ""}
    frame["text"] = "x" * (64 - len(pack(frame)) - 1)  # str 8: one more byte of length
    assert len(pack(frame)) == 64
    assert decode(frame, limits) == Chat(1, frame["text"], None)  # type: ignore[arg-type]
    frame["text"] += "x"
    assert code_of(frame, limits) == "too_large"


def test_the_default_frame_limit_is_32_kib() -> None:
    frame = {"t": "signal", "to": "b2", "data": {"sdp": ""}}
    frame["data"] = {"sdp": "x" * (32 * 1024 - len(pack(frame)) - 2)}
    assert len(pack(frame)) <= 32 * 1024
    assert isinstance(decode(frame), Signal)
    frame["data"] = {"sdp": "x" * (32 * 1024)}
    assert code_of(frame) == "too_large"


# --- size limits of fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "field", "limit"),
    [
        (HELLO, "name", LIMITS.name_chars),
        (HELLO, "room", MAX_REF),
        (HELLO, "token", MAX_REF),
        (HELLO, "key", MAX_REF),
        (RESUME, "resume", 4 * MAX_REF),
        (SIGNAL, "to", MAX_REF),
        (CHAT, "text", LIMITS.chat_chars),
        (REACT, "emoji", 16),
        (CMD, "op", 32),
    ],
)
def test_text_fields_have_limits(frame: dict[str, object], field: str, limit: int) -> None:
    at_limit = {**frame, field: "x" * limit}
    if field != "op":  # an op at its length limit is still unknown
        decode(at_limit)
    error = refused({**frame, field: "x" * (limit + 1)})
    assert error.code == "too_large"
    assert field in error.message


def test_limits_count_characters_not_bytes() -> None:
    name = "é" * LIMITS.name_chars  # twice as many bytes as characters
    assert decode({**HELLO, "name": name}) == Hello("r0", "tok", name, True, "k")


def test_a_chat_box_may_be_a_little_larger_than_its_text() -> None:
    limit = LIMITS.chat_chars * 4 + 64
    assert decode({**BOX, "box": b"x" * limit}) == Chat(5, None, b"x" * limit)
    assert code_of({**BOX, "box": b"x" * (limit + 1)}) == "too_large"


def test_field_limits_follow_the_configured_limits() -> None:
    limits = Limits(name_chars=5, chat_chars=10)
    assert code_of({**HELLO, "name": "Sammy!"}, limits) == "too_large"
    assert decode({**HELLO, "name": "Sammy"}, limits) == Hello("r0", "tok", "Sammy", True, "k")
    assert code_of({**CHAT, "text": "x" * 11}, limits) == "too_large"


# --- cmd.args for every op ----------------------------------------------------------------

# Valid args for every op, with the command the engine must receive. Optional args take
# non-default values wherever they have one, so a dropped argument would show.
VALID_ARGS: dict[str, tuple[dict[str, object], c.AnyCommand]] = {
    "admit": ({"member": "a1"}, c.Admit(A)),
    "admit_all": ({}, c.AdmitAll()),
    "deny": ({"member": "a1"}, c.Deny(A)),
    "lobby_message": ({"text": "Five more minutes"}, c.MessageLobby("Five more minutes")),
    "remove": ({"member": "a1", "block": True}, c.Remove(A, block=True)),
    "mute": ({"member": "a1"}, c.Mute(A)),
    "unmute": ({}, c.Unmute()),
    "promote": ({"member": "a1"}, c.Promote(A)),
    "demote": ({"member": "a1"}, c.Demote(A)),
    "hand_over": ({"member": "a1"}, c.HandOver(A)),
    "set_successor": ({"member": "a1"}, c.SetSuccessor(A)),
    "away": ({}, c.StepAway()),
    "present": ({}, c.ComeBack()),
    "leave": ({}, c.Leave()),
    "lock": ({}, c.Lock()),
    "unlock": ({}, c.Unlock()),
    "set_topic": ({"text": "Gratitude"}, c.SetTopic("Gratitude")),
    "end_meeting": ({}, c.EndMeeting()),
    "set_order": ({"members": ["a1", "b2"]}, c.SetOrder((A, B))),
    "start_round": (
        {
            "seconds": 90,
            "overtime": 15,
            "order": "arrival",
            "kind": "check_out",
            "second_pass": False,
        },
        c.StartRound(90, 15, OrderPreset.ARRIVAL, RoundKind.CHECK_OUT, second_pass=False),
    ),
    "next": ({}, c.Next()),
    "back": ({}, c.Back()),
    "skip": ({}, c.Skip()),
    "pass": ({}, c.PassTurn()),
    "done": ({}, c.Done()),
    "extend": ({"seconds": 30}, c.Extend(30)),
    "pause": ({}, c.Pause()),
    "unpause": ({}, c.Unpause()),
    "end_round": ({}, c.EndRound()),
    "raise_hand": ({}, c.RaiseHand()),
    "lower_hand": ({"member": "a1"}, c.LowerHand(A)),
    "call_on": ({"member": "a1"}, c.CallOn(A)),
    "support": ({"text": "I'm finding tonight hard"}, c.AskSupport("I'm finding tonight hard")),
    "support_seen": ({"note": 3}, c.MarkSupportSeen(3)),
    "set_returning": ({"returning": "knock"}, c.SetReturning(Returning.KNOCK)),
}


def test_the_table_covers_every_op() -> None:
    assert set(VALID_ARGS) == set(c.OPS)


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_every_op_builds_its_command(op: str) -> None:
    args, expected = VALID_ARGS[op]
    frame = decode(cmd(op, args))
    assert frame == Cmd(7, op, expected)
    assert isinstance(frame, Cmd)
    assert type(frame.command) is c.OPS[op]


@pytest.mark.parametrize("op", sorted(op for op, (args, _) in VALID_ARGS.items() if not args))
def test_an_op_without_args_may_leave_args_out_or_nil(op: str) -> None:
    expected = c.OPS[op]()  # type: ignore[call-arg]
    assert decode(cmd(op)) == Cmd(7, op, expected)
    assert decode({**cmd(op), "args": None}) == Cmd(7, op, expected)
    assert decode(cmd(op, {})) == Cmd(7, op, expected)


@pytest.mark.parametrize(
    ("op", "args", "expected"),
    [
        ("remove", {"member": "a1"}, c.Remove(A, block=False)),
        ("set_successor", {}, c.SetSuccessor(None)),
        ("set_successor", {"member": None}, c.SetSuccessor(None)),
        ("set_topic", {}, c.SetTopic(None)),
        ("set_topic", {"text": None}, c.SetTopic(None)),
        ("lower_hand", {}, c.LowerHand(None)),
        ("lower_hand", {"member": None}, c.LowerHand(None)),
        ("set_order", {"members": []}, c.SetOrder(())),
        ("start_round", {"seconds": 60}, c.StartRound(60)),
    ],
)
def test_optional_args_take_their_defaults(
    op: str, args: dict[str, object], expected: c.AnyCommand
) -> None:
    assert decode(cmd(op, args)) == Cmd(7, op, expected)


def test_a_shuffles_seed_is_not_the_clients_to_choose() -> None:
    error = refused(cmd("start_round", {"seconds": 60, "order": "shuffle", "seed": 4}))
    assert error.code == "invalid"
    assert "seed" in error.message


def test_start_round_defaults_are_the_documented_ones() -> None:
    frame = decode(cmd("start_round", {"seconds": 60}))
    assert isinstance(frame, Cmd)
    assert frame.command == c.StartRound(
        seconds=60,
        overtime=None,
        order=OrderPreset.MANUAL,
        kind=RoundKind.SHARE,
        second_pass=True,
    )


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_an_unknown_arg_is_refused(op: str) -> None:
    args, _ = VALID_ARGS[op]
    error = refused(cmd(op, {**args, "bogus": 1}))
    assert error.code == "invalid"
    assert "bogus" in error.message


REQUIRED = [
    (op, f.name)
    for op, cls in sorted(c.OPS.items())
    for f in dataclasses.fields(cls)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
]


def test_some_ops_have_required_args() -> None:
    assert ("admit", "member") in REQUIRED
    assert ("start_round", "seconds") in REQUIRED
    assert ("start_round", "overtime") not in REQUIRED


@pytest.mark.parametrize(("op", "name"), REQUIRED)
def test_a_missing_required_arg_is_refused(op: str, name: str) -> None:
    args = {k: v for k, v in VALID_ARGS[op][0].items() if k != name}
    error = refused(cmd(op, args))
    assert error.code == "invalid"
    assert name in error.message


def _wrong_values(hint: object) -> list[object]:
    """Values of the wrong wire type for a field annotated `hint` (nil only when the field
    can't be nil)."""
    everywhere: list[object] = [{"a": 1}, 1.5]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return [v for v in _wrong_values(inner) if v is not None]
    if getattr(hint, "__supertype__", None) is str or hint is str:
        return [*everywhere, 5, True, b"a1", ["a1"], None]
    if hint is bool:
        return [*everywhere, 1, 0, "true", None]
    if hint is int:
        return [*everywhere, "60", True, None, MAX_ID + 1, -MAX_ID - 1]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return [*everywhere, "bogus", "", 1, None, [hint(next(iter(hint)))]]
    if typing.get_origin(hint) is tuple:
        return [*everywhere, "a1", [1], [None], [["a1"]], None, ["a1"] * 257]
    raise TypeError(f"no wrong values for {hint!r}")


WRONG = [
    pytest.param(op, f.name, bad, id=f"{op}.{f.name}={bad!r:.20}")
    for op, cls in sorted(c.OPS.items())
    for f in dataclasses.fields(cls)
    if f.name != "seed"
    for bad in _wrong_values(typing.get_type_hints(cls)[f.name])
]


@pytest.mark.parametrize(("op", "name", "bad"), WRONG)
def test_a_wrong_typed_arg_is_refused(op: str, name: str, bad: object) -> None:
    args = {**VALID_ARGS[op][0], name: bad}
    error = refused(cmd(op, args))
    assert error.code == "invalid"
    assert name in error.message


@pytest.mark.parametrize("order", list(OrderPreset))
@pytest.mark.parametrize("kind", list(RoundKind))
def test_start_round_takes_every_order_and_kind(order: OrderPreset, kind: RoundKind) -> None:
    frame = decode(cmd("start_round", {"seconds": 60, "order": order.value, "kind": kind.value}))
    assert isinstance(frame, Cmd)
    assert frame.command == c.StartRound(60, order=order, kind=kind)
    assert type(frame.command.order) is OrderPreset  # type: ignore[union-attr]
    assert type(frame.command.kind) is RoundKind  # type: ignore[union-attr]


def test_an_enum_arg_lists_the_allowed_values() -> None:
    error = refused(cmd("start_round", {"seconds": 60, "order": "alphabetical"}))
    assert error.code == "invalid"
    for preset in OrderPreset:
        assert preset.value in error.message
    error = refused(cmd("start_round", {"seconds": 60, "kind": "SHARE"}))
    assert "check_in" in error.message


def test_the_engine_judges_numbers_the_wire_only_types_them() -> None:
    # Ranges are the engine's rule (it answers `invalid` with a message for the person).
    frame = decode(cmd("extend", {"seconds": -30}))
    assert frame == Cmd(7, "extend", c.Extend(-30))


@pytest.mark.parametrize(
    ("op", "name", "limit"),
    [
        ("support", "text", LIMITS.support_chars),
        ("set_topic", "text", LIMITS.topic_chars),
        ("lobby_message", "text", LIMITS.lobby_message_chars),
        ("admit", "member", MAX_REF),
        ("call_on", "member", MAX_REF),
        ("lower_hand", "member", MAX_REF),
    ],
)
def test_text_args_have_limits(op: str, name: str, limit: int) -> None:
    decode(cmd(op, {name: "x" * limit}))
    error = refused(cmd(op, {name: "x" * (limit + 1)}))
    assert error.code == "too_large"
    assert name in error.message


def test_text_arg_limits_follow_the_configured_limits() -> None:
    limits = Limits(support_chars=4, topic_chars=5, lobby_message_chars=6)
    assert code_of(cmd("support", {"text": "x" * 5}), limits) == "too_large"
    assert code_of(cmd("set_topic", {"text": "x" * 6}), limits) == "too_large"
    assert code_of(cmd("lobby_message", {"text": "x" * 7}), limits) == "too_large"
    decode(cmd("lobby_message", {"text": "x" * 6}), limits)


def test_list_args_have_limits() -> None:
    members = [f"m{i}" for i in range(256)]
    frame = decode(cmd("set_order", {"members": members}))
    assert isinstance(frame, Cmd)
    assert frame.command == c.SetOrder(tuple(MemberId(m) for m in members))
    assert code_of(cmd("set_order", {"members": [*members, "m256"]})) == "invalid"
    assert code_of(cmd("set_order", {"members": ["x" * (MAX_REF + 1)]})) == "too_large"


# --- outbound packing ----------------------------------------------------------------------


def unpack(data: bytes) -> object:
    return msgpack.unpackb(data, raw=False)


def test_server_frames_pack_as_msgpack_maps() -> None:
    codec = Codec(LIMITS)
    assert unpack(codec.pack(wire.ack(3))) == {"t": "ack", "id": 3}
    assert unpack(codec.pack(wire.pong(4, 1000.25))) == {"t": "pong", "id": 4, "now": 1000.25}
    assert unpack(codec.pack(wire.error(None, "invalid", "No."))) == {
        "t": "error",
        "id": None,
        "code": "invalid",
        "message": "No.",
    }
    assert unpack(codec.pack(wire.signal("a1", {"candidate": "c"}))) == {
        "t": "signal",
        "from": "a1",
        "data": {"candidate": "c"},
    }


def test_bytes_pack_as_binary_and_text_as_str() -> None:
    codec = Codec(LIMITS)
    data = codec.pack({"t": "x", "box": b"\x00\x01", "text": "hi"})
    assert b"\xc4\x02\x00\x01" in data  # bin 8, not str
    assert unpack(data) == {"t": "x", "box": b"\x00\x01", "text": "hi"}


def test_packing_is_deterministic_and_keeps_key_order() -> None:
    codec = Codec(LIMITS)
    frame = wire.error(5, "rate_limited", "Slow down.")
    assert codec.pack(frame) == codec.pack(dict(frame)) == pack(frame)
    assert list(msgpack.unpackb(codec.pack(frame), raw=False)) == ["t", "id", "code", "message"]


@pytest.mark.parametrize("event", EVENTS, ids=lambda ev: ev.TYPE)
def test_every_event_packs_with_its_wire_fields(event: e.AnyEvent) -> None:
    frame = unpack(Codec(LIMITS).pack(wire.event_frame("ep0ch", Sequenced(12, event))))
    assert isinstance(frame, dict)
    assert frame.pop("t") == "event"
    assert frame.pop("seq") == 12
    assert frame.pop("epoch") == "ep0ch"
    assert frame.pop("type") == event.TYPE
    expected = {}
    for f in dataclasses.fields(event):
        if f.name == "key":
            continue  # kept in state and history, never sent
        value = getattr(event, f.name)
        expected[e.wire_name(f.name)] = list(value) if isinstance(value, tuple) else value
    assert frame == expected
    assert SECRET_KEY.encode() not in Codec(LIMITS).pack(
        wire.event_frame("ep0ch", Sequenced(12, event))
    )


def test_an_event_frame_decodes_back_into_its_event() -> None:
    for event in EVENTS:
        frame = unpack(Codec(LIMITS).pack(wire.event_frame("ep0ch", Sequenced(1, event))))
        assert isinstance(frame, dict)
        rebuilt = e.from_fields({k: v for k, v in frame.items() if k not in ("t", "seq", "epoch")})
        expected = dataclasses.replace(event, key="") if hasattr(event, "key") else event
        assert rebuilt == expected


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_client_frames_repack_byte_for_byte(kind: str) -> None:
    codec = Codec(LIMITS)
    data = pack(EXAMPLES[kind])
    assert codec.pack(codec.unpack(data)) == data


# --- golden frames (tests/fixtures/frames, made by make.py) ---------------------------------

FRAMES = Path(__file__).resolve().parents[2] / "fixtures" / "frames"
INDEX = json.loads((FRAMES / "index.json").read_text())

GOLDEN: dict[str, object] = {
    "hello.msgpack": Hello("r8Qx2kLm", "invite-token-0123", "Sam", True, "browser-key-42"),
    "hello_resume.msgpack": ResumeHello("r8Qx2kLm.a1b2c3.e5f6.s3cr3t", 42),
    "cmd_admit.msgpack": Cmd(1, "admit", c.Admit(MemberId("a1b2c3"))),
    "cmd_start_round.msgpack": Cmd(
        2,
        "start_round",
        c.StartRound(120, 30, OrderPreset.SHUFFLE, RoundKind.CHECK_IN, second_pass=False),
    ),
    "cmd_next.msgpack": Cmd(3, "next", c.Next()),
    "signal.msgpack": Signal(
        "a1b2c3", {"sdp": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
    ),
    "chat_text.msgpack": Chat(4, "Thank you all 🌱", None),
    "chat_box.msgpack": Chat(5, None, bytes(range(40))),
    "react.msgpack": React("🙏"),
    "ping.msgpack": Ping(6),
    "ping_wide_int.msgpack": Ping(6),
    "react_str16.msgpack": React("🙏"),
}


def test_the_fixtures_are_what_make_py_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_frames", FRAMES / "make.py")
    assert spec is not None
    assert spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    files = make.build()
    on_disk = {p.name for p in FRAMES.iterdir() if p.suffix in (".msgpack", ".json")}
    assert set(files) == on_disk
    for name, data in files.items():
        assert (FRAMES / name).read_bytes() == data, f"{name}: run tests/fixtures/frames/make.py"


def test_every_valid_golden_frame_is_listed_here() -> None:
    assert set(INDEX["valid"]) == set(GOLDEN)
    assert any(not v["canonical"] for v in INDEX["valid"].values())


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_valid_golden_frame_decodes_and_repacks(name: str) -> None:
    data = (FRAMES / name).read_bytes()
    codec = Codec(LIMITS)
    assert codec.decode(data) == GOLDEN[name]
    repacked = codec.pack(codec.unpack(data))
    if INDEX["valid"][name]["canonical"]:
        assert repacked == data
    else:  # the same map, said more briefly
        assert repacked != data
        assert len(repacked) < len(data)
        assert codec.decode(repacked) == GOLDEN[name]


@pytest.mark.parametrize("name", sorted(INDEX["broken"]))
def test_a_broken_golden_frame_gets_its_code(name: str) -> None:
    assert code_of((FRAMES / name).read_bytes()) == INDEX["broken"][name]
