"""Commands: what someone asks the room to do, named in the imperative.

Rules of this module:
- `OP` is the wire name of a client op (`cmd.op`); `OPS` maps every op a client may send to
  its class, and the signaling layer builds commands from `cmd.args` by these fields.
- Commands the node itself issues (an arrival, a lost connection, a timer) are in
  `NODE_COMMANDS`; no client frame can produce them.
- Everything `decide` needs arrives inside the command or as an argument: `now`, fresh member
  ids, a shuffle's seed. Nothing here reads a clock or draws a random number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rooms.ids import MemberId, TurnId
from rooms.state import OrderPreset, Returning, Role, RoundKind


@dataclass(frozen=True, slots=True)
class Command:
    OP: ClassVar[str] = ""


# --- the lobby -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admit(Command):
    OP = "admit"
    member: MemberId


@dataclass(frozen=True, slots=True)
class AdmitAll(Command):
    OP = "admit_all"


@dataclass(frozen=True, slots=True)
class Deny(Command):
    OP = "deny"
    member: MemberId


@dataclass(frozen=True, slots=True)
class MessageLobby(Command):
    OP = "lobby_message"
    text: str


# --- people ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remove(Command):
    OP = "remove"
    member: MemberId
    block: bool = False


@dataclass(frozen=True, slots=True)
class Mute(Command):
    OP = "mute"
    member: MemberId


@dataclass(frozen=True, slots=True)
class Unmute(Command):
    """Lift a facilitator's mute on yourself; nobody can unmute someone else."""

    OP = "unmute"


@dataclass(frozen=True, slots=True)
class Promote(Command):
    OP = "promote"
    member: MemberId


@dataclass(frozen=True, slots=True)
class Demote(Command):
    OP = "demote"
    member: MemberId


@dataclass(frozen=True, slots=True)
class HandOver(Command):
    """Give the facilitator role to `member` and become a member yourself."""

    OP = "hand_over"
    member: MemberId


@dataclass(frozen=True, slots=True)
class SetSuccessor(Command):
    """Choose who becomes facilitator if the last facilitator is gone (None: hold the room)."""

    OP = "set_successor"
    member: MemberId | None = None


@dataclass(frozen=True, slots=True)
class SetReturning(Command):
    """Whether people let in earlier in this meeting come back without knocking."""

    OP = "set_returning"
    returning: Returning


@dataclass(frozen=True, slots=True)
class StepAway(Command):
    OP = "away"


@dataclass(frozen=True, slots=True)
class ComeBack(Command):
    OP = "present"


@dataclass(frozen=True, slots=True)
class Leave(Command):
    OP = "leave"


# --- the room --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lock(Command):
    OP = "lock"


@dataclass(frozen=True, slots=True)
class Unlock(Command):
    OP = "unlock"


@dataclass(frozen=True, slots=True)
class SetTopic(Command):
    OP = "set_topic"
    text: str | None = None


@dataclass(frozen=True, slots=True)
class EndMeeting(Command):
    OP = "end_meeting"


# --- the circle ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetOrder(Command):
    OP = "set_order"
    members: tuple[MemberId, ...]


@dataclass(frozen=True, slots=True)
class StartRound(Command):
    OP = "start_round"
    seconds: int
    overtime: int | None = None  # None: the piece moves only when someone moves it
    order: OrderPreset = OrderPreset.MANUAL
    kind: RoundKind = RoundKind.SHARE
    second_pass: bool = True
    seed: int = 0  # the node fills this in for `shuffle`; the engine draws nothing itself


@dataclass(frozen=True, slots=True)
class Next(Command):
    OP = "next"


@dataclass(frozen=True, slots=True)
class Back(Command):
    OP = "back"


@dataclass(frozen=True, slots=True)
class Skip(Command):
    OP = "skip"


@dataclass(frozen=True, slots=True)
class PassTurn(Command):
    OP = "pass"


@dataclass(frozen=True, slots=True)
class Done(Command):
    OP = "done"


@dataclass(frozen=True, slots=True)
class Extend(Command):
    OP = "extend"
    seconds: int


