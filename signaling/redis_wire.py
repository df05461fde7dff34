"""What the Redis broker writes into Redis: key and channel names, log entries, messages.

Rules:
- Every key of a room carries the hash tag `{<room>}`, so one room lives in one Cluster
  slot and every script touches keys of one slot only. Nothing else is hash-tagged.
- Events are stored as msgpack maps with their private fields (`fields_of(private=True)`),
  the same bytes in the log and in the published message.
- A published message is one line of ASCII header (kind and numbers, split by spaces) and,
  for some kinds, a msgpack body after the newline. The header is written by the Lua
  scripts, which know the epoch and the sequence numbers; the body by Python.

Kinds on a room's channel: `c <epoch> <first seq> <drop 0|1>` + [now, [event bytes...]],
`d <epoch>` (the meeting state was dropped), `r <epoch> <previous epoch>` (restored under a
new epoch), `s` + [room, member, payload] (a signal for whoever holds the member).
Kinds on a node's channel: `h` (its own heartbeat), `s` (a signal), `k` + [room, member]
(a kick: the member's seat connected elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import msgpack

from rooms import AnyEvent, MemberId, RoomId, RoomState, fields_of, from_fields
from signaling.broker import Sequenced
from signaling.redis_feed import Batch
from signaling.state_codec import decode

ROOMS_KEY: Final = "hearth:rooms"  # the set of rooms with meeting state (for live_rooms)
NODE_PREFIX: Final = "hearth:node:"


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The keys and the channel of one room."""

    state: str  # hash: epoch, seq, v, state, from
    log: str  # stream: <seq>-0 → t (now), c (the commit's first seq), e (event)
    dedupe: str  # sorted set: dedupe key → expiry on the broker's clock
    seats: str  # hash: member → sha256 of the resume secret
    where: str  # hash: member → node id holding the connection
    reap: str  # a short lock: one node reaps a dead node's members
    gone: str  # the last dropped epoch, so a lost drop message is never mistaken for loss
    channel: str

    @classmethod
    def of(cls, room: RoomId) -> RoomKeys:
        base = f"hearth:{{{room}}}"
        return cls(
            state=base,
            log=f"{base}:log",
            dedupe=f"{base}:dd",
            seats=f"{base}:seats",
            where=f"{base}:where",
            reap=f"{base}:reap",
            gone=f"{base}:gone",
            channel=base,
        )

    def all(self) -> list[str]:
        """The keys a script that drops or creates the room touches, in a fixed order."""
        return [self.state, self.log, self.dedupe, self.seats, self.where, self.reap, self.gone]


def room_of_channel(channel: str) -> RoomId | None:
    if channel.startswith("hearth:{") and channel.endswith("}"):
        return RoomId(channel[len("hearth:{") : -1])
    return None


def node_key(node: str) -> str:
    """The node's heartbeat key; its channel has the same name (keys and channels are apart)."""
    return f"{NODE_PREFIX}{node}"


# --- a room as stored -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """The room's hash as read: no meeting state at all is epoch ""."""

    EMPTY: ClassVar[Stored]

    epoch: str = ""
    seq: int = 0
    v: int = 0
    state: bytes | None = None
    previous: str = ""  # the epoch this one was restored from, if it was

    @classmethod
    def of(cls, raw: Mapping[bytes | str, bytes | str]) -> Stored:
        if not raw:
            return cls.EMPTY
        fields = {_text(k): v for k, v in raw.items()}
        state = fields.get("state")
        return cls(
            epoch=_text(fields.get("epoch", b"")),
            seq=int(fields.get("seq", b"0")),
            v=int(fields.get("v", b"0")),
            state=state.encode() if isinstance(state, str) else state,
            previous=_text(fields.get("from", b"")),
        )

    def room_state(self) -> RoomState:
        return decode(self.state) if self.state else RoomState()


Stored.EMPTY = Stored()

