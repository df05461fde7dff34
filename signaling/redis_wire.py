"""What the Redis broker writes into Redis: key and channel names, log entries, messages.

Rules:
- Every key of a room carries the hash tag `{<room>}`, so one room lives in one Cluster
  slot and every script touches keys of one slot only. Nothing else is hash-tagged.
- Events are stored as msgpack maps with their private fields (`fields_of(private=True)`),
  the same bytes in the log and in the published message.
- A published message is one line of ASCII header (kind and numbers, split by spaces) and,
  for some kinds, a msgpack body after the newline. The header is written by the Lua
  scripts, which know the epoch and the sequence numbers; the body by Python.

A room's messages go to each node serving it, on the channel `hearth:{<room>}:to:<node>`
(the room's channel for that node): the scripts publish one copy to every node in the
room's set `hearth:{<room>}:nodes`, and none of a commit to the node that made it (its
transact delivers it; an echo through Redis would cost a write there and a read here).
Kinds on a room's channel:
`c <epoch> <first seq> <drop 0|1> <v> <top seq> <node> [<dedupe key>]` + [now, [event
bytes...]] (a commit: `v` is the state version after it, `top` its last seq, `node` the
committing node's id or `-`, the dedupe key is there when it has no spaces), `d <epoch>`
(the meeting state was dropped),
`r <epoch> <previous epoch>` (restored under a new epoch), `s` + [room, member, payload] (a
signal for whoever holds the member). A reader takes a commit header without `v` and `top`
(an older node's) too: its `v` is unknown.
Kinds on a node's channel: `h` (its own heartbeat), `s` (a signal), `k` + [room, member]
(a kick: the member's seat connected elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, NamedTuple

import msgpack

from rooms import AnyEvent, MemberId, RoomId, RoomState, fields_of, from_fields
from rooms.events import EVENT_TYPES, WIRE_FIELDS
from signaling.broker import Sequenced
from signaling.redis_feed import Batch
from signaling.state_codec import decode

ROOMS_KEY: Final = "hearth:rooms"  # the set of rooms with meeting state (for live_rooms)
NODES_KEY: Final = "hearth:nodes"  # the set of nodes that have beaten (for reaping)
NODE_PREFIX: Final = "hearth:node:"


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The keys and the channel of one room (`of` remembers the last rooms asked for)."""

    state: str  # hash: epoch, seq, v, state, from
    log: str  # stream: <seq>-0 → t (now), c (the commit's first seq), e (event)
    dedupe: str  # sorted set: dedupe key → expiry on the broker's clock
    seats: str  # hash: member → sha256 of the resume secret
    where: str  # hash: member → node id holding the connection
    nodes: str  # set: the nodes serving the room, each sent the room's messages
    reap: str  # a short lock: one node reaps a dead node's members
    gone: str  # the last dropped epoch, so a lost drop message is never mistaken for loss
    to: str  # the room's channel for a node is this prefix and the node's id

    @classmethod
    def of(cls, room: RoomId) -> RoomKeys:
        keys = _KEYS.get(room)
        if keys is None:
            if len(_KEYS) >= KEYS_REMEMBERED:
                _KEYS.clear()
            keys = _KEYS[room] = cls.make(room)
        return keys

    @classmethod
    def make(cls, room: RoomId) -> RoomKeys:
        base = f"hearth:{{{room}}}"
        return cls(
            state=base,
            log=f"{base}:log",
            dedupe=f"{base}:dd",
            seats=f"{base}:seats",
            where=f"{base}:where",
            nodes=f"{base}:nodes",
            reap=f"{base}:reap",
            gone=f"{base}:gone",
            to=f"{base}:to:",
        )

    def all(self) -> list[str]:
        """The keys a script that drops or creates the room touches, in a fixed order (the
        first six are those whose TTL the scripts' upkeep renews)."""
        return [
            self.state,
            self.log,
            self.dedupe,
            self.seats,
            self.where,
            self.nodes,
            self.reap,
            self.gone,
        ]


KEYS_REMEMBERED: Final = 4096
_KEYS: dict[RoomId, RoomKeys] = {}


