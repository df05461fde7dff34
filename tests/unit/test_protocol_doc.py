"""docs/protocol.md in step with the code.

Independent clients are written against docs/protocol.md, so every name the code puts on the
wire must be there, and every name the doc's tables give must exist in the code: the ops with
their arguments and who may send them, the event types with their wire fields, the client
and server frames' fields, the snapshot's fields, the error codes, the close codes and the
limits with their `HEARTH_*` variables.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import msgpack
import pytest

from rooms import commands as c
from rooms import errors as room_errors
from rooms import events as e
from rooms.evolve import replay
from rooms.ids import MemberId, RoomId, TurnId
from rooms.policy import WHO_MAY
from rooms.snapshot import RoomInfo, snapshot
from rooms.state import Role
from server.settings import OPTIONS
from signaling import codec, wire
from signaling import errors as signaling_errors
from signaling.broker import Sequenced
from signaling.closes import Close
from signaling.connection import Connection
from signaling.errors import SignalingError
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from signaling.node import Node
from signaling.outlet import OutFrame
from signaling.session import ACCEPTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")


def section(title: str, level: int = 2) -> str:
    """The text under the heading `title` up to the next heading of the same level or above."""
    marks = "#" * level
    match = re.search(
        rf"^{marks} {re.escape(title)}\n(.*?)(?=^#{{1,{level}}} |\Z)", TEXT, re.S | re.M
    )
    assert match is not None, f"docs/protocol.md has no heading {marks} {title}"
    return match.group(1)


def tables(text: str) -> list[list[list[str]]]:
    """Every table in `text`, as rows (header and separator left out) of stripped cells."""
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if current is None:
            current = []
            found.append(current)
            current.append(cells)  # the header, dropped below
        elif not re.fullmatch(r"[-: ]+", "".join(cells)):
            current.append(cells)
    for table in found:
        widths = {len(row) for row in table}
        assert len(widths) == 1, f"a table row has a stray `|`: {table}"
    return [table[1:] for table in found]


def table(title: str, level: int = 2) -> list[list[str]]:
    found = tables(section(title, level))
    assert len(found) >= 1, f"no table under {title}"
    return found[0]


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def first_names(rows: list[list[str]]) -> list[str]:
    out = []
    for row in rows:
        found = names(row[0])
        assert len(found) == 1, f"the first cell names one thing: {row[0]!r}"
        out.append(found[0])
    return out


# --- ops -------------------------------------------------------------------------------

OPS_TABLE = {row[0].strip("`"): row for row in table("Ops")}


def test_the_ops_table_lists_exactly_the_ops() -> None:
    listed = first_names(table("Ops"))
    assert len(listed) == len(set(listed)), "an op is listed twice"
    assert set(listed) == set(c.OPS)


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_every_op_is_named_in_the_doc(op: str) -> None:
    assert f"`{op}`" in TEXT


def client_args(op: str) -> dict[str, bool]:
    """The command's fields a client may send in `cmd.args` (some, like a shuffle's seed, the
    node fills in itself), each with whether it is optional. Asked of the codec: a field it
    does not take is refused exactly like a made-up name."""
    wire_codec = codec.Codec(Limits())

    def refusal(args: dict[str, object]) -> str | None:
        frame = {"t": "cmd", "id": 1, "op": op, "args": args}
        try:
            wire_codec.decode(msgpack.packb(frame))
        except SignalingError as exc:
            return exc.message
        return None

    unknown = refusal({"made_up_name": {}})
    assert unknown is not None
    return {
        f.name: f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(c.OPS[op])
        if refusal({f.name: {}}) != unknown.replace("made_up_name", f.name)
    }


def test_client_args_leave_out_what_the_node_fills_in() -> None:
    assert "seconds" in client_args("start_round")
    assert "seed" not in client_args("start_round")


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_an_ops_args_are_what_the_codec_takes(op: str) -> None:
    cell = OPS_TABLE[op][1]
    documented = dict.fromkeys(names(cell), False)
    for name in documented:
        documented[name] = f"`{name}`?" in cell
    assert documented == client_args(op), "args (a `?` marks an optional one)"


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_who_may_send_an_op_is_the_policy(op: str) -> None:
    who = {place.strip() for place in OPS_TABLE[op][2].split(",")}
    assert who == {place.value for place in WHO_MAY[c.OPS[op]]}


@pytest.mark.parametrize("op", sorted(c.OPS))
def test_the_events_an_op_causes_exist(op: str) -> None:
    caused = names(OPS_TABLE[op][3])
    assert caused, f"{op} names the events it causes"
    assert set(caused) <= set(e.EVENT_TYPES)


# --- events ----------------------------------------------------------------------------

EVENTS_TABLE = {row[0].strip("`"): row for row in table("Events")}


def wire_fields(cls: type[e.AnyEvent]) -> list[str]:
    return [e.wire_name(f.name) for f in dataclasses.fields(cls) if f.name not in e.PRIVATE_FIELDS]


def test_the_events_table_lists_exactly_the_event_types() -> None:
    listed = first_names(table("Events"))
    assert len(listed) == len(set(listed)), "an event type is listed twice"
    assert set(listed) == set(e.EVENT_TYPES)


@pytest.mark.parametrize("type_", sorted(e.EVENT_TYPES))
def test_every_event_type_and_its_wire_fields_are_in_its_row(type_: str) -> None:
    documented = set(names(EVENTS_TABLE[type_][1]))
    fields = set(wire_fields(e.EVENT_TYPES[type_]))
    assert fields <= documented
    assert not documented & e.PRIVATE_FIELDS, "a private field is documented as sent"
    if not fields:
        assert EVENTS_TABLE[type_][1] == "—"


@pytest.mark.parametrize("type_", sorted(e.EVENT_TYPES))
def test_every_event_type_has_an_exact_example(type_: str) -> None:
    examples = {}
    for line in section("Events").splitlines():
        match = re.match(r'\{t: "event", .*type: "(\w+)"', line)
        if match:
            examples[match.group(1)] = line
    assert set(examples) <= set(e.EVENT_TYPES)
    keys = re.findall(r"(?:^\{|, )(\w+): ", examples[type_])
    assert keys == ["t", "seq", "epoch", "type", *wire_fields(e.EVENT_TYPES[type_])]


# --- phases ----------------------------------------------------------------------------

FRAME_NAMES: dict[str, set[type[codec.Inbound]]] = {
    "hello": {codec.Hello, codec.ResumeHello},
    "cmd": {codec.Cmd},
    "signal": {codec.Signal},
    "chat": {codec.Chat},
    "react": {codec.React},
    "ping": {codec.Ping},
}


def test_the_phase_table_is_the_sessions() -> None:
    rows = table("Phases", level=3)
    documented = {}
    for row in rows:
        kinds: set[type[codec.Inbound]] = set()
        for name in names(row[1]):
            kinds |= FRAME_NAMES[name]
        documented[row[0]] = kinds
    assert documented == {phase.value: set(kinds) for phase, kinds in ACCEPTS.items()}


# --- frames ----------------------------------------------------------------------------

CLIENT_FRAMES = {
    "hello": codec.Hello,
    "hello (resume)": codec.ResumeHello,
    "cmd": codec.Cmd,
    "signal": codec.Signal,
    "chat": codec.Chat,
    "react": codec.React,
    "ping": codec.Ping,
}


def frame_table(group: str, frame: str) -> list[str]:
    text = section(group)
    match = re.search(rf"^### {re.escape(frame)}\n(.*?)(?=^### |\Z)", text, re.S | re.M)
    assert match is not None, f"no ### {frame} under ## {group}"
    found = tables(match.group(1))
    assert found, f"no field table for {frame}"
    return [names(row[0])[0] for row in found[0] if names(row[0])]


def test_every_client_frame_type_is_documented() -> None:
    assert set(CLIENT_FRAMES.values()) == set(codec.Inbound.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("frame", sorted(CLIENT_FRAMES))
def test_client_frame_fields(frame: str) -> None:
    fields = [f.name for f in dataclasses.fields(CLIENT_FRAMES[frame])]
    fields = ["args" if f == "command" else f for f in fields]  # a cmd's args build its command
    assert frame_table("Client frames", frame) == fields


@pytest.mark.parametrize(
    ("frame", "example"),
    [
        ("ack", wire.ack(1)),
        ("error", wire.error(1, "invalid", "No.")),
        ("pong", wire.pong(1, 1.0)),
        ("signal", wire.signal("a1", {})),
    ],
)
def test_server_frame_fields(frame: str, example: dict[str, object]) -> None:
    documented = frame_table("Server frames", frame) if frame != "ack" else ["id"]
    assert example["t"] == frame
    assert documented == [k for k in example if k != "t"]
    assert f'{{t: "{frame}"' in section("Server frames")


class _Outlet:
    def __init__(self) -> None:
        self.frames: list[OutFrame] = []

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def send(self, frame: OutFrame) -> bool:
        self.frames.append(frame)
        return True

    def close(self, code: int, reason: str) -> None:
        pass


class _OneRoom:
    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        return RoomInfo(RoomId(room), "Room"), Role.FACILITATOR

    async def info(self, room: str) -> RoomInfo | None:
        return RoomInfo(RoomId(room), "Room")


async def test_the_welcome_fields() -> None:
    node = Node(
        MemoryBroker(Limits(), grace_seconds=60), _OneRoom(), limits=Limits(), grace_seconds=60
    )
    outlet = _Outlet()
    hello = {"t": "hello", "room": "r", "token": "t", "name": "Fran", "accept": True}
    await Connection(node, outlet, "10.0.0.1").receive(msgpack.packb(hello))
    welcome = msgpack.unpackb(outlet.frames[0].payload, raw=False)
    assert welcome["t"] == "welcome"
    assert set(welcome) - {"t"} == set(frame_table("Server frames", "welcome"))
    assert list(welcome["state"]) == first_names(table("Snapshot"))


def test_the_event_frame_fields() -> None:
    frame = wire.event_frame("ep", Sequenced(1, e.Locked()))
    assert [k for k in frame if k != "t"] == frame_table("Server frames", "event")


# --- the snapshot ----------------------------------------------------------------------

F, W = MemberId("f"), MemberId("w")


def _room_with_everything() -> dict[str, object]:
    state = replay(
        [
            e.Admitted(F, "Fran", "facilitator"),
            e.JoinedLobby(W, "Wren", 1),
            e.OrderSet((F,)),
            e.RoundStarted("share", 60, 0, True),
            e.TurnStarted(TurnId("1"), F, 1060.0, 60.0, 1),
        ]
    )
    return snapshot(state, F, RoomInfo(RoomId("r"), "Room"))


def test_the_snapshot_table_lists_exactly_its_fields() -> None:
    view = _room_with_everything()
    rows = table("Snapshot")
    assert first_names(rows) == list(view)


def test_the_round_table_lists_exactly_its_fields() -> None:
    view = _room_with_everything()
    round_ = view["round"]
    assert isinstance(round_, dict)
    rows = tables(section("Snapshot"))[1]
    assert first_names(rows) == list(round_)


@pytest.mark.parametrize("field", ["members", "waiting"])
def test_the_entries_of_members_and_waiting_are_documented(field: str) -> None:
    view = _room_with_everything()
    entries = view[field]
    assert isinstance(entries, list)
    assert entries
    row = {r[0].strip("`"): r for r in table("Snapshot")}[field]
    assert set(entries[0]) <= set(names(row[2]))


# --- errors ----------------------------------------------------------------------------


def _codes(module: object, base: type[Exception]) -> set[str]:
    return {
        cls.code  # type: ignore[attr-defined]
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, base)
    }


ERROR_CODES = _codes(signaling_errors, signaling_errors.SignalingError) | _codes(
    room_errors, room_errors.RoomError
)


def test_the_error_codes_are_the_ones_we_know() -> None:
    assert {"bad_frame", "invalid", "not_allowed", "room_locked", "internal"} <= ERROR_CODES


def test_the_errors_table_lists_exactly_the_error_codes() -> None:
    listed = first_names(table("Errors"))
    assert len(listed) == len(set(listed))
    assert set(listed) == ERROR_CODES


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_error_code_is_named_in_the_doc(code: str) -> None:
    assert f"`{code}`" in TEXT


# --- close codes -----------------------------------------------------------------------


def test_the_close_codes_table_lists_exactly_the_close_codes() -> None:
    rows = table("Close codes")
    documented = {names(row[0])[0]: int(row[1]) for row in rows}
    assert documented == {close.name: close.value for close in Close}


# --- limits ----------------------------------------------------------------------------

LIMIT_OPTIONS = {option.name: option for option in OPTIONS if option.limit}


def test_the_limits_table_lists_exactly_the_limits() -> None:
    assert first_names(table("Limits")) == list(Limits.names())


@pytest.mark.parametrize("name", Limits.names())
def test_each_limit_has_its_default_variable_and_flag(name: str) -> None:
    row = {r[0].strip("`"): r for r in table("Limits")}[name]
    default = {f.name: f.default for f in dataclasses.fields(Limits)}[name]
    assert row[1] == str(default)
    option = LIMIT_OPTIONS[name]
    assert option.env == "HEARTH_" + name.upper()
    assert names(row[2]) == [option.env]
    assert names(row[3]) == [option.flag]
