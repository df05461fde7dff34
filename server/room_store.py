"""Room definitions: the only thing about a room that outlives a meeting.

Rules of this module:
- A definition is a name, guidelines, crisis resources and a default share time, plus the
  HASHES of its invite and facilitator tokens. Meeting state (who is here, the circle, chat)
  is never stored here or anywhere on disk.
- Plaintext tokens exist only in `IssuedTokens`, returned by `create` and `rotate`, once.
  After that nobody, the host included, can read them back; rotating is the way to new links.
- Field rules live in `check_fields` and nowhere else; every store calls it, and the admin
  API calls it to turn JSON into typed values. A bad field raises `RoomDefError(field, ...)`.
- `enter` answers the same `None` for an unknown room and for a wrong token, and
  compares digests in constant time, so a caller learns nothing about what exists.
- A room may have a regular meeting time (`Schedule`, server/schedule.py, which holds its
  rules); `None` means none. Only the host sets it; members see it on the join page.
- `RoomStore` is the contract; backends (SQLite for one node, Redis for many) live in their
  own modules and add nothing to it.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal, Protocol

from server.schedule import Schedule, ScheduleError, check_schedule

Role = Literal["member", "facilitator"]

NAME_CHARS = 80
GUIDELINES_CHARS = 5000
CRISIS_CHARS = 2000
SHARE_SECONDS_MIN = 10
SHARE_SECONDS_MAX = 3600
DEFAULT_SHARE_SECONDS = 180

# 24 random bytes: 192 bits, far past guessing even without the per-address hello limit.
TOKEN_BYTES = 24
ROOM_ID_BYTES = 8


class RoomDefError(ValueError):
    """A room field is missing, of the wrong type, or out of bounds."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class RoomDef:
    id: str
    name: str
    guidelines: str
    crisis: str
    share_seconds: int
    created_at: float
    schedule: Schedule | None = None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Plaintext tokens, handed out once; print or send them, never store or log them."""

    invite: str
    facilitator: str

    def __repr__(self) -> str:  # keeps tokens out of tracebacks and debug output
        return "IssuedTokens(invite=<hidden>, facilitator=<hidden>)"


@dataclass(frozen=True, slots=True)
class RoomFields:
    """Checked, normalised field values; None means "not given" (keep the current value)."""

    name: str | None = None
    guidelines: str | None = None
    crisis: str | None = None
    share_seconds: int | None = None
    schedule: Schedule | None = None
    # True when the caller asked to drop the schedule (JSON null): then `schedule` is None.
    clear_schedule: bool = False


def _check_text(field: str, value: object, *, low: int, high: int, multiline: bool) -> str:
    if not isinstance(value, str):
        raise RoomDefError(field, "must be a string")
    text = value.strip()
    if multiline:
        text = text.replace("\r\n", "\n")
    if not low <= len(text) <= high:
        raise RoomDefError(field, f"must be {low} to {high} characters")
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise RoomDefError(field, "must not contain control characters")
    return text


def check_fields(
    *,
    name: object = None,
    guidelines: object = None,
    crisis: object = None,
    share_seconds: object = None,
    schedule: object = None,
    clear_schedule: bool = False,
) -> RoomFields:
    """Check and normalise any subset of the fields (None = not given). Names are stripped
    and must keep 1 to 80 characters; `schedule` is a `Schedule` or its JSON form, and
    `clear_schedule` asks to drop it; raises RoomDefError naming the first bad field."""
    checked_schedule: Schedule | None = None
    if clear_schedule and schedule is not None:
        raise RoomDefError("schedule", "cannot both set and clear the schedule")
    if isinstance(schedule, Schedule):
        checked_schedule = schedule
    elif schedule is not None:
        try:
            checked_schedule = check_schedule(schedule)
        except ScheduleError as exc:
            field = "schedule" if exc.field == "schedule" else f"schedule.{exc.field}"
            raise RoomDefError(field, exc.message) from None
    seconds: int | None = None
    if share_seconds is not None:
        # bool is an int in Python; `true` from JSON is not a number of seconds.
        if not isinstance(share_seconds, int) or isinstance(share_seconds, bool):
            raise RoomDefError("share_seconds", "must be a whole number of seconds")
        if not SHARE_SECONDS_MIN <= share_seconds <= SHARE_SECONDS_MAX:
            raise RoomDefError(
                "share_seconds", f"must be from {SHARE_SECONDS_MIN} to {SHARE_SECONDS_MAX}"
            )
        seconds = share_seconds
    return RoomFields(
        name=None
        if name is None
        else _check_text("name", name, low=1, high=NAME_CHARS, multiline=False),
        guidelines=None
        if guidelines is None
        else _check_text("guidelines", guidelines, low=0, high=GUIDELINES_CHARS, multiline=True),
        crisis=None
        if crisis is None
        else _check_text("crisis", crisis, low=0, high=CRISIS_CHARS, multiline=True),
        share_seconds=seconds,
        schedule=checked_schedule,
        clear_schedule=clear_schedule,
    )


def new_room_id() -> str:
    """A short random id, safe in a URL path; never starting with "-" or "_", so it cannot
    be mistaken for a command-line flag."""
    room_id = secrets.token_urlsafe(ROOM_ID_BYTES)
    if not room_id[0].isalnum():
        room_id = "r" + room_id[1:]
    return room_id


def new_tokens() -> IssuedTokens:
    return IssuedTokens(
        invite=secrets.token_urlsafe(TOKEN_BYTES),
        facilitator=secrets.token_urlsafe(TOKEN_BYTES),
    )


def token_hash(token: str) -> str:
    """What is stored instead of a token. Tokens carry 192 random bits, so a plain SHA-256
    is enough: there is no dictionary to try, and no salt is needed."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# Compared against when a room is unknown, so that answer costs the same as a wrong token.
