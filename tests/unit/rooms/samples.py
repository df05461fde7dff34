"""One example of every event and every command, for the tests that go over all of them.

Fields take non-default values where they can, so a round trip that dropped one would show.
Tests check that these lists cover `EVENT_TYPES` and `WHO_MAY` exactly, so a new event or
command cannot slip past them.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.ids import TurnId
from rooms.state import OrderPreset, Returning, Role, RoundKind
from tests.unit.rooms.scenario import W1, A, B, F, key_of

T1 = TurnId("1")

EVENTS: tuple[e.AnyEvent, ...] = (
    e.JoinedLobby(W1, "Wren", 1, key_of(W1)),
    e.LobbyMessage("We start in five minutes."),
    e.LobbyPosition(W1, 2),
    e.Admitted(A, "Ama", "member", key_of(A)),
    e.Denied(W1),
    e.Left(W1, "timeout", waiting=True),
    e.Removed(W1, block=True, waiting=True),
    e.Reconnecting(W1, 1000.5, waiting=True),
    e.Away(A),
    e.Present(W1, "reconnecting", waiting=True),
    e.OrderSet((A, B)),
    e.RoundStarted("check_in", 90, 15, False),
    e.TurnStarted(T1, A, 1060.0, 60.0, 2, back=True, next=B),
    e.NextChanged(B),
    e.Passed(A, T1, 1),
    e.Skipped(A, None, 2, auto=True),
    e.Finished(A, T1),
    e.TimeUp(T1, A),
    e.TimerChanged(T1, None, True, -2.5, 75.0, True, "no_facilitator"),
    e.RoundEnded("ended"),
    e.HandRaised(A),
    e.HandLowered(A, F),
    e.CalledOn(A),
    e.FloorCleared(A),
    e.ChatSent(A, 7, None, b"\x00\x01sealed", 1000.25),
    e.Reacted(A, "🙏"),
    e.SupportAsked(A, "I'm finding tonight hard.", 1000.75, 3, "Ama"),
    e.SupportSeen(3, F),
    e.TopicSet("Gratitude"),
    e.Locked(),
    e.Unlocked(),
    e.Muted(A),
    e.Unmuted(A),
    e.RoleChanged(A, "facilitator", "promoted"),
    e.SuccessorSet(A),
    e.ReturningSet("knock"),
    e.Held(),
    e.Unheld(),
    e.MeetingEnded(),
)

COMMANDS: tuple[c.AnyCommand, ...] = (
    c.Admit(W1),
    c.AdmitAll(),
    c.Deny(W1),
    c.MessageLobby("Soon"),
    c.Remove(B),
    c.Mute(B),
    c.Unmute(),
    c.Promote(B),
    c.Demote(F),
    c.HandOver(B),
    c.SetSuccessor(B),
    c.SetReturning(Returning.KNOCK),
    c.StepAway(),
    c.ComeBack(),
    c.Leave(),
    c.Lock(),
    c.Unlock(),
    c.SetTopic("Hope"),
    c.EndMeeting(),
    c.SetOrder((A, B)),
    c.StartRound(60, 10, OrderPreset.ARRIVAL, RoundKind.CHECK_OUT, False, 3),
    c.Next(),
    c.Back(),
    c.Skip(),
    c.PassTurn(),
    c.Done(),
    c.Extend(30),
    c.Pause(),
    c.Unpause(),
    c.EndRound(),
    c.RaiseHand(),
    c.LowerHand(B),
    c.CallOn(B),
    c.AskSupport("Please check in with me"),
    c.MarkSupportSeen(1),
    c.SendChat(1, "hi"),
    c.React("❤️"),
    c.Arrive(W1, "Wren", Role.MEMBER, key_of(W1)),
    c.Disconnect(A),
    c.Reconnect(A),
    c.GraceExpired(A, 1000.0),
    c.TurnTimeUp(T1),
)
