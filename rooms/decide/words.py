"""Chat, reactions, support notes, the topic, the lobby message, lock and end.

Chat and reactions change no state but still become events, so they get sequence numbers,
reach the right audience and survive a reconnect. Support notes reach facilitators only,
and stay in the room's state (the newest `MAX_SUPPORT_NOTES`) until a facilitator marks them
seen, so a reload or a co-facilitator promoted later still finds them. Marking a note seen
twice (two facilitators at once) changes nothing and is not an error: both meant the same.
Length limits are configuration and are checked at the wire; here only emptiness is refused.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.decide.draft import Draft
from rooms.errors import Invalid
from rooms.ids import MemberId

# Reactions are signs of support that never interrupt; a small fixed set keeps them kind.
REACTIONS = frozenset({"❤️", "👏", "🙏", "🤗", "💪", "😢", "🌱", "✨"})


def chat(d: Draft, cmd: c.SendChat, actor: MemberId) -> None:
    if (cmd.text is None) == (cmd.box is None):
        raise Invalid("A chat message has either text or an encrypted box.")
    text = cmd.text.strip() if cmd.text is not None else None
    if text == "" or cmd.box == b"":
        raise Invalid("A chat message can't be empty.")
    d.emit(e.ChatSent(actor, cmd.id, text, cmd.box, d.now))


def react(d: Draft, cmd: c.React, actor: MemberId) -> None:
    if cmd.emoji not in REACTIONS:
        raise Invalid("That reaction isn't one of the circle's reactions.")
    d.emit(e.Reacted(actor, cmd.emoji))


def support(d: Draft, cmd: c.AskSupport, actor: MemberId) -> None:
    text = cmd.text.strip()
    if not text:
        raise Invalid("Please write a few words for the facilitators.")
    person = d.state.person(actor)
    name = person.name if person is not None else ""
    d.emit(e.SupportAsked(actor, text, d.now, d.state.notes_made + 1, name))


def support_seen(d: Draft, cmd: c.MarkSupportSeen, actor: MemberId) -> None:
    for note in d.state.notes:
        if note.id == cmd.note:
            if not note.seen:
                d.emit(e.SupportSeen(note.id, actor))
            return
    raise Invalid("That support note isn't here any more.")


def set_topic(d: Draft, cmd: c.SetTopic) -> None:
    text = cmd.text.strip() if cmd.text is not None else ""
    d.emit(e.TopicSet(text or None))


def message_lobby(d: Draft, cmd: c.MessageLobby) -> None:
    text = cmd.text.strip()
    if not text:
        raise Invalid("The message to the lobby can't be empty.")
    d.emit(e.LobbyMessage(text))


def lock(d: Draft) -> None:
    if d.state.locked:
        raise Invalid("The room is already locked.")
    d.emit(e.Locked())


def unlock(d: Draft) -> None:
    if not d.state.locked:
        raise Invalid("The room isn't locked.")
    d.emit(e.Unlocked())


def end_meeting(d: Draft) -> None:
    d.emit(e.MeetingEnded())
