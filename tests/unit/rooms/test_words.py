"""Chat, reactions, support notes, the topic, the lobby message, lock, and the meeting's end."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms.decide.words import REACTIONS
from rooms.errors import Invalid, NotAllowed
from rooms.events import (
    ChatSent,
    LobbyMessage,
    Locked,
    MeetingEnded,
    Reacted,
    SupportAsked,
    TopicSet,
    Unlocked,
)
from rooms.ids import MemberId
from rooms.state import Role
from tests.unit.rooms.scenario import (
    NAMES,
    T0,
    W1,
    A,
    B,
    F,
    a_round,
    by,
    given,
    node,
    room,
)

# --- chat ------------------------------------------------------------------------------


def test_chat_text_reaches_the_circle_trimmed_and_stamped_with_the_time() -> None:
    given(room()).when(c.SendChat(1, "  hello all \n"), A, now=T0 + 3).then(
        ChatSent(A, 1, "hello all", None, T0 + 3)
    )


def test_chat_may_be_an_encrypted_box_instead_of_text() -> None:
    given(room()).when(c.SendChat(2, box=b"\x01sealed"), A).then(
        ChatSent(A, 2, None, b"\x01sealed", T0)
    )


def test_chat_with_both_text_and_box_is_refused() -> None:
    given(room()).when(c.SendChat(3, "hi", b"x"), A).refused(
        Invalid, match="either text or an encrypted box"
    )


def test_chat_with_neither_text_nor_box_is_refused() -> None:
    given(room()).when(c.SendChat(4), A).refused(Invalid, match="either text or an encrypted box")


@pytest.mark.parametrize("chat", [c.SendChat(5, ""), c.SendChat(5, " \t "), c.SendChat(5, box=b"")])
def test_an_empty_chat_message_is_refused(chat: c.SendChat) -> None:
    given(room()).when(chat, A).refused(Invalid, match="can't be empty")


def test_someone_waiting_cannot_chat() -> None:
    given(room(waiting=(W1,))).when(c.SendChat(1, "hi"), W1).refused(NotAllowed, match="let you in")


# --- reactions -------------------------------------------------------------------------


@pytest.mark.parametrize("emoji", sorted(REACTIONS))
def test_each_of_the_circles_reactions_is_sent(emoji: str) -> None:
    given(room()).when(c.React(emoji), B).then(Reacted(B, emoji))


def test_the_circles_reactions_are_signs_of_support() -> None:
    assert {"❤️", "👏", "🙏"} <= REACTIONS
    assert "👎" not in REACTIONS


@pytest.mark.parametrize("emoji", ["👎", "", "heart", "❤️❤️"])
def test_any_other_reaction_is_refused(emoji: str) -> None:
    given(room()).when(c.React(emoji), B).refused(Invalid, match="isn't one of the circle's")


def test_someone_waiting_cannot_react() -> None:
    given(room(waiting=(W1,))).when(c.React("❤️"), W1).refused(NotAllowed, match="let you in")


# --- support notes ---------------------------------------------------------------------


def test_a_member_asks_the_facilitators_for_support() -> None:
    given(room()).when(c.AskSupport(" I need a moment "), A, now=T0 + 8).then(
        SupportAsked(A, "I need a moment", T0 + 8, 1, NAMES[A])
    )


def test_someone_still_waiting_may_ask_for_support_too() -> None:
    given(room(waiting=(W1,))).when(c.AskSupport("Please help"), W1).then(
        SupportAsked(W1, "Please help", T0, 1, NAMES[W1])
    )


def test_an_empty_support_note_is_refused() -> None:
    given(room()).when(c.AskSupport("   "), A).refused(Invalid, match="a few words")


# --- the topic -------------------------------------------------------------------------


def test_the_facilitator_sets_the_topic() -> None:
    then = given(room()).when(c.SetTopic("  Gratitude "), F).then(TopicSet("Gratitude"))
    assert then.state.topic == "Gratitude"


@pytest.mark.parametrize("text", [None, "", "   "])
def test_an_empty_topic_clears_it(text: str | None) -> None:
    then = given(room(), by(F, c.SetTopic("Hope"))).when(c.SetTopic(text), F).then(TopicSet(None))
    assert then.state.topic is None


def test_members_cannot_set_the_topic() -> None:
    given(room()).when(c.SetTopic("Mine"), A).refused(NotAllowed, match="Only a facilitator")


# --- the lobby message -----------------------------------------------------------------


def test_the_facilitator_speaks_to_the_lobby() -> None:
    given(room(waiting=(W1,))).when(c.MessageLobby(" Five more minutes "), F).then(
        LobbyMessage("Five more minutes")
    )


def test_an_empty_lobby_message_is_refused() -> None:
    given(room()).when(c.MessageLobby(" "), F).refused(Invalid, match="can't be empty")


# --- lock ------------------------------------------------------------------------------


def test_lock_and_unlock_the_room() -> None:
    locked = given(room()).when(c.Lock(), F).then(Locked())
    assert locked.state.locked
    unlocked = locked.when(c.Unlock(), F).then(Unlocked())
    assert not unlocked.state.locked


def test_locking_a_locked_room_is_refused() -> None:
    given(room(), by(F, c.Lock())).when(c.Lock(), F).refused(Invalid, match="already locked")


def test_unlocking_an_unlocked_room_is_refused() -> None:
    given(room()).when(c.Unlock(), F).refused(Invalid, match="isn't locked")


def test_members_cannot_lock_the_room() -> None:
    given(room()).when(c.Lock(), A).refused(NotAllowed, match="Only a facilitator")


# --- the end of the meeting ------------------------------------------------------------


def test_end_meeting_ends_the_round_the_hands_and_the_floor() -> None:
    story = given(room(), by(B, c.RaiseHand()), by(F, c.CallOn(A)), by(A, c.RaiseHand()))
    story = story.and_(a_round())
    then = story.when(c.EndMeeting(), F).then(MeetingEnded())
    assert then.state.ended
    assert then.state.round is None
    assert then.state.hands == ()
    assert then.state.floor is None


def test_members_cannot_end_the_meeting() -> None:
    given(room()).when(c.EndMeeting(), A).refused(NotAllowed, match="Only a facilitator")


ENDED = (room(waiting=(W1,)), by(F, c.EndMeeting()))

PERSON_COMMANDS_AFTER_THE_END = [
    (F, c.Admit(W1)),
    (F, c.StartRound(60)),
    (F, c.Unlock()),
    (F, c.EndMeeting()),
    (A, c.SendChat(1, "still here?")),
    (A, c.RaiseHand()),
    (A, c.Leave()),
    (W1, c.AskSupport("hello?")),
    (W1, c.Leave()),
]


@pytest.mark.parametrize(("actor", "command"), PERSON_COMMANDS_AFTER_THE_END)
def test_after_the_end_every_person_command_is_refused(actor: str, command: object) -> None:
    given(*ENDED).when(command, actor).refused(Invalid, match="meeting has ended")  # type: ignore[arg-type]


NODE_COMMANDS_AFTER_THE_END = [
    c.Arrive(MemberId("N"), "Nell"),
    c.Arrive(MemberId("H"), "Hal", Role.FACILITATOR),
    c.Disconnect(A),
    c.Reconnect(A),
    c.GraceExpired(A, T0),
    c.TurnTimeUp("1"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("command", NODE_COMMANDS_AFTER_THE_END)
def test_after_the_end_the_nodes_commands_change_nothing(command: c.AnyCommand) -> None:
    # A lost their connection and a round was running when the meeting ended, so each of these
    # would have done something in a live meeting.
    story = given(room(), node(c.Disconnect(A)), a_round(), by(F, c.EndMeeting()))
    story.when(command, now=T0 + 600).then_nothing()
