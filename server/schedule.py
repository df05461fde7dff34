"""A room's regular meeting time: checking it, its next start, and its calendar file.

Rules of this module:
- A schedule is wall-clock time in a named IANA zone (weekday, HH:MM, duration, every 1 or 2
  weeks, optionally a first date, which every-other-week needs to know which weeks are on).
  Every instant is computed here with zoneinfo, so daylight saving is the zone's business:
  19:00 in Europe/Berlin stays 19:00 there whether that is 18:00 or 17:00 UTC.
- A local time that happens twice (the autumn hour) means the first of the two; one that
  does not happen (the spring gap) is read with the offset before the gap. That is both
  Python's `fold=0` and RFC 5545 section 3.3.5, so the server and calendars agree.
- No clock: `now` is an argument. Field rules live in `check_schedule` alone; it raises
  `ScheduleError(field, message)`, which room_store turns into RoomDefError("schedule.<field>").
- The calendar file carries the room's name and its rhythm, never a token or a link: it may
  be forwarded, so it must open no door. Its UID is a digest of the room id, stable across
  downloads (a calendar updates the series rather than adding a second one) without
  printing the id.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ICS_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DURATION_MIN: Final = 5
# An occurrence is "the next meeting" until it ends, so a late-comer sees tonight's, not next
# week's; 12 hours bounds how far back that search looks.
DURATION_MAX: Final = 720
EVERY_WEEKS: Final = (1, 2)
TIMEZONE_CHARS: Final = 64
KEYS: Final = ("weekday", "time", "duration_minutes", "every_weeks", "timezone", "first_date")
# VTIMEZONE lists the zone's real transitions for this many years from the series' start.
ZONE_YEARS: Final = 20
ICS_LINE_OCTETS: Final = 75

_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ScheduleError(ValueError):
    """A schedule field is missing, of the wrong type, or out of bounds."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class Schedule:
    weekday: int  # 0 = Monday, as datetime.date.weekday()
    time: dt.time  # hours and minutes, local to `timezone`
    duration_minutes: int
    every_weeks: int  # 1 or 2
    timezone: str  # an IANA key, e.g. "Europe/Berlin"
    first_date: dt.date | None  # no meeting before it; the "on" weeks when every 2 weeks

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, object]:
        """The wire and storage form; `check_schedule` reads it back."""
        return {
            "weekday": WEEKDAYS[self.weekday],
            "time": self.time.strftime("%H:%M"),
            "duration_minutes": self.duration_minutes,
            "every_weeks": self.every_weeks,
            "timezone": self.timezone,
            "first_date": None if self.first_date is None else self.first_date.isoformat(),
        }


def _whole(field: str, value: object) -> int:
    # bool is an int in Python; `true` from JSON is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScheduleError(field, "must be a whole number")
    return value


def check_zone(value: object) -> str:
    if not isinstance(value, str) or len(value) > TIMEZONE_CHARS or not _ZONE.fullmatch(value):
        raise ScheduleError("timezone", "must be an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(value)
    # ValueError: not a tz file ("tzdata.zi"); OSError: a folder of zones ("Europe")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            "timezone", "unknown time zone (use a name like Europe/Berlin)"
        ) from None
    return value


def check_schedule(value: object) -> Schedule:
    """A schedule from its JSON form (`Schedule.to_json`); raises ScheduleError naming the
    first bad field. `first_date` may be absent or null when every week."""
    if not isinstance(value, dict):
        raise ScheduleError("schedule", "must be an object")
    unknown = sorted(str(k)[:40] for k in value if k not in KEYS)
    if unknown:
        raise ScheduleError(unknown[0], "unknown field")
    for key in KEYS[:5]:
        if key not in value:
            raise ScheduleError(key, "required")
    weekday = value["weekday"]
    if not isinstance(weekday, str) or weekday.lower() not in WEEKDAYS:
        raise ScheduleError("weekday", "must be one of " + ", ".join(WEEKDAYS))
    day = WEEKDAYS.index(weekday.lower())
    clock = value["time"]
    matched = _TIME.fullmatch(clock) if isinstance(clock, str) else None
    if matched is None:
        raise ScheduleError("time", "must be HH:MM, 00:00 to 23:59")
    duration = _whole("duration_minutes", value["duration_minutes"])
    if not DURATION_MIN <= duration <= DURATION_MAX:
        raise ScheduleError("duration_minutes", f"must be from {DURATION_MIN} to {DURATION_MAX}")
    every = _whole("every_weeks", value["every_weeks"])
    if every not in EVERY_WEEKS:
        raise ScheduleError("every_weeks", "must be 1 (weekly) or 2 (every other week)")
    zone = check_zone(value["timezone"])
    first: dt.date | None = None
    raw_first = value.get("first_date")
    if raw_first is not None:
        if not isinstance(raw_first, str) or not _DATE.fullmatch(raw_first):
            raise ScheduleError("first_date", "must be a date, YYYY-MM-DD")
        try:
            first = dt.date.fromisoformat(raw_first)
        except ValueError:
            raise ScheduleError("first_date", "must be a real date, YYYY-MM-DD") from None
        if first.weekday() != day:
            raise ScheduleError("first_date", f"must be a {WEEKDAYS[day].title()}")
    elif every == 2:
        raise ScheduleError("first_date", "required when every other week (the first meeting)")
    return Schedule(
        weekday=day,
        time=dt.time(int(matched[1]), int(matched[2])),
        duration_minutes=duration,
        every_weeks=every,
        timezone=zone,
        first_date=first,
    )


