"""The pure parts of one connection's session: its phase, its rate, its names and tokens.

Phases and what each accepts are a table, not branches spread over the pump:

    GREETING --hello/resume accepted--> SEATED --leave/removed/ended/closed--> CLOSED

A frame not allowed in the current phase gets `invalid` and changes nothing; the connection
stays open. Everything here takes `now` as an argument and does no I/O.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum

from rooms import MemberId, RoomId
from signaling import codec
from signaling.errors import InvalidFrame


class Phase(Enum):
    GREETING = "greeting"
    SEATED = "seated"
    CLOSED = "closed"


ACCEPTS: dict[Phase, tuple[type[codec.Inbound], ...]] = {
    Phase.GREETING: (codec.Hello, codec.ResumeHello),  # DESIGN: any other frame is invalid
    Phase.SEATED: (codec.Cmd, codec.Signal, codec.Chat, codec.React, codec.Ping),
    Phase.CLOSED: (),
}


def admit_frame(phase: Phase, frame: codec.Inbound) -> None:
    """Raise `InvalidFrame` unless `frame` may be sent in `phase`."""
    if isinstance(frame, ACCEPTS[phase]):
        return
    if phase is Phase.GREETING:
        raise InvalidFrame("Say hello first.")
    if isinstance(frame, codec.Hello | codec.ResumeHello):
        raise InvalidFrame("This connection has already said hello.")
    raise InvalidFrame("This connection is closing.")


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; each frame costs one."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), now

    def take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# Bidirectional overrides and isolates can make a name display as someone else's.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def clean_name(name: str) -> str:
    """A display name with control characters removed and whitespace runs collapsed."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in name
        if ch.isspace() or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    )
    return " ".join(kept.split())


def new_member_id() -> MemberId:
    return MemberId(secrets.token_hex(6))


@dataclass(frozen=True, slots=True)
class ResumeToken:
    """`room.member.epoch.secret`: the first three say where the seat is (none of them is a
    secret); only the hash of `secret` is stored, and it changes on every resume."""

    room: RoomId
    member: MemberId
    epoch: str
    secret: str

    def __str__(self) -> str:
        return f"{self.room}.{self.member}.{self.epoch}.{self.secret}"

    @classmethod
    def issue(cls, room: RoomId, member: MemberId, epoch: str) -> ResumeToken:
        return cls(room, member, epoch, secrets.token_urlsafe(24))

    @classmethod
    def parse(cls, text: str) -> ResumeToken | None:
        parts = text.split(".")
        if len(parts) != 4 or not all(parts):
            return None
        return cls(RoomId(parts[0]), MemberId(parts[1]), parts[2], parts[3])
