"""On the group's schedule, in real Chromium: the join page shows the next meeting in the
member's own time zone and downloads a calendar file that parses back with its rule and
carries no token; the lobby counts down to the start; the host sets the time on their page.

Screenshots: schedule-join-desktop, schedule-join-phone, schedule-lobby-desktop,
schedule-lobby-phone, schedule-host-form.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import icalendar
from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    DESKTOP,
    PHONE,
    Person,
    assert_clean,
    close,
    join,
    make_room,
    open_link,
)
from tests.integration.browser.test_host_page import api_room, open_host, room_card, sign_in
from tests.integration.nodes import Node

GROUP_ZONE = ZoneInfo("Europe/Berlin")
MEMBER_ZONE = "America/New_York"  # six hours behind Berlin in December (five or six all year)


def schedule_starting_in(minutes: int) -> tuple[dict[str, object], dt.datetime]:
    """A weekly Berlin schedule whose next meeting starts `minutes` (and under a minute)
    from now, with that start."""
    start = dt.datetime.fromtimestamp(time.time() + minutes * 60 + 60, GROUP_ZONE)
    start = start.replace(second=0, microsecond=0)
    schedule = {
        "weekday": start.strftime("%A").lower(),
        "time": start.strftime("%H:%M"),
        "duration_minutes": 90,
        "every_weeks": 1,
        "timezone": "Europe/Berlin",
    }
    return schedule, start


def open_in_zone(browser: Browser, url: str, name: str, viewport: dict[str, int]) -> Person:
    """`people.open_link` in the member's own time zone, downloads allowed."""
    return open_link(
        browser, url, name, viewport=viewport, timezone_id=MEMBER_ZONE, accept_downloads=True
    )


def test_join_page_calendar_file_and_lobby_countdown(browser: Browser, hearth: Node) -> None:
    schedule, start = schedule_starting_in(12)
    room = make_room(hearth.url, hearth.auth, name="Tuesday evening circle", schedule=schedule)
    token = room.invite_url.rsplit("#", 1)[1]
    ann = open_in_zone(browser, room.invite_url, "Ann", DESKTOP)
    phone = open_in_zone(browser, room.invite_url, "Bo", PHONE)
    try:
        page = ann.page
        line = page.locator("#next-meeting")
        expect(line).to_contain_text("(your time)")
        # The page's own zone, not the group's: New York's weekday, date and clock.
        there = start.astimezone(ZoneInfo(MEMBER_ZONE))
        text = line.inner_text()
        assert text.startswith("Next meeting: ")
        assert there.strftime("%H:%M") in text, text
        assert start.strftime("%H:%M") not in text, text  # not the group's clock
        assert there.strftime("%A") in text
        assert there.strftime("%B") in text
        expect(page.locator("#schedule")).to_contain_text(
            f"The group meets every {there.strftime('%A')}."
        )
        ann.shot("schedule-join-desktop")
        expect(phone.page.locator("#next-meeting")).to_contain_text("(your time)")
        phone.shot("schedule-join-phone")

        # --- the calendar file: downloaded, parsed back, no way in
        with page.expect_download() as caught:
            page.get_by_role("button", name="Add to my calendar").click()
        download = caught.value
        assert download.suggested_filename == "meeting.ics"
        path = download.path()
        raw = path.read_bytes()
        assert b"\r\n" in raw
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
        text_file = raw.decode("utf-8")
        for secret in (token, room.id, hearth.url, "http"):
            assert secret not in text_file
        (event,) = icalendar.Calendar.from_ical(raw).walk("VEVENT")
        assert str(event["SUMMARY"]) == "Tuesday evening circle"
        day = str(schedule["weekday"])[:2].upper()
        assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "INTERVAL": [1], "BYDAY": [day]}
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event["DTSTART"].dt.strftime("%H:%M") == schedule["time"]
        assert event["DURATION"].dt == dt.timedelta(minutes=90)

        # --- the lobby counts down, and keeps up with the clock
        join(ann)
        expect(page.locator("#screen-lobby")).to_be_visible()
        countdown = page.locator("#lobby-countdown")
        expect(countdown).to_have_text(re.compile(r"^The meeting starts in 1[0-3] minutes\.$"))
        ann.shot("schedule-lobby-desktop")
        join(phone)
        expect(phone.page.locator("#lobby-countdown")).to_have_text(
            re.compile(r"^The meeting starts in 1[0-3] minutes\.$")
        )
        phone.shot("schedule-lobby-phone")
        # What the join page kept moves on: past the start, the line says so by itself.
        ann.js(
            """() => {
                const keys = Object.keys(sessionStorage);
                const key = keys.find((k) => k.startsWith("hearth.schedule."));
                const kept = JSON.parse(sessionStorage.getItem(key));
                kept.next_start = Date.now() / 1000 - 60;
                sessionStorage.setItem(key, JSON.stringify(kept));
            }"""
        )
        expect(countdown).to_have_text(
            "The meeting has started. A facilitator will let you in soon.", timeout=25_000
        )
        assert_clean(ann, phone)
    finally:
        close(ann, phone)


