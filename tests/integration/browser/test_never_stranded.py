"""Never stranded: every way a connection ends leads somewhere a person can act, in seconds.

A seat that expires (the page's socket held down past a short grace period) goes back in
through the tab's link by itself: straight into the circle while the facilitator lets people
here earlier return without knocking (the default), or to the lobby with a plain word when
they don't. A node restart (memory mode: the meeting is lost) brings every page back by
itself, the facilitator straight in. A short drop and a reload show each chat line exactly
once, earlier ones included. The same tab follows a link opened again (only the fragment
changes), and a wrong link says so at the top without ever asking for the camera.
"""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    PHONE,
    Person,
    admit,
    assert_clean,
    close,
    everyone_in,
    join,
    make_room,
    open_link,
    wait_until,
)
from tests.integration.meeting import LOOSE_LIMITS
from tests.integration.nodes import Node, NodeFactory, start_node

GRACE = "2"
ENV = {**LOOSE_LIMITS, "HEARTH_CHECK_PEERS": "0"}


def chat(person: Person, text: str) -> None:
    person.page.click("#tab-chat")
    person.page.fill("#chat-input", text)
    person.page.click("#chat-send")


def lines(person: Person, text: str) -> int:
    """How many chat lines on the page carry `text`."""
    return int(person.page.locator(".chat-line", has_text=text).count())


def never_stuck_reconnecting(person: Person, seconds: float) -> None:
    """The page leaves "reconnecting" within `seconds`: back in the circle or the lobby."""
    wait_until(
        lambda: person.js("hearthTest.status()") == "open",
        timeout=seconds,
        what=lambda: f"{person.name} back ({person.js('hearthTest.status()')})",
    )
    expect(person.page.locator("#status-banner")).not_to_contain_text("Reconnecting")


