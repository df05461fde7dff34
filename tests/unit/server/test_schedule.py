"""A room's regular meeting time: field rules, the next start across daylight saving and
every other week, the calendar file read back by a real iCalendar parser, and the CLI words."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from server.schedule import (
    ICS_LINE_OCTETS,
    Schedule,
    ScheduleError,
    calendar_text,
    calendar_uid,
    check_schedule,
    current_or_next,
    describe,
    fold,
    from_stored,
    next_start,
    parse_text,
    stored,
)

UTC = dt.UTC


def sched(**over: object) -> Schedule:
    fields: dict[str, object] = {
        "weekday": "sunday",
        "time": "19:00",
        "duration_minutes": 90,
        "every_weeks": 1,
        "timezone": "Europe/Berlin",
        **over,
    }
    return check_schedule(fields)


def at(*parts: int, zone: str = "UTC") -> float:
    return dt.datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def utc(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, UTC)


# --- fields ----------------------------------------------------------------------------------


def test_json_form_round_trips() -> None:
    s = sched(every_weeks=2, first_date="2026-12-06", weekday="Sunday")
    assert s.to_json() == {
        "weekday": "sunday",
        "time": "19:00",
        "duration_minutes": 90,
        "every_weeks": 2,
        "timezone": "Europe/Berlin",
        "first_date": "2026-12-06",
    }
    assert check_schedule(s.to_json()) == s
    assert from_stored(stored(s)) == s
    assert stored(None) == ""
    assert from_stored("") is None
    assert from_stored(None) is None


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"weekday": "sun"}, "weekday"),
        ({"weekday": 6}, "weekday"),
        ({"time": "7pm"}, "time"),
        ({"time": "24:00"}, "time"),
        ({"time": "9:00"}, "time"),
        ({"duration_minutes": 4}, "duration_minutes"),
        ({"duration_minutes": 721}, "duration_minutes"),
        ({"duration_minutes": True}, "duration_minutes"),
        ({"duration_minutes": 90.0}, "duration_minutes"),
        ({"every_weeks": 3}, "every_weeks"),
        ({"every_weeks": 0}, "every_weeks"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "Europe"}, "timezone"),  # a folder of zones, not a zone
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "tzdata.zi"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": "Europe/Berlin\x00"}, "timezone"),
        ({"timezone": "A" * 65}, "timezone"),
        ({"first_date": "2026-12-07"}, "first_date"),  # a Monday, not a Sunday
        ({"first_date": "2026-02-30"}, "first_date"),
        ({"first_date": "6 Dec 2026"}, "first_date"),
        ({"every_weeks": 2}, "first_date"),  # every other week needs to know which weeks
        ({"colour": "red"}, "colour"),
    ],
)
def test_field_rules(over: dict[str, object], field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        sched(**over)
    assert caught.value.field == field


def test_missing_fields_and_non_objects_are_refused() -> None:
    with pytest.raises(ScheduleError, match="timezone: required"):
        check_schedule(
            {"weekday": "monday", "time": "10:00", "duration_minutes": 60, "every_weeks": 1}
        )
    with pytest.raises(ScheduleError, match="schedule: must be an object"):
        check_schedule("monday 10:00")


def test_a_zone_gone_from_this_machine_reads_as_no_schedule() -> None:
    text = stored(sched()).replace("Europe/Berlin", "Europe/Atlantis")
    assert from_stored(text) is None
    assert from_stored("{not json") is None


# --- the next start ----------------------------------------------------------------------------


def test_weekly_keeps_local_time_across_both_daylight_saving_changes() -> None:
    s = sched()  # Sundays 19:00 in Berlin
    # The Sunday before summer time: 19:00 CET is 18:00 UTC.
    assert utc(next_start(s, at(2026, 3, 21))) == dt.datetime(2026, 3, 22, 18, tzinfo=UTC)
    # The Sunday summer time starts (02:00 -> 03:00): 19:00 CEST is 17:00 UTC.
    assert utc(next_start(s, at(2026, 3, 28))) == dt.datetime(2026, 3, 29, 17, tzinfo=UTC)
    # The Sunday it ends: 19:00 CET again, 18:00 UTC.
    assert utc(next_start(s, at(2026, 10, 24))) == dt.datetime(2026, 10, 25, 18, tzinfo=UTC)


def test_new_york_changes_on_other_dates_than_berlin() -> None:
    s = sched(weekday="tuesday", time="18:30", timezone="America/New_York")
    # US summer time began on 8 March 2026; Berlin's not until 29 March.
    assert utc(next_start(s, at(2026, 3, 9))) == dt.datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    assert utc(next_start(s, at(2026, 3, 2))) == dt.datetime(2026, 3, 3, 23, 30, tzinfo=UTC)


def test_a_time_in_the_spring_gap_uses_the_offset_before_it() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026; RFC 5545 reads it as 02:30 CET,
    # which is 03:30 CEST, 01:30 UTC.
    s = sched(time="02:30")
    start = current_or_next(s, at(2026, 3, 28))
    assert start.astimezone(UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # (via UTC: astimezone to the same zone object would hand back the wall time as is)
    assert (
        start.astimezone(UTC).astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M %Z")
        == "03:30 CEST"
    )


def test_a_time_that_happens_twice_means_the_first() -> None:
    # 02:30 happens twice in Berlin on 25 October 2026: first in CEST (00:30 UTC).
    s = sched(time="02:30")
    assert utc(next_start(s, at(2026, 10, 24))) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_the_meeting_now_running_is_the_next_one_until_it_ends() -> None:
    s = sched(time="23:00", duration_minutes=120)  # runs past midnight
    start = at(2026, 12, 6, 23, zone="Europe/Berlin")
    assert next_start(s, start - 60) == start
    assert next_start(s, start + 90 * 60) == start  # half past midnight, Monday
    assert next_start(s, start + 120 * 60) == start + 7 * 86400  # over: next Sunday


def test_every_other_week_follows_its_first_date() -> None:
    s = sched(weekday="tuesday", every_weeks=2, first_date="2026-12-08")
    first = at(2026, 12, 8, 19, zone="Europe/Berlin")
    assert next_start(s, at(2026, 11, 1)) == first  # nothing before the first date
    assert next_start(s, at(2026, 12, 9)) == at(2026, 12, 22, 19, zone="Europe/Berlin")
    # Across the new year, and the week after an "on" week is "off".
    assert next_start(s, at(2026, 12, 23)) == at(2027, 1, 5, 19, zone="Europe/Berlin")
    assert next_start(s, at(2027, 1, 6)) == at(2027, 1, 19, 19, zone="Europe/Berlin")


def test_weekly_with_a_first_date_starts_there() -> None:
    s = sched(first_date="2027-01-03")
    assert next_start(s, at(2026, 12, 7)) == at(2027, 1, 3, 19, zone="Europe/Berlin")


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    weekday = draw(st.integers(0, 6))
    every = draw(st.sampled_from([1, 2]))
    first = None
    if every == 2 or draw(st.booleans()):
        first = dt.date(2026, 1, 5) + dt.timedelta(days=weekday + 7 * draw(st.integers(0, 60)))
    return Schedule(
        weekday=weekday,
        time=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        duration_minutes=draw(st.integers(5, 720)),
        every_weeks=every,
        timezone=draw(st.sampled_from(ZONES)),
        first_date=first,
    )


@settings(max_examples=300, deadline=None)
@given(schedules(), st.integers(int(at(2026, 1, 1)), int(at(2030, 1, 1))))
def test_next_start_is_a_meeting_not_yet_over_and_none_is_skipped(s: Schedule, now: int) -> None:
    start = current_or_next(s, now)
    length = dt.timedelta(minutes=s.duration_minutes)
    # It is a meeting day of the rhythm, at the wall time (or where a gap pushes it) ...
    day = start.date()
    assert day.weekday() == s.weekday
    assert start == dt.datetime.combine(day, s.time, tzinfo=s.zone)
    if s.first_date is not None:
        assert day >= s.first_date
        assert (day - s.first_date).days % (7 * s.every_weeks) == 0
    # ... not over yet ...
    assert start.timestamp() + length.total_seconds() > now
    # ... and the meeting one cycle earlier is over (or was before the first date).
    before = day - dt.timedelta(weeks=s.every_weeks)
    if s.first_date is None or before >= s.first_date:
        earlier = dt.datetime.combine(before, s.time, tzinfo=s.zone)
        assert earlier.timestamp() + length.total_seconds() <= now


# --- the calendar file --------------------------------------------------------------------------


def raw_lines(text: str) -> list[bytes]:
    data = text.encode("utf-8")
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only, no bare LF or CR
    assert b"\r" not in data.replace(b"\r\n", b"")
    return data[:-2].split(b"\r\n")


def test_the_calendar_parses_back_with_its_rule_and_nothing_secret() -> None:
    s = sched(weekday="tuesday", every_weeks=2, first_date="2026-12-08")
    name = "Tuesday circle; grief, loss & hope — für alle 💛 " + "long " * 12
    now = at(2026, 12, 7, 12)
    text = calendar_text(s, room_id="rAbC123", name=name.strip(), now=now)
    for line in raw_lines(text):
        assert len(line) <= ICS_LINE_OCTETS
        line.decode("utf-8")  # never folded inside a character
    for secretish in ("rAbC123", "http", "#"):  # no room id, no link, no fragment
        assert secretish not in text

    cal = icalendar.Calendar.from_ical(text)
    assert str(cal["VERSION"]) == "2.0"
    assert cal["PRODID"]
    (event,) = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == name.strip()
    assert str(event["UID"]) == calendar_uid("rAbC123")
    start = event["DTSTART"].dt
    assert start == dt.datetime(2026, 12, 8, 19, tzinfo=ZoneInfo("Europe/Berlin"))
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DURATION"].dt == dt.timedelta(minutes=90)
    assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "INTERVAL": [2], "BYDAY": ["TU"]}
    assert event["DTSTAMP"].dt == dt.datetime(2026, 12, 7, 12, tzinfo=UTC)
    # The rule, expanded by dateutil, lands on the same instants the server announces.
    rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=start)
    expanded = [o.timestamp() for o in rule[:30]]
    announced, moment = [], now
    for _ in range(30):
        announced.append(next_start(s, moment))
        moment = announced[-1] + 90 * 60
    assert expanded == announced


def zone_offsets(cal: icalendar.Calendar) -> list[tuple[dt.datetime, dt.timedelta]]:
    """(UTC onset, offset from then on) for every observance the VTIMEZONE lists."""
    (vtz,) = cal.walk("VTIMEZONE")
    onsets: list[tuple[dt.datetime, dt.timedelta]] = []
    for part in vtz.subcomponents:
        before = part["TZOFFSETFROM"].td
        after = part["TZOFFSETTO"].td
        local = [part["DTSTART"].dt]
        rdates = part.get("RDATE", [])
        for group in rdates if isinstance(rdates, list) else [rdates]:
            local += [d.dt for d in group.dts]
        onsets += [((t - before).replace(tzinfo=UTC), after) for t in local]
    return sorted(onsets)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_the_vtimezone_agrees_with_the_tz_database_for_years(zone: str) -> None:
    s = sched(timezone=zone)
    cal = icalendar.Calendar.from_ical(calendar_text(s, room_id="r", name="n", now=at(2026, 6, 1)))
    onsets = zone_offsets(cal)
    tz = ZoneInfo(zone)
    moment = dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    for _ in range(19 * 52):  # weekly samples over 19 years
        listed = [offset for onset, offset in onsets if onset <= moment][-1]
        assert listed == moment.astimezone(tz).utcoffset(), moment
        moment += dt.timedelta(days=7)


def test_a_zone_without_daylight_saving_has_one_observance() -> None:
    text = calendar_text(sched(timezone="Asia/Kolkata"), room_id="r", name="n", now=at(2026, 6, 1))
    (vtz,) = icalendar.Calendar.from_ical(text).walk("VTIMEZONE")
    (only,) = vtz.subcomponents
    assert only["TZOFFSETTO"].td == dt.timedelta(hours=5, minutes=30)


def test_weekly_without_a_first_date_starts_at_the_next_meeting() -> None:
    text = calendar_text(sched(), room_id="r", name="n", now=at(2026, 12, 7, 12))
    (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert event["DTSTART"].dt == dt.datetime(2026, 12, 13, 19, tzinfo=ZoneInfo("Europe/Berlin"))
    assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "INTERVAL": [1], "BYDAY": ["SU"]}


def test_fold_keeps_characters_whole_and_unfolds_to_the_line() -> None:
    line = "SUMMARY:" + "é💛a" * 40
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= ICS_LINE_OCTETS for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line
    assert fold("SHORT") == "SHORT"


# --- words for the command line ----------------------------------------------------------------


def test_cli_words_in_any_order() -> None:
    assert parse_text("tue 19:00 Europe/Berlin") == sched(weekday="tuesday")
    assert parse_text("Europe/Berlin 60min fortnightly from 2026-12-08 Tuesday 9:30") == sched(
        weekday="tuesday",
        time="09:30",
        duration_minutes=60,
        every_weeks=2,
        first_date="2026-12-08",
    )
    assert parse_text("sun 07:00 utc 45m weekly").timezone == "UTC"
    assert describe(parse_text("tue 19:00 fortnightly UTC 2026-12-08")) == (
        "every other Tuesday from 2026-12-08 at 19:00 (UTC), 90 minutes"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tue 19:00", "timezone"),
        ("19:00 UTC", "weekday"),
        ("tue UTC", "time"),
        ("tu 19:00 UTC", "schedule"),
        ("tue 19:00 UTC soon", "schedule"),
        ("tue 19:00 UTC 2m", "duration_minutes"),
        ("tue 19:00 UTC fortnightly", "first_date"),
    ],
)
def test_cli_words_that_do_not_make_a_schedule(text: str, field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_text(text)
    assert caught.value.field == field
