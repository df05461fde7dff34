"""A room's meeting state as bytes, for the Redis broker: `encode(state)` and `decode(data)`.

Rules:
- Exact: `decode(encode(s)) == s` for every `RoomState`, and every value keeps its type (an
  int stays an int, a float a float, None stays None), so a state read back from Redis
  behaves exactly like the one the engine produced.
- Versioned: the first element is `VERSION`. The layout is positional, so any change to the
  state classes must come with a new version (and, while old data may still be stored, a
  decoder for the old one: version 1 is still read); a test compares the field lists below
  with the dataclasses, so a new field can't slip past unnoticed. Data of another version
  raises `StateCodecError`.
- Meeting state is ephemeral: these bytes live in Redis for the meeting only.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from rooms.ids import MemberId, TurnId
from rooms.state import (
    PauseReason,
    Person,
    Returning,
    Role,
    RoomState,
    Round,
    RoundKind,
    SupportNote,
    Turn,
)

VERSION: Final = 2

# The positional layout of this version, class by class, in `dataclasses.fields` order.
PERSON_FIELDS: Final = (
    "id", "name", "role", "arrived", "waiting", "key", "away", "muted", "reconnecting_since",
)  # fmt: skip
TURN_FIELDS: Final = (
    "id", "speaker", "seconds", "deadline", "remaining", "time_up", "pause_reason",
)  # fmt: skip
ROUND_FIELDS: Final = (
    "kind", "seconds", "overtime", "second_pass", "pass_no", "spoken", "passed",
    "second_spoken", "history", "turn",
)  # fmt: skip
NOTE_FIELDS: Final = ("id", "from_", "name", "text", "at", "seen")
STATE_FIELDS: Final = (
    "people", "order", "round", "hands", "floor", "topic", "locked", "held", "ended",
    "successor", "blocked_keys", "returning", "known_keys", "arrivals", "turns", "notes",
    "notes_made",
)  # fmt: skip

# Version 1 (before support notes, pause reasons and returning people): read by name, and
# what it lacks takes the fields' defaults, so a meeting survives a node upgrade.
V1_TURN_FIELDS: Final = ("id", "speaker", "seconds", "deadline", "remaining", "time_up")
V1_STATE_FIELDS: Final = (
    "people", "order", "round", "hands", "floor", "topic", "locked", "held", "ended",
    "successor", "blocked_keys", "arrivals", "turns",
)  # fmt: skip


class StateCodecError(ValueError):
    """The bytes are not a room state this version of Hearth can read."""


def encode(state: RoomState) -> bytes:
    s = state
    out = msgpack.packb(
        [
            VERSION,
            [_person(p) for p in s.people],
            list(s.order),
            None if s.round is None else _round(s.round),
            list(s.hands),
            s.floor,
            s.topic,
            s.locked,
            s.held,
            s.ended,
            s.successor,
            sorted(s.blocked_keys),
            s.returning.value,
            sorted(s.known_keys),
            s.arrivals,
            s.turns,
            [_note(n) for n in s.notes],
            s.notes_made,
        ],
        use_bin_type=True,
    )
    assert isinstance(out, bytes)
    return out


def decode(data: bytes) -> RoomState:
    """The state in `data`; `StateCodecError` if it isn't one (another version, damage)."""
    try:
        raw = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise StateCodecError("not msgpack") from exc
    if not isinstance(raw, list) or not raw:
        raise StateCodecError("not a versioned state")
    if raw[0] not in (1, VERSION):
        raise StateCodecError(f"state version {raw[0]!r}, expected {VERSION}")
    v1 = raw[0] == 1
    fields = _fields(raw[1:], V1_STATE_FIELDS if v1 else STATE_FIELDS)
    turn_layout = V1_TURN_FIELDS if v1 else TURN_FIELDS
    try:
        return RoomState(
            people=tuple(_person_of(p) for p in _list(fields["people"])),
            order=_ids(fields["order"]),
            round=None if fields["round"] is None else _round_of(fields["round"], turn_layout),
            hands=_ids(fields["hands"]),
            floor=fields["floor"],
            topic=fields["topic"],
            locked=fields["locked"],
            held=fields["held"],
            ended=fields["ended"],
            successor=fields["successor"],
            blocked_keys=frozenset(_list(fields["blocked_keys"])),
            returning=Returning(fields.get("returning", Returning.WELCOME.value)),
            known_keys=frozenset(_list(fields.get("known_keys", []))),
            arrivals=fields["arrivals"],
            turns=fields["turns"],
            notes=tuple(_note_of(n) for n in _list(fields.get("notes", []))),
            notes_made=fields.get("notes_made", 0),
        )
    except (TypeError, ValueError) as exc:
        raise StateCodecError("malformed state") from exc


# --- encoding ----------------------------------------------------------------------------


def _person(p: Person) -> list[object]:
    return [
        p.id,
        p.name,
        p.role.value,
        p.arrived,
        p.waiting,
        p.key,
        p.away,
        p.muted,
        p.reconnecting_since,
    ]


def _turn(t: Turn) -> list[object]:
    reason = None if t.pause_reason is None else t.pause_reason.value
    return [t.id, t.speaker, t.seconds, t.deadline, t.remaining, t.time_up, reason]


def _note(n: SupportNote) -> list[object]:
    return [n.id, n.from_, n.name, n.text, n.at, n.seen]


def _round(r: Round) -> list[object]:
    return [
        r.kind.value,
        r.seconds,
        r.overtime,
        r.second_pass,
        r.pass_no,
        list(r.spoken),
        list(r.passed),
        list(r.second_spoken),
        [[member, pass_no] for member, pass_no in r.history],
        None if r.turn is None else _turn(r.turn),
    ]


# --- decoding ----------------------------------------------------------------------------


def _fields(values: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(values, list) or len(values) != len(names):
        raise StateCodecError("wrong number of fields")
    return dict(zip(names, values, strict=True))


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise StateCodecError("expected a list")
    return value


def _ids(value: Any) -> tuple[MemberId, ...]:
    return tuple(MemberId(m) for m in _list(value))


def _person_of(value: Any) -> Person:
    f = _fields(value, PERSON_FIELDS)
    f["role"] = Role(f["role"])
    return Person(**f)


def _turn_of(value: Any, layout: tuple[str, ...]) -> Turn:
    f = _fields(value, layout)
    f["id"] = TurnId(f["id"])
    if f.get("pause_reason") is not None:
        f["pause_reason"] = PauseReason(f["pause_reason"])
    return Turn(**f)


def _note_of(value: Any) -> SupportNote:
    f = _fields(value, NOTE_FIELDS)
    f["from_"] = MemberId(f["from_"])
    return SupportNote(**f)


def _round_of(value: Any, turn_layout: tuple[str, ...]) -> Round:
    f = _fields(value, ROUND_FIELDS)
    f["kind"] = RoundKind(f["kind"])
    for name in ("spoken", "passed", "second_spoken"):
        f[name] = _ids(f[name])
    f["history"] = tuple((MemberId(m), int(n)) for m, n in _list(f["history"]))
    f["turn"] = None if f["turn"] is None else _turn_of(f["turn"], turn_layout)
    return Round(**f)
