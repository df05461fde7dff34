"""Nothing for the facilitator goes unseen (issue 17), in real Chromium pages.

The facilitator sits on the Chat tab; a member sends a support note and someone knocks:
within seconds the Facilitate tab shows a count and a notice appears, without taking focus.
A reload keeps the unseen note; a member promoted later sees it and marks it seen; before
that, not one WebSocket frame to them ever carried its text. Screenshots: desktop and phone.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    DESKTOP,
    PHONE,
    WAIT_MS,
    Person,
    admit,
    everyone_in,
    join,
    make_room,
    open_link,
)
from tests.integration.nodes import Node

NOTE = "I'm not doing well tonight"


def open_watched(browser: Browser, url: str, name: str) -> tuple[Person, list[bytes]]:
    """Like `open_link`, with every WebSocket frame the page receives kept as bytes."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", reduced_motion="reduce")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    person = Person(name, page)
    frames: list[bytes] = []

    def socket(ws: Any) -> None:
        ws.on("framereceived", lambda p: frames.append(p if isinstance(p, bytes) else p.encode()))

    page.on("websocket", socket)
    page.on("pageerror", lambda exc: person.problems.append(f"pageerror: {exc}"))
    page.goto(url)
    return person, frames


def send_note(person: Person, text: str) -> None:
    person.page.click("#more-button")
    person.page.click("#support-button")
    person.page.fill("#support-text", text)
    person.page.locator("#ask-dialog").get_by_role("button", name="Send").click()


def test_a_note_and_a_knock_reach_a_facilitator_on_the_chat_tab(
    browser: Browser, hearth: Node
) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    bob, bob_frames = open_watched(browser, room.invite_url, "Bob")
    people = [fay, ann, bob]
    try:
        join(bob)
        expect(bob.page.locator("#screen-lobby")).to_be_visible()
        admit(fay, bob)
        bob_id = bob.me()

        # --- Fay is on the Chat tab, typing; Ann writes to the facilitators.
        fay.page.click("#tab-chat")
        fay.page.locator("#chat-panel textarea, #chat-panel input").first.focus()
        send_note(ann, NOTE)
        expect(fay.page.locator("#tab-panel .attention-count")).to_have_text("1", timeout=5000)
        notice = fay.page.locator("#attention")
        expect(notice).to_be_visible(timeout=5000)
        expect(notice).to_contain_text("A support note from Ann")
        focused = fay.js("document.activeElement?.closest('#attention') ? 'notice' : 'elsewhere'")
        assert focused == "elsewhere", "the notice took the focus"

        # --- someone knocks: the count and the notice say so too.
        gus = open_link(browser, room.invite_url, "Gus")
        people.append(gus)
        join(gus)
        expect(gus.page.locator("#screen-lobby")).to_be_visible()
        expect(fay.page.locator("#tab-panel .attention-count")).to_have_text("2")
        expect(notice).to_contain_text("Gus is waiting to come in")
        fay.shot("attention-chat-tab-desktop")

        # --- a reload: the unseen note is still there until marked seen.
        fay.page.reload()
        if fay.page.locator("#join-button").is_visible():
            join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        fay.page.click("#tab-panel")
        expect(fay.page.locator("#note-list")).to_contain_text(NOTE)
        expect(fay.page.locator("#note-list .note.unseen")).to_have_count(1)

        # --- Bob, a plain member so far, never got the note: not in a frame, not on screen.
        expect(bob.page.get_by_text(NOTE)).to_have_count(0)
        assert not any(NOTE.encode() in f for f in bob_frames), "a member received the note"

        # --- promoted, Bob is given the unseen note, and marks it seen for both.
        fay.page.locator(f'[data-focus="promote-{bob_id}"]').click()
        expect(bob.page.locator("#tab-panel")).to_be_visible()
        expect(bob.page.locator("#tab-panel .attention-count")).to_have_text("2")
        bob.page.click("#tab-panel")
        expect(bob.page.locator("#note-list")).to_contain_text(NOTE)
        bob.page.get_by_role("button", name="Mark Ann's note as seen").click()
        expect(fay.page.locator("#note-list .note.seen")).to_have_count(1)
        expect(fay.page.locator("#tab-panel .attention-count")).to_have_text("1")  # Gus

        # --- a successor chosen in the panel, and a pause that says why.
        ann_id = ann.me()
        fay.page.select_option("#successor-pick", ann_id)
        expect(fay.page.locator("#successor-pick")).to_have_value(ann_id)
        assert fay.js("hearthTest.view().state.successor") == ann_id
        fay.page.click("#start-round")
        fay.page.click("#pause-button")
        expect(fay.page.locator("#round-now")).to_contain_text("Paused by the facilitator")

        # --- on a phone, with the side closed, a new knock still shows.
        fay.page.click("#tab-chat")
        fay.page.set_viewport_size(PHONE)
        fay.page.evaluate("document.querySelector('.close-side')?.click()")
        # Gus was seen in the panel: only something new brings the notice back.
        expect(notice).to_be_hidden()
        hal = open_link(browser, room.invite_url, "Hal")
        people.append(hal)
        join(hal)
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("2 waiting to come in")
        fay.shot("attention-phone")
        box = notice.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
        assert not [p for p in fay.problems if "pageerror" in p]
        assert not [p for p in bob.problems if "pageerror" in p]
    finally:
        for person in people:
            person.page.context.close()