_NO_ROOM_HASH = token_hash("no such room")


def match_token(token: str, invite_hash: str | None, facilitator_hash: str | None) -> Role | None:
    """The role a token grants, given the stored hashes (None for an unknown room).
    Both comparisons always run, in constant time."""
    presented = token_hash(token).encode()
    is_invite = hmac.compare_digest(presented, (invite_hash or _NO_ROOM_HASH).encode())
    is_facilitator = hmac.compare_digest(presented, (facilitator_hash or _NO_ROOM_HASH).encode())
    if invite_hash is None or facilitator_hash is None:
        return None
    if is_facilitator:
        return "facilitator"
    if is_invite:
        return "member"
    return None


class RoomStore(Protocol):
    """Durable room definitions. Every method is safe to call from the event loop."""

    async def create(
        self,
        name: str,
        guidelines: str = "",
        crisis: str = "",
        share_seconds: int = DEFAULT_SHARE_SECONDS,
        schedule: Schedule | None = None,
    ) -> tuple[RoomDef, IssuedTokens]:
        """A new room with fresh tokens. Raises RoomDefError for a bad field."""
        ...

    async def get(self, room_id: str) -> RoomDef | None:
        """The definition, or None if there is no such room."""
        ...

    async def list(self) -> builtins.list[RoomDef]:
        """Every room, oldest first."""
        ...

    async def update(
        self,
        room_id: str,
        *,
        name: str | None = None,
        guidelines: str | None = None,
        crisis: str | None = None,
        share_seconds: int | None = None,
        schedule: Schedule | None = None,
        clear_schedule: bool = False,
    ) -> RoomDef | None:
        """Change the given fields (None keeps a field; `clear_schedule` drops the
        schedule); None if there is no such room. Raises RoomDefError for a bad field."""
        ...

    async def delete(self, room_id: str) -> bool:
        """Forget the room and its tokens; False if there was no such room."""
        ...

    async def rotate(self, room_id: str) -> tuple[RoomDef, IssuedTokens] | None:
        """Fresh invite and facilitator tokens; the old ones stop working at once.
        None if there is no such room."""
        ...

    async def enter(self, room_id: str, token: str) -> tuple[RoomDef, Role] | None:
        """The room's definition and the role ("facilitator" or "member") `token` grants
        there, from one read (a hello needs both: with Redis that is one round trip, not
        two); None for a wrong token or an unknown room alike (answer both with the same
        `bad_token`)."""
        ...

    async def close(self) -> None:
        """Release the backend; safe to call twice."""
        ...