def room_of_channel(channel: str) -> RoomId | None:
    """The room of a room's channel for a node (`hearth:{<room>}:to:<node>`)."""
    if channel.startswith("hearth:{"):
        end = channel.find("}:to:", 8)
        if end > 8:
            return RoomId(channel[8:end])
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
        fields = {text(k): v for k, v in raw.items()}
        state = fields.get("state")
        return cls(
            epoch=text(fields.get("epoch", b"")),
            seq=int(fields.get("seq", b"0")),
            v=int(fields.get("v", b"0")),
            state=state.encode() if isinstance(state, str) else state,
            previous=text(fields.get("from", b"")),
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


def text(value: bytes | str) -> str:
    """A reply's bytes as text (a client made with decode_responses gives str already)."""
    return value.decode() if isinstance(value, bytes) else value


# --- events ------------------------------------------------------------------------------


def pack_event(event: AnyEvent) -> bytes:
    out = msgpack.packb(fields_of(event, private=True), use_bin_type=True)
    assert isinstance(out, bytes)
    return out


def unpack_event(data: bytes) -> AnyEvent:
    """`from_fields` of the stored map, with the field table worked out once per type."""
    raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    if not isinstance(raw, dict):
        raise ValueError("an event is a map")
    cls = EVENT_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return from_fields(raw)  # raises as `from_fields` does
    kwargs: dict[str, object] = {}
    for name, wire, _private in WIRE_FIELDS[cls]:
        if wire in raw:
            value = raw[wire]
            kwargs[name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)  # type: ignore[arg-type]


def published_key(dedupe: str | None) -> str:
    """The dedupe key as the commit's header may carry it: one without spaces, or none."""
    if not dedupe or any(ch.isspace() for ch in dedupe):
        return ""
    return dedupe


def published_node(node: str) -> str:
    """The committing node's id as the commit's header carries it (`-`: not said)."""
    if not node or node == "-" or any(ch.isspace() for ch in node):
        return "-"
    return node


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


class CommitHead(NamedTuple):
    """A commit message's header, read without its body (a tuple: made per message)."""

    epoch: str
    first: int
    drop: bool
    v: int | None  # the state version after the commit; None from an older node
    top: int | None  # its last seq; None from an older node
    node: str  # the committing node's id; "" when not said
    dedupe: str  # "" when not published


@dataclass(frozen=True, slots=True)
class CommitMsg:
    epoch: str
    first: int
    drop: bool
    now: float
    events: tuple[Sequenced, ...]
    v: int | None = None
    dedupe: str = ""


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


def commit_head(data: bytes) -> CommitHead:
    """The header of a commit message (`data` starts with `c `); ValueError if malformed."""
    parts = data[: data.index(b"\n")].decode("ascii").split(" ")
    if len(parts) < 7:  # an older node's: no v, top or node
        return CommitHead(parts[1], int(parts[2]), parts[3] == "1", None, None, "", "")
    node = parts[6]
    return CommitHead(
        parts[1],
        int(parts[2]),
        parts[3] == "1",
        int(parts[4]),
        int(parts[5]),
        "" if node == "-" else node,
        parts[7] if len(parts) > 7 else "",
    )


def commit_body_of(head: CommitHead, data: bytes) -> tuple[float, tuple[Sequenced, ...]]:
    """The commit's `now` and events, read from the body after `head`."""
    now, packed = _body(data[data.index(b"\n") + 1 :])
    first = head.first
    return float(now), tuple(Sequenced(first + i, unpack_event(ev)) for i, ev in enumerate(packed))


def commit_of(head: CommitHead, data: bytes) -> CommitMsg:
    """The whole commit message whose header is `head`."""
    now, events = commit_body_of(head, data)
    return CommitMsg(head.epoch, head.first, head.drop, now, events, head.v, head.dedupe)


def parse(data: bytes) -> Message:
    """Read one published message; raises ValueError (or a msgpack error) if malformed."""
    if data.startswith(b"c "):
        return commit_of(commit_head(data), data)
    head, _, body = data.partition(b"\n")
    parts = head.decode("ascii").split(" ")
    kind = parts[0]
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