def test_past_the_grace_a_member_comes_straight_back_in(
    browser: Browser, node_factory: NodeFactory
) -> None:
    node = node_factory(args=["--grace-seconds", GRACE], env=ENV)
    room = make_room(node.url, node.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    try:
        chat(fay, "Welcome, everyone.")
        expect(ann.page.locator(".chat-log")).to_contain_text("Welcome, everyone.")
        before = ann.me()

        ann.js("hearthTest.drop(5000)")  # down well past the 2 s grace period
        expect(fay.page.locator("#people-list")).not_to_contain_text("Ann", timeout=10_000)
        never_stuck_reconnecting(ann, 15)

        expect(ann.page.locator("#screen-circle")).to_be_visible()
        assert ann.me() != before  # a new seat, through the link
        expect(fay.page.locator("#people-list")).to_contain_text("Ann")
        assert lines(ann, "Welcome, everyone.") == 1  # what was read stays, once
        ann.shot("stranded-back-in-circle")
        assert_clean(fay, ann)
    finally:
        close(fay, ann)


def test_with_knocking_a_member_waits_in_the_lobby_with_a_plain_word(
    browser: Browser, node_factory: NodeFactory
) -> None:
    node = node_factory(args=["--grace-seconds", GRACE], env=ENV)
    room = make_room(node.url, node.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    try:
        fay.page.click("#tab-panel")
        toggle = fay.page.locator("#returning-toggle")
        expect(toggle).to_be_checked()  # on by default
        toggle.uncheck()
        wait_until(lambda: fay.js("hearthTest.view().state.returning") == "knock", what="knock set")

        ann.js("hearthTest.drop(5000)")
        never_stuck_reconnecting(ann, 15)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        expect(ann.page.locator("#lobby-notice")).to_contain_text("back in the waiting room")
        ann.shot("stranded-back-in-lobby")

        admit(fay, ann)
        assert_clean(fay, ann)
    finally:
        close(fay, ann)


def test_after_a_node_restart_every_page_finds_its_way_back(
    browser: Browser, tmp_path: Path
) -> None:
    node = start_node(tmp_path, env=ENV, name="first")
    again: Node | None = None
    people: list[Person] = []
    try:
        room = make_room(node.url, node.auth)
        fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
        people = [fay, ann]
        chat(fay, "Before the restart.")
        expect(ann.page.locator(".chat-log")).to_contain_text("Before the restart.")

        node.stop()
        again = start_node(
            tmp_path,
            env=ENV,
            name="again",
            port=node.port,
            data_dir=node.data_dir,
            admin_token=node.admin_token,
        )
        # The meeting was lost with the process; the links were not.
        never_stuck_reconnecting(fay, 20)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        expect(fay.page.locator("#tab-panel")).to_be_visible()  # straight in, facilitating
        never_stuck_reconnecting(ann, 20)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        expect(ann.page.locator("#lobby-notice")).to_contain_text("back in the waiting room")
        fay.page.click("#tab-panel")
        admit(fay, ann)
        assert lines(ann, "Before the restart.") == 1
        fay.shot("restart-facilitator-back")
        for person in people:  # tries while the node was down are refused, as they should be
            person.problems = [p for p in person.problems if "ERR_CONNECTION_REFUSED" not in p]
        assert_clean(fay, ann)
    finally:
        close(*people)
        if again is not None:
            again.stop()
        node.stop()


def test_a_short_drop_and_a_reload_show_each_chat_line_once(
    browser: Browser, node_factory: NodeFactory
) -> None:
    node = node_factory(env=ENV)
    room = make_room(node.url, node.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    try:
        chat(fay, "First line.")
        chat(ann, "Second line.")
        expect(ann.page.locator(".chat-log")).to_contain_text("Second line.")
        # Events after the welcome (the chat above) must not come back on a resume.
        ann.js("hearthTest.drop(1500)")
        chat(fay, "Said while Ann was away.")
        never_stuck_reconnecting(ann, 15)
        expect(ann.page.locator(".chat-log")).to_contain_text("Said while Ann was away.")
        time.sleep(0.5)  # a duplicate would arrive with the replay, right behind it
        for text in ("First line.", "Second line.", "Said while Ann was away."):
            assert lines(ann, text) == 1, text

        ann.page.reload()
        expect(ann.page.locator("#screen-circle")).to_be_visible()
        ann.page.click("#tab-chat")
        for text in ("First line.", "Second line.", "Said while Ann was away."):
            expect(ann.page.locator(".chat-log")).to_contain_text(text)
        chat(fay, "After the reload.")
        expect(ann.page.locator(".chat-log")).to_contain_text("After the reload.")
        time.sleep(0.5)
        for text in ("First line.", "Second line.", "Said while Ann was away.", "After."):
            assert lines(ann, text) <= 1, text
        for text in ("First line.", "Second line.", "Said while Ann was away."):
            assert lines(ann, text) == 1, text
        ann.shot("reload-chat-once")
        assert_clean(fay, ann)
    finally:
        close(fay, ann)


COUNT_CAMERA = """
window.cameraAsks = 0;
const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => {
  window.cameraAsks += 1;
  return real(constraints);
};
"""


def test_a_wrong_link_says_so_first_and_the_same_tab_follows_a_good_one(
    browser: Browser, hearth: Node
) -> None:
    room = make_room(hearth.url, hearth.auth)
    wrong = f"{hearth.url}/r/{room.id}?test#not-a-real-token"
    context = browser.new_context(viewport=PHONE, locale="en-GB", reduced_motion="reduce")
    context.add_init_script(COUNT_CAMERA)
    page = context.new_page()
    try:
        page.goto(wrong)
        alert = page.locator("#join-error")
        expect(alert).to_contain_text("This invite link doesn't work")
        box = alert.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= PHONE["height"]  # seen at once, no scrolling
        time.sleep(1.0)  # the camera would have been asked for by now
        assert page.evaluate("window.cameraAsks") == 0
        person = Person("Ann", page)
        person.shot("wrong-link-phone")

        # The right link opened in the same tab: only the fragment changes.
        page.goto(room.invite_url)
        expect(page.locator("#screen-join")).to_be_visible()
        wait_until(lambda: page.evaluate("window.cameraAsks") >= 1, what="the camera preview")
        join(person)
        expect(page.locator("#screen-lobby")).to_be_visible()
    finally:
        context.close()


def test_opening_the_link_again_in_a_tab_on_the_join_page_keeps_it_working(
    browser: Browser, hearth: Node
) -> None:
    room = make_room(hearth.url, hearth.auth)
    other = make_room(hearth.url, hearth.auth, name="Thursday circle")
    ann = open_link(browser, room.invite_url, "Ann")
    try:
        expect(ann.page.locator("#screen-join")).to_contain_text("Tuesday evening circle")
        # The other room's link, in a tab left on this room's join page; the path changes
        # too, which is a plain page load, and then the first link again, fragment only.
        ann.page.goto(other.invite_url)
        expect(ann.page.locator("#screen-join")).to_contain_text("Thursday circle")
        ann.page.goto(f"{hearth.url}/r/{other.id}?test#{room.invite_url.split('#')[1]}")
        expect(ann.page.locator("#join-error")).to_contain_text("doesn't work")
        ann.page.goto(other.invite_url)
        expect(ann.page.locator("#screen-join")).to_contain_text("Thursday circle")
        join(ann)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        # (Not `assert_clean`: Chromium logs the wrong link's 404 preview as a console error.)
    finally:
        close(ann)