@dataclass(frozen=True, slots=True)
class Pause(Command):
    OP = "pause"


@dataclass(frozen=True, slots=True)
class Unpause(Command):
    OP = "unpause"


@dataclass(frozen=True, slots=True)
class EndRound(Command):
    OP = "end_round"


# --- open discussion -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaiseHand(Command):
    OP = "raise_hand"


@dataclass(frozen=True, slots=True)
class LowerHand(Command):
    """Withdraw your own hand, or (facilitators) lower someone else's."""

    OP = "lower_hand"
    member: MemberId | None = None


@dataclass(frozen=True, slots=True)
class CallOn(Command):
    OP = "call_on"
    member: MemberId


# --- words and signs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AskSupport(Command):
    OP = "support"
    text: str


@dataclass(frozen=True, slots=True)
class MarkSupportSeen(Command):
    """A facilitator has read support note `note` (its id) and will look after it."""

    OP = "support_seen"
    note: int


@dataclass(frozen=True, slots=True)
class SendChat(Command):
    """From a `chat` frame, not a `cmd`; exactly one of `text` and `box` (ciphertext)."""

    OP = "chat"
    id: int
    text: str | None = None
    box: bytes | None = None


@dataclass(frozen=True, slots=True)
class React(Command):
    """From a `react` frame."""

    OP = "react"
    emoji: str


# --- issued by the node ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrive(Command):
    """A `hello` was accepted: `member` is a fresh id; `role` follows from the token."""

    OP = "arrive"
    member: MemberId
    name: str
    role: Role = Role.MEMBER
    key: str = ""


@dataclass(frozen=True, slots=True)
class Disconnect(Command):
    OP = "disconnect"
    member: MemberId


@dataclass(frozen=True, slots=True)
class Reconnect(Command):
    OP = "reconnect"
    member: MemberId


@dataclass(frozen=True, slots=True)
class GraceExpired(Command):
    """`member`'s grace period since `since` ran out; stale if they came back meanwhile."""

    OP = "grace_expired"
    member: MemberId
    since: float


@dataclass(frozen=True, slots=True)
class TurnTimeUp(Command):
    """A timer for `turn_id` fired; idempotent, and stale ids change nothing."""

    OP = "turn_time_up"
    turn_id: TurnId


AnyCommand = (
    Admit
    | AdmitAll
    | Deny
    | MessageLobby
    | Remove
    | Mute
    | Unmute
    | Promote
    | Demote
    | HandOver
    | SetSuccessor
    | SetReturning
    | StepAway
    | ComeBack
    | Leave
    | Lock
    | Unlock
    | SetTopic
    | EndMeeting
    | SetOrder
    | StartRound
    | Next
    | Back
    | Skip
    | PassTurn
    | Done
    | Extend
    | Pause
    | Unpause
    | EndRound
    | RaiseHand
    | LowerHand
    | CallOn
    | AskSupport
    | MarkSupportSeen
    | SendChat
    | React
    | Arrive
    | Disconnect
    | Reconnect
    | GraceExpired
    | TurnTimeUp
)

# The ops a client names in a `cmd` frame (chat and react have frames of their own).
OPS: dict[str, type[AnyCommand]] = {
    cls.OP: cls
    for cls in (
        Admit,
        AdmitAll,
        Deny,
        MessageLobby,
        Remove,
        Mute,
        Unmute,
        Promote,
        Demote,
        HandOver,
        SetSuccessor,
        SetReturning,
        StepAway,
        ComeBack,
        Leave,
        Lock,
        Unlock,
        SetTopic,
        EndMeeting,
        SetOrder,
        StartRound,
        Next,
        Back,
        Skip,
        PassTurn,
        Done,
        Extend,
        Pause,
        Unpause,
        EndRound,
        RaiseHand,
        LowerHand,
        CallOn,
        AskSupport,
        MarkSupportSeen,
    )
}

FRAME_COMMANDS: tuple[type[AnyCommand], ...] = (SendChat, React)
NODE_COMMANDS: tuple[type[AnyCommand], ...] = (
    Arrive,
    Disconnect,
    Reconnect,
    GraceExpired,
    TurnTimeUp,
)
