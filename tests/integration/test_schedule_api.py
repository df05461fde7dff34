"""A room's regular meeting time through the host's ways in (admin API on a real node, the
`hearth` command) and out again (the join page's preview: next start and calendar file)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from server.room_store_sqlite import SqliteRoomStore
from tests.integration.nodes import Node
from tests.integration.test_cli import hearth, links

WEEKLY = {
    "weekday": "tuesday",
    "time": "19:00",
    "duration_minutes": 90,
    "every_weeks": 1,
    "timezone": "Europe/Berlin",
    "first_date": None,
}
FORTNIGHTLY = {
    "weekday": "thursday",
    "time": "07:30",
    "duration_minutes": 60,
    "every_weeks": 2,
    "timezone": "America/New_York",
    "first_date": "2026-12-10",
}


def api(node: Node, method: str, path: str, body: object = None) -> httpx.Response:
    return httpx.request(
        method, f"{node.url}{path}", headers=node.auth, json=body, trust_env=False, timeout=5
    )


def test_create_get_patch_and_clear_a_schedule(node: Node) -> None:
    made = api(node, "POST", "/api/rooms", {"name": "Tuesday circle", "schedule": WEEKLY})
    assert made.status_code == 201, made.text
    room_id = made.json()["id"]
    got = api(node, "GET", f"/api/rooms/{room_id}").json()
    assert got["schedule"] == WEEKLY
    listed = api(node, "GET", "/api/rooms").json()["rooms"]
    assert [r["schedule"] for r in listed if r["id"] == room_id] == [WEEKLY]

    renamed = api(node, "PATCH", f"/api/rooms/{room_id}", {"name": "Still Tuesday"})
    assert renamed.json()["schedule"] == WEEKLY  # not given: kept
    moved = api(node, "PATCH", f"/api/rooms/{room_id}", {"schedule": FORTNIGHTLY})
    assert moved.status_code == 200, moved.text
    assert moved.json()["schedule"] == FORTNIGHTLY
    cleared = api(node, "PATCH", f"/api/rooms/{room_id}", {"schedule": None})
    assert cleared.json()["schedule"] is None
    assert api(node, "GET", f"/api/rooms/{room_id}").json()["schedule"] is None

    plain = api(node, "POST", "/api/rooms", {"name": "Plain", "schedule": None})
    assert plain.status_code == 201
    assert api(node, "GET", f"/api/rooms/{plain.json()['id']}").json()["schedule"] is None


BAD = [
    ({**WEEKLY, "timezone": "Mars/Olympus"}, "schedule.timezone: unknown time zone"),
    ({**WEEKLY, "time": "7pm"}, "schedule.time: must be HH:MM"),
    ({**WEEKLY, "every_weeks": 2}, "schedule.first_date: required"),
    ({**WEEKLY, "first_date": "2026-12-09"}, "schedule.first_date: must be a Tuesday"),
    ({**WEEKLY, "duration_minutes": 0}, "schedule.duration_minutes: must be from"),
    ({**WEEKLY, "extra": 1}, "schedule.extra: unknown field"),
    ("tuesdays at 7", "schedule: must be an object"),
]


def test_bad_schedules_are_400_invalid_and_change_nothing(node: Node) -> None:
    made = api(node, "POST", "/api/rooms", {"name": "Circle", "schedule": WEEKLY}).json()
    before = api(node, "GET", f"/api/rooms/{made['id']}").json()
    for schedule, message in BAD:
        for answer in (
            api(node, "POST", "/api/rooms", {"name": "Other", "schedule": schedule}),
            api(node, "PATCH", f"/api/rooms/{made['id']}", {"schedule": schedule}),
        ):
            assert answer.status_code == 400, schedule
            assert answer.json()["error"] == "invalid"
            assert answer.json()["message"].startswith(message)
    assert api(node, "GET", f"/api/rooms/{made['id']}").json() == before
    assert [r["name"] for r in api(node, "GET", "/api/rooms").json()["rooms"]] == ["Circle"]


def test_the_preview_carries_the_next_start_and_a_calendar_without_secrets(node: Node) -> None:
    made = api(node, "POST", "/api/rooms", {"name": "Thursday dawn", "schedule": FORTNIGHTLY})
    room = made.json()
    before = time.time()
    answer = httpx.post(
        f"{node.url}/api/preview",
        json={"room": room["id"], "token": room["invite"]},
        trust_env=False,
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["schedule"] == FORTNIGHTLY
    start = dt.datetime.fromtimestamp(body["next_start"], ZoneInfo("America/New_York"))
    assert (start.weekday(), start.hour, start.minute) == (3, 7, 30)
    assert (start.date() - dt.date(2026, 12, 10)).days % 14 == 0
    assert body["next_start"] + 60 * 60 > before  # not over yet
    assert body["next_start"] - 15 * 86400 < before  # and within one cycle

    text = body["calendar"]
    for secret in (room["invite"], room["facilitator"], room["id"], node.url):
        assert secret not in text
    (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Thursday dawn"
    assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "INTERVAL": [2], "BYDAY": ["TH"]}
    new_york = ZoneInfo("America/New_York")
    assert event["DTSTART"].dt == dt.datetime(2026, 12, 10, 7, 30, tzinfo=new_york)


def test_cli_creates_a_room_with_a_schedule(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = hearth(
        "room",
        "create",
        "Tuesday circle",
        "--data-dir",
        str(data),
        "--schedule",
        "tue 19:00 75m fortnightly Europe/Berlin from 2026-12-08",
    )
    assert created.returncode == 0, created.stderr
    assert (
        "Meets: every other Tuesday from 2026-12-08 at 19:00 (Europe/Berlin), 75 minutes"
        in created.stdout
    )
    room_id = links(created.stdout)["Invite"][0]

    async def read() -> object:
        store = SqliteRoomStore.in_data_dir(data)
        try:
            room = await store.get(room_id)
        finally:
            await store.close()
        assert room is not None
        assert room.schedule is not None
        return room.schedule.to_json()

    assert asyncio.run(read()) == {
        "weekday": "tuesday",
        "time": "19:00",
        "duration_minutes": 75,
        "every_weeks": 2,
        "timezone": "Europe/Berlin",
        "first_date": "2026-12-08",
    }


@pytest.mark.parametrize(
    ("words", "line"),
    [
        ("tue 19:00 Mars/Olympus", "schedule.timezone: unknown time zone"),
        ("tue 19:00 fortnightly UTC", "schedule.first_date: required"),
        ("someday UTC", "schedule: 'someday' is not"),
    ],
)
def test_cli_refuses_a_bad_schedule_in_one_line_and_creates_nothing(
    tmp_path: Path, words: str, line: str
) -> None:
    data = str(tmp_path / "data")
    result = hearth("room", "create", "Circle", "--data-dir", data, "--schedule", words)
    assert result.returncode == 2
    assert result.stderr.startswith(f"hearth: error: {line}")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert "No rooms yet" in hearth("room", "list", "--data-dir", data).stdout