def _meets_on(schedule: Schedule, day: dt.date) -> bool:
    if day.weekday() != schedule.weekday:
        return False
    if schedule.first_date is None:
        return True
    if day < schedule.first_date:
        return False
    return (day - schedule.first_date).days // 7 % schedule.every_weeks == 0


def start_on(schedule: Schedule, day: dt.date) -> dt.datetime:
    """The aware start on local date `day` (fold=0: see the module's rules)."""
    return dt.datetime.combine(day, schedule.time, tzinfo=schedule.zone)


def current_or_next(schedule: Schedule, now: float) -> dt.datetime:
    """The start of the first occurrence that has not yet ended at `now`: tonight's while it
    runs, else the next one."""
    zone = schedule.zone
    today = dt.datetime.fromtimestamp(now, zone).date()
    # From yesterday: a meeting of up to 12 hours that began before midnight may still run.
    day = today - dt.timedelta(days=1)
    if schedule.first_date is not None and schedule.first_date > day:
        day = schedule.first_date
    length = dt.timedelta(minutes=schedule.duration_minutes)
    for _ in range(7 * schedule.every_weeks + 2):  # one full cycle and the day before
        if _meets_on(schedule, day):
            start = start_on(schedule, day)
            if start + length > dt.datetime.fromtimestamp(now, dt.UTC):
                return start
        day += dt.timedelta(days=1)
    raise AssertionError("a weekly rhythm meets within its cycle")  # pragma: no cover


def next_start(schedule: Schedule, now: float) -> float:
    """`current_or_next` as epoch seconds, for the wire."""
    return current_or_next(schedule, now).timestamp()