LogEntry = tuple[bytes, dict[bytes, bytes]]


def seq_of(entry_id: bytes) -> int:
    """A log entry's id is `<seq>-0`."""
    return int(entry_id.split(b"-", 1)[0])


def batches_of(epoch: str, entries: list[LogEntry], top: int) -> list[Batch]:
    """Log entries (consecutive seqs) as batches, one per commit (`c`, its first seq), up to
    `top`; the first batch may start inside a commit whose beginning was not read."""
    out: list[Batch] = []
    group: list[Sequenced] = []
    group_c = b""
    group_t = 0.0
    for entry_id, fields in entries:
        seq = seq_of(entry_id)
        if seq > top:
            break
        if group and fields[b"c"] != group_c:
            out.append(Batch(epoch, group[0].seq, tuple(group), group_t))
            group = []
        group_c, group_t = fields[b"c"], float(fields[b"t"])
        group.append(Sequenced(seq, unpack_event(fields[b"e"])))
    if group:
        out.append(Batch(epoch, group[0].seq, tuple(group), group_t))
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- events ------------------------------------------------------------------------------


def pack_event(event: AnyEvent) -> bytes:
    out = msgpack.packb(fields_of(event, private=True), use_bin_type=True)
    assert isinstance(out, bytes)
    return out


def unpack_event(data: bytes) -> AnyEvent:
    raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    if not isinstance(raw, dict):
        raise ValueError("an event is a map")
    return from_fields(raw)


def commit_body(now: float, events: list[bytes]) -> bytes:
    out = msgpack.packb([now, events], use_bin_type=True)
    assert isinstance(out, bytes)
    return out


def frame(kind: str, body: object = None) -> bytes:
    """A message made entirely in Python: the kind, a newline, then the msgpack body."""
    packed = b"" if body is None else msgpack.packb(body, use_bin_type=True)
    assert isinstance(packed, bytes)
    return kind.encode() + b"\n" + packed


# --- reading messages --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitMsg:
    epoch: str
    first: int
    drop: bool
    now: float
    events: tuple[Sequenced, ...]


@dataclass(frozen=True, slots=True)
class DropMsg:
    epoch: str


@dataclass(frozen=True, slots=True)
class RestoreMsg:
    epoch: str
    previous: str


@dataclass(frozen=True, slots=True)
class SignalMsg:
    room: RoomId
    to: MemberId
    payload: bytes


@dataclass(frozen=True, slots=True)
class KickMsg:
    room: RoomId
    member: MemberId


@dataclass(frozen=True, slots=True)
class HeartbeatMsg:
    pass


Message = CommitMsg | DropMsg | RestoreMsg | SignalMsg | KickMsg | HeartbeatMsg


def parse(data: bytes) -> Message:
    """Read one published message; raises ValueError (or a msgpack error) if malformed."""
    head, _, body = data.partition(b"\n")
    parts = head.decode("ascii").split(" ")
    kind = parts[0]
    if kind == "c":
        now, packed = _body(body)
        first = int(parts[2])
        events = tuple(Sequenced(first + i, unpack_event(ev)) for i, ev in enumerate(packed))
        return CommitMsg(parts[1], first, parts[3] == "1", float(now), events)
    if kind == "d":
        return DropMsg(parts[1])
    if kind == "r":
        return RestoreMsg(parts[1], parts[2])
    if kind == "s":
        room, to, payload = _body(body)
        return SignalMsg(RoomId(room), MemberId(to), bytes(payload))
    if kind == "k":
        room, member = _body(body)
        return KickMsg(RoomId(room), MemberId(member))
    if kind == "h":
        return HeartbeatMsg()
    raise ValueError("unknown message kind")


def _body(body: bytes) -> list[Any]:
    raw = msgpack.unpackb(body, raw=False, strict_map_key=True)
    if not isinstance(raw, list):
        raise ValueError("a message body is a list")
    return raw