def test_a_room_without_a_schedule_shows_nothing_of_it(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    ann = open_in_zone(browser, room.invite_url, "Ann", DESKTOP)
    try:
        expect(ann.page.locator(".lead")).to_contain_text("Tuesday evening circle")
        expect(ann.page.locator("#schedule")).to_be_hidden()
        join(ann)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        expect(ann.page.locator("#lobby-countdown")).to_be_hidden()
        assert_clean(ann)
    finally:
        close(ann)


def test_the_host_sets_changes_and_clears_the_regular_time(browser: Browser, hearth: Node) -> None:
    host = open_host(browser, hearth)
    try:
        page = host.page
        sign_in(host, hearth.admin_token)
        expect(page.locator("#rooms-title")).to_be_visible()
        page.fill("#new-name", "Thursday dawn")
        page.select_option("#new-weekday", "thursday")
        page.fill("#new-time", "07:30")
        page.fill("#new-duration", "60")
        page.select_option("#new-every", "2")
        page.fill("#new-zone", "America/New_York")
        # Every other week without a first date: said plainly, nothing made.
        page.click("#create-room")
        expect(page.locator("#new-error")).to_have_text(
            "For every other week, please give the date of a first meeting."
        )
        expect(page.locator("#new-first")).to_be_focused()
        page.fill("#new-first", "2026-12-10")
        host.shot("schedule-host-form", full_page=True)
        page.click("#create-room")
        card = page.locator(
            "li.room-card", has=page.get_by_role("heading", name="Thursday dawn", exact=True)
        )
        expect(card.locator(".links-panel")).to_be_visible()
        room_id = str(card.get_attribute("data-room"))
        expect(card.locator(".room-meta")).to_contain_text(
            "Meets every other Thursday at 07:30 (America/New_York)"
        )
        assert api_room(hearth, room_id).json()["schedule"] == {
            "weekday": "thursday",
            "time": "07:30",
            "duration_minutes": 60,
            "every_weeks": 2,
            "timezone": "America/New_York",
            "first_date": "2026-12-10",
        }

        # A zone the server does not know is refused with the server's words.
        card = room_card(host, room_id)
        card.get_by_role("button", name="Edit Thursday dawn").click()
        edit = f"#edit-{room_id}"
        expect(page.locator(f"{edit}-weekday")).to_have_value("thursday")
        page.fill(f"{edit}-zone", "Mars/Olympus")
        card.get_by_role("button", name="Save changes").click()
        expect(page.locator(f"{edit}-error")).to_contain_text("schedule.timezone")
        assert api_room(hearth, room_id).json()["schedule"]["timezone"] == "America/New_York"

        # "No regular time" drops it.
        page.select_option(f"{edit}-weekday", "")
        expect(page.locator(f"{edit}-time")).to_be_hidden()
        card.get_by_role("button", name="Save changes").click()
        expect(card.locator(".room-meta")).not_to_contain_text("Meets")
        assert api_room(hearth, room_id).json()["schedule"] is None
        # Chromium logs the refused save (400) it was asked to make; nothing else went wrong.
        refused = f"status of 400 (Bad Request) {hearth.url}/api/rooms/{room_id}"
        assert [p for p in host.problems if refused not in p] == []
    finally:
        close(host)