# --- the calendar file (RFC 5545) ------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character;
    each continuation starts with a space, which counts toward its 75."""
    pieces: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > ICS_LINE_OCTETS:
            pieces.append(current)
            current, size = " ", 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n".join(pieces)


def _offset(delta: dt.timedelta | None) -> str:
    seconds = int((delta or dt.timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _local(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


@functools.lru_cache(maxsize=64)
def _vtimezone(key: str, first_year: int) -> tuple[str, ...]:
    """VTIMEZONE lines for `key` from 1 January of `first_year` for ZONE_YEARS years: the
    offset in force then, and every real transition after, grouped by kind with RDATEs."""
    zone = ZoneInfo(key)
    start = dt.datetime(first_year, 1, 1, tzinfo=zone)
    end = dt.datetime(first_year + ZONE_YEARS, 1, 1, tzinfo=zone)
    step = dt.timedelta(days=1)
    # (kind, from, to, name) -> local onset times, in order
    groups: dict[tuple[str, str, str, str], list[str]] = {}

    def kind(moment: dt.datetime) -> str:
        return "DAYLIGHT" if moment.dst() else "STANDARD"

    first = start.astimezone(zone)
    offset = _offset(first.utcoffset())
    groups[(kind(first), offset, offset, first.tzname() or key)] = [_local(first)]
    low = start.astimezone(dt.UTC)
    while low < end:
        upper = high = low + step
        if high.astimezone(zone).utcoffset() != low.astimezone(zone).utcoffset():
            before = low
            while high - before > dt.timedelta(seconds=1):  # bisect to the second
                middle = before + (high - before) / 2
                if middle.astimezone(zone).utcoffset() == before.astimezone(zone).utcoffset():
                    before = middle
                else:
                    high = middle
            old = before.astimezone(zone)
            new = high.replace(microsecond=0).astimezone(zone)
            onset = new.replace(tzinfo=None) - (new.utcoffset() or dt.timedelta())
            onset += old.utcoffset() or dt.timedelta()  # the onset in the old local time
            name = (kind(new), _offset(old.utcoffset()), _offset(new.utcoffset()))
            groups.setdefault((*name, new.tzname() or key), []).append(_local(onset))
        low = upper
    lines = ["BEGIN:VTIMEZONE", f"TZID:{key}"]
    for (part, offset_from, offset_to, tzname), onsets in groups.items():
        lines += [
            f"BEGIN:{part}",
            f"DTSTART:{onsets[0]}",
            *([f"RDATE:{','.join(onsets[1:])}"] if len(onsets) > 1 else []),
            f"TZOFFSETFROM:{offset_from}",
            f"TZOFFSETTO:{offset_to}",
            f"TZNAME:{_escape(tzname)}",
            f"END:{part}",
        ]
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest or not hours else "")


def calendar_uid(room_id: str) -> str:
    digest = hashlib.sha256(f"hearth/schedule|{room_id}".encode()).hexdigest()[:32]
    return f"{digest}@hearth"


def calendar_text(schedule: Schedule, *, room_id: str, name: str, now: float) -> str:
    """The room's rhythm as an RFC 5545 calendar: one recurring VEVENT with its VTIMEZONE,
    CRLF line endings, folded lines. It holds the name and times only (module rules)."""
    first_day = schedule.first_date or current_or_next(schedule, now).date()
    stamp = dt.datetime.fromtimestamp(int(now), dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    rule = f"FREQ=WEEKLY;INTERVAL={schedule.every_weeks};BYDAY={ICS_DAYS[schedule.weekday]}"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Hearth//Meeting schedule//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        *_vtimezone(schedule.timezone, first_day.year),
        "BEGIN:VEVENT",
        f"UID:{calendar_uid(room_id)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;TZID={schedule.timezone}:{_local(start_on(schedule, first_day))}",
        f"DURATION:{_duration(schedule.duration_minutes)}",
        f"RRULE:{rule}",
        f"SUMMARY:{_escape(name)}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)


# --- storage --------------------------------------------------------------------------------


def stored(schedule: Schedule | None) -> str:
    """The text both stores keep: JSON, or "" for no schedule."""
    return "" if schedule is None else json.dumps(schedule.to_json(), separators=(",", ":"))


def from_stored(text: str | None) -> Schedule | None:
    """Back from `stored`. A schedule that no longer checks (its zone gone from this
    machine's tz database) reads as none, so the room itself still opens."""
    if not text:
        return None
    try:
        return check_schedule(json.loads(text))
    except ValueError:  # ScheduleError and json's errors alike
        return None


# --- the command line -------------------------------------------------------------------------

CLI_DEFAULT_MINUTES: Final = 90
_EVERY_WORDS: Final = {"weekly": 1, "fortnightly": 2, "biweekly": 2, "every-other-week": 2}
CLI_HELP: Final = (
    'e.g. "tue 19:00 90m weekly Europe/Berlin" or "tuesday 19:00 60m fortnightly '
    'America/New_York 2026-12-08" (in any order; default 90m weekly; every other week needs '
    "the date of a first meeting)"
)


def parse_text(text: str) -> Schedule:
    """A schedule from words, in any order (CLI_HELP); raises ScheduleError."""
    found: dict[str, object] = {"duration_minutes": CLI_DEFAULT_MINUTES, "every_weeks": 1}
    for word in text.split():
        lower = word.lower()
        days = [d for d in WEEKDAYS if len(lower) >= 3 and d.startswith(lower)]
        if days:
            found["weekday"] = days[0]
        elif _TIME.fullmatch(word) or re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", word):
            found["time"] = word.zfill(5)
        elif re.fullmatch(r"[0-9]{1,4}(m|min|mins|minutes)?", lower):
            found["duration_minutes"] = int(re.sub(r"[a-z]+$", "", lower))
        elif lower in _EVERY_WORDS:
            found["every_weeks"] = _EVERY_WORDS[lower]
        elif _DATE.fullmatch(word):
            found["first_date"] = word
        elif lower == "from":
            continue
        elif "/" in word or lower == "utc":
            found["timezone"] = "UTC" if lower == "utc" else word
        else:
            raise ScheduleError(
                "schedule", f"{word[:40]!r} is not a day, time, length, rhythm, date or time zone"
            )
    return check_schedule(found)


def describe(schedule: Schedule) -> str:
    """One line for a terminal: "every Tuesday at 19:00 (Europe/Berlin), 90 minutes"."""
    day = WEEKDAYS[schedule.weekday].title()
    rhythm = f"every {day}" if schedule.every_weeks == 1 else f"every other {day}"
    since = "" if schedule.first_date is None else f" from {schedule.first_date.isoformat()}"
    return (
        f"{rhythm}{since} at {schedule.time.strftime('%H:%M')} ({schedule.timezone}), "
        f"{schedule.duration_minutes} minutes"
    )
