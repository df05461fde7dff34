"""The deadline as a cue, in real browsers (issue 17): a round with a 5-second share and no
overtime. At the deadline the speaker's page shows a gentle "time's up, please finish your
thought" (and says so politely to screen readers), the others only a quiet mark on the timer,
and ten seconds later the speaker still holds the piece, until they finish.

The start-round form offers moving on by itself as an explicit choice, off by default. A
5-second share is shorter than the form's quarter-minute step, so the test loosens the field.
"""

from __future__ import annotations

import time

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    PHONE,
    Person,
    assert_clean,
    close,
    everyone_in,
    make_room,
    wait_until,
)
from tests.integration.nodes import Node

SHARE_SECONDS = 5
CUE = "Time's up. Please finish your thought"
LATE = 3.0  # how late the cue may show on a busy machine (the event, then a render)


def round_of(person: Person) -> dict[str, object] | None:
    found = person.js("hearthTest.app.view.state.round")
    return dict(found) if found else None


def test_at_the_deadline_the_speaker_is_cued_and_keeps_the_piece(
    browser: Browser, hearth: Node
) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann, bob, cy) = everyone_in(browser, room, "Fay", "Ann", "Bob", "Cy")
    try:
        # --- the form: moving on by itself is a choice, and it is off
        auto = fay.page.locator("#round-auto-move")
        expect(auto).not_to_be_checked()
        expect(fay.page.locator("#round-overtime")).to_be_disabled()
        auto.check()
        expect(fay.page.locator("#round-overtime")).to_be_enabled()
        auto.uncheck()
        expect(fay.page.locator("#round-overtime")).to_be_disabled()

        fay.js(
            "(() => { const f = document.getElementById('round-minutes');"
            " f.step = 'any'; f.min = '0'; })()"
        )
        fay.page.fill("#round-minutes", str(SHARE_SECONDS / 60))
        fay.page.click("#start-round")
        started = time.monotonic()
        expect(ann.page.locator("#pass-button")).to_be_visible()
        shown = round_of(ann)
        assert shown is not None
        assert shown["overtime"] is None, "the round was started to move on by itself"
        assert shown["speaker"] == ann.me()
        assert shown["next"] == bob.me()
        expect(bob.page.locator("#turn-banner")).to_contain_text("You're next")
        expect(cy.page.locator("#turn-banner")).to_be_hidden()

        # --- the deadline: a cue for the speaker, a quiet mark for the others
        cue = ann.page.locator("#turn-banner")
        expect(cue).to_contain_text(CUE, timeout=int((SHARE_SECONDS + LATE) * 1000))
        assert time.monotonic() - started >= SHARE_SECONDS - 0.5, "the cue came early"
        expect(cue).to_have_class("turn-banner your-turn time-up")
        expect(ann.page.locator("#announcer")).to_have_text("Time is up for this share.")
        for other in (bob, cy, fay):
            expect(other.page.locator(".stage-note")).to_have_text("Time's up")
            expect(other.page.locator(".stage-tile")).to_have_attribute("data-phase", "over")
            expect(other.page.get_by_text(CUE)).to_have_count(0)
            expect(other.page.locator("#announcer")).not_to_have_text("Time is up for this share.")
        expect(bob.page.locator("#turn-banner")).to_contain_text("You're next")
        ann.shot("deadline-cue-speaker")
        bob.shot("deadline-cue-others")

        # --- ten seconds later the speaker still holds the piece, and may finish
        wait_until(lambda: time.monotonic() - started >= SHARE_SECONDS + 10, timeout=30)
        for person in (fay, ann, bob, cy):
            now = round_of(person)
            assert now is not None
            assert now["speaker"] == ann.me(), f"{person.name} sees the piece moved"
            assert now["time_up"] is True
        expect(cue).to_contain_text(CUE)
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(ann.page.locator("#done-button")).to_be_visible()
        ann.page.set_viewport_size(PHONE)
        expect(cue).to_be_in_viewport()
        ann.shot("deadline-cue-speaker-phone")

        ann.page.click("#done-button")
        expect(bob.page.locator("#pass-button")).to_be_visible()
        expect(bob.page.locator("#turn-banner")).not_to_contain_text(CUE)
        expect(cy.page.locator("#turn-banner")).to_contain_text("You're next")
        expect(cue).to_be_hidden()
        assert_clean(fay, ann, bob, cy)
    finally:
        close(fay, ann, bob, cy)
