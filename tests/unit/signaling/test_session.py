"""The pure parts of a session: its phase table, its rate, the names it shows, its tokens."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms.ids import MemberId, RoomId
from signaling import codec
from signaling.errors import InvalidFrame
from signaling.session import (
    ACCEPTS,
    Phase,
    ResumeToken,
    TokenBucket,
    admit_frame,
    clean_name,
    new_member_id,
)

# One frame of every inbound type.
FRAMES: dict[type[codec.Inbound], codec.Inbound] = {
    codec.Hello: codec.Hello("r0", "tok", "Sam", True, ""),
    codec.ResumeHello: codec.ResumeHello("r0.a1.e0.s1", 3),
    codec.Cmd: codec.Cmd(1, "raise_hand", c.RaiseHand()),
    codec.Signal: codec.Signal("b2", {}),
    codec.Chat: codec.Chat(2, "hi", None),
    codec.React: codec.React("🙏"),
    codec.Ping: codec.Ping(3),
}

# What each phase accepts, written out: the table in session.py must say the same.
EXPECTED: dict[Phase, set[type[codec.Inbound]]] = {
    Phase.GREETING: {codec.Hello, codec.ResumeHello},
    Phase.SEATED: {codec.Cmd, codec.Signal, codec.Chat, codec.React, codec.Ping},
    Phase.CLOSED: set(),
}


def test_every_frame_type_is_covered() -> None:
    assert set(FRAMES) == set(codec.Inbound.__args__)  # type: ignore[attr-defined]


def test_the_table_has_every_phase() -> None:
    assert set(ACCEPTS) == set(Phase) == set(EXPECTED)
    for phase, kinds in ACCEPTS.items():
        assert set(kinds) == EXPECTED[phase]


CASES = [
    pytest.param(phase, kind, id=f"{phase.value}-{kind.__name__}")
    for phase in Phase
    for kind in FRAMES
]


@pytest.mark.parametrize(("phase", "kind"), CASES)
def test_phase_table(phase: Phase, kind: type[codec.Inbound]) -> None:
    frame = FRAMES[kind]
    if kind in EXPECTED[phase]:
        admit_frame(phase, frame)
    else:
        with pytest.raises(InvalidFrame) as info:
            admit_frame(phase, frame)
        assert info.value.code == "invalid"


def test_refusals_say_why() -> None:
    with pytest.raises(InvalidFrame, match="hello first"):
        admit_frame(Phase.GREETING, FRAMES[codec.Cmd])
    with pytest.raises(InvalidFrame, match="already said hello"):
        admit_frame(Phase.SEATED, FRAMES[codec.Hello])
    with pytest.raises(InvalidFrame, match="already said hello"):
        admit_frame(Phase.SEATED, FRAMES[codec.ResumeHello])
    with pytest.raises(InvalidFrame, match="closing"):
        admit_frame(Phase.CLOSED, FRAMES[codec.Ping])


# --- the token bucket -------------------------------------------------------------------


def test_a_bucket_starts_full_and_empties() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_a_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    for _ in range(3):
        bucket.take(100.0)
    assert not bucket.take(100.25)  # half a token
    assert bucket.take(100.5)  # one whole token (the refused take spent nothing)
    assert not bucket.take(100.5)
    assert bucket.take(101.0)


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, now=0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_a_steady_sender_at_the_rate_is_never_refused() -> None:
    exact = TokenBucket(rate=4.0, burst=1, now=0.0)  # quarter seconds are exact floats
    assert all(exact.take(i / 4) for i in range(1, 200))
    bucket = TokenBucket(rate=20.0, burst=2, now=0.0)
    assert all(bucket.take(i / 20) for i in range(1, 200))


def test_a_refused_take_costs_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert not any(bucket.take(0.1 * i) for i in range(1, 10))
    assert bucket.take(1.0)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Sam", "Sam"),
        ("  Sam  ", "Sam"),
        ("Sam  Lee", "Sam Lee"),
        ("Sam\tLee", "Sam Lee"),
        ("Sam\nLee", "Sam Lee"),
        ("Sam\r\n\r\nLee", "Sam Lee"),
        ("Sam\u00a0\u2003Lee", "Sam Lee"),  # no-break and em spaces
        ("Sam\u2028Lee", "Sam Lee"),  # line separator
        ("Sam\x00\x07\x1b[31mLee", "Sam[31mLee"),  # NUL, BEL, ESC
        ("Sam\x7f\x85Lee", "Sam Lee"),  # DEL removed, NEL is whitespace
        ("\u202eeciloR", "eciloR"),  # RIGHT-TO-LEFT OVERRIDE
        ("A\u202aB\u202bC\u202cD\u202dE\u202eF", "ABCDEF"),  # every embedding and override
        ("A\u2066B\u2067C\u2068D\u2069E", "ABCDE"),  # every isolate
        ("Zoë 🌱", "Zoë 🌱"),
        ("李小龙", "李小龙"),
        ("مريم", "مريم"),
        ("", ""),
        (" \t\n ", ""),
        ("\u202e", ""),
    ],
)
def test_clean_name(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_a_clean_name_is_clean_again() -> None:
    for raw in ("  a\t\tb ", "\u202ex\u2066y", "x\x00 \x00y"):
        assert clean_name(clean_name(raw)) == clean_name(raw)


# --- member ids and resume tokens --------------------------------------------------------


def test_member_ids_are_fresh_and_dotless() -> None:
    ids = {new_member_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i and "." not in i for i in ids)


def test_a_resume_token_formats_and_parses_back() -> None:
    token = ResumeToken(RoomId("r8Qx"), MemberId("a1b2"), "e5f6", "s3cr-t_")
    assert str(token) == "r8Qx.a1b2.e5f6.s3cr-t_"
    assert ResumeToken.parse(str(token)) == token


def test_an_issued_token_round_trips_with_a_fresh_secret() -> None:
    first = ResumeToken.issue(RoomId("r8Qx-_9"), MemberId("a1b2"), "e5f6")
    second = ResumeToken.issue(RoomId("r8Qx-_9"), MemberId("a1b2"), "e5f6")
    assert ResumeToken.parse(str(first)) == first
    assert first.secret != second.secret
    assert len(first.secret) >= 32
    assert (first.room, first.member, first.epoch) == ("r8Qx-_9", "a1b2", "e5f6")


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "...",
        "room",
        "room.member.epoch",
        "room.member.epoch.secret.extra",
        ".member.epoch.secret",
        "room..epoch.secret",
        "room.member..secret",
        "room.member.epoch.",
        "room.member.epoch.secret.",
    ],
)
def test_a_malformed_resume_token_parses_to_none(text: str) -> None:
    assert ResumeToken.parse(text) is None
