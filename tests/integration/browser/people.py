"""People in a browser: open a link, join, wait, look. Used by the browser tests.

Each `Person` is one Playwright browser context (its own storage, its own fake camera and
microphone) with one page. Every wait is bounded; every page's console errors and uncaught
exceptions are collected so a test can assert the client ran clean (a CSP violation shows up
there too).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}
WAIT_MS = 15_000

# Chromium as the tests run it: headless, fake devices that need no permission prompt, no
# background traffic. Loopback candidates are allowed (the page, with ?test, keeps ICE to
# loopback only) and local addresses are not hidden behind mDNS, which would multicast.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    invite_url: str
    facilitator_url: str


def make_room(base_url: str, auth: dict[str, str], **body: object) -> Room:
    """A room made through the admin API; its links carry `?test` (see web_client/app.js)."""
    fields = {
        "name": "Tuesday evening circle",
        "guidelines": (
            "We listen without fixing.\nWhat is shared here stays here.\nYou may always pass."
        ),
        "crisis": "In an emergency call 112. Samaritans: 116 123 (free, any time).",
        **body,
    }
    answer = httpx.post(
        f"{base_url}/api/rooms", headers=auth, json=fields, trust_env=False, timeout=5
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    return Room(
        made["id"],
        f"{base_url}/r/{made['id']}?test#{made['invite']}",
        f"{base_url}/r/{made['id']}?test#{made['facilitator']}",
    )


@dataclass
class Person:
    name: str
    page: Page
    problems: list[str] = field(default_factory=list)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def me(self) -> str:
        return str(self.js("hearthTest.me()"))

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per remote member: framesDecoded, audioPackets, videoBytesSent, ..."""
        return dict(self.js("hearthTest.stats()"))


def open_link(
    browser: Browser,
    url: str,
    name: str,
    *,
    viewport: dict[str, int] = DESKTOP,
    **context_options: Any,
) -> Person:
    """A person's page at `url`, in a context of its own; `context_options` go to
    Playwright's new_context over the defaults (British English, reduced motion), e.g.
    `locale`, `timezone_id`, `ignore_https_errors`."""
    options: dict[str, Any] = {"locale": "en-GB", "reduced_motion": "reduce", **context_options}
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    person = Person(name, page)

    def console(message: Any) -> None:
        # A refused connection check (503 busy, as the browser tests run the node) is an
        # answer the page handles, but Chromium logs every non-2xx fetch as an error.
        if message.type == "error" and not message.location.get("url", "").endswith("/api/check"):
            person.problems.append(f"console: {message.text} ({message.location})")

    page.on("console", console)
    page.on("pageerror", lambda exc: person.problems.append(f"pageerror: {exc}"))
    page.goto(url)
    return person


def join(person: Person, *, accept: bool = True) -> None:
    """Fill the join page and press join (a facilitator link needs no acceptance)."""
    page = person.page
    page.fill("#name", person.name)
    if accept and page.locator("#accept").is_visible():
        page.check("#accept")
    page.click("#join-button")


def admit(fac: Person, guest: Person) -> None:
    fac.page.get_by_role("button", name=f"Let {guest.name} in").click()
    expect(guest.page.locator("#screen-circle")).to_be_visible()


def everyone_in(
    browser: Browser, room: Room, *names: str, viewport: dict[str, int] = DESKTOP
) -> tuple[Person, list[Person]]:
    """The facilitator (first name) in the room, and each other name joined and let in."""
    fac = open_link(browser, room.facilitator_url, names[0], viewport=viewport)
    join(fac)
    expect(fac.page.locator("#screen-circle")).to_be_visible()
    guests = []
    for name in names[1:]:
        guest = open_link(browser, room.invite_url, name, viewport=viewport)
        join(guest)
        expect(guest.page.locator("#screen-lobby")).to_be_visible()
        admit(fac, guest)
        guests.append(guest)
    return fac, guests


def wait_until(check: Any, *, timeout: float = 20.0, every: float = 0.5, what: Any = "") -> Any:
    """Poll `check()` until it returns something truthy; fail with its last value and
    `what` (a text, or a function giving one at the time of failure)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    shown = json.dumps(last, default=str)[:2000]
    described = what() if callable(what) else what
    raise AssertionError(f"gave up waiting {timeout}s for {described}: last {shown}")


def close(*people: Person) -> None:
    for person in people:
        person.page.context.close()


def assert_clean(*people: Person) -> None:
    """No console errors or uncaught exceptions on any page (CSP violations included)."""
    problems = {p.name: p.problems for p in people if p.problems}
    assert not problems, problems
