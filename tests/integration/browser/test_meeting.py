"""A whole meeting through the UI alone: three real browsers, one real node.

Fay opens the facilitator link; Ann and Bob open the invite link, read the group's
guidelines, accept them, wait in the lobby and are let in. Fay runs a sharing round (Ann
passes, Bob finishes early, Ann speaks in the second pass), everyone chats, Bob raises a
hand and is called on, sends a private support note, and is removed; then the meeting ends.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    admit,
    assert_clean,
    close,
    join,
    make_room,
    open_link,
)
from tests.integration.nodes import Node


def test_a_meeting_through_the_ui(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay = open_link(browser, room.facilitator_url, "Fay")
    ann = open_link(browser, room.invite_url, "Ann")
    bob = open_link(browser, room.invite_url, "Bob")
    try:
        # --- the join page: the token leaves the address bar, the guidelines come first
        for person in (fay, ann, bob):
            assert "#" not in person.page.url
            expect(person.page).to_have_title("Hearth")
        expect(ann.page.locator("#guidelines")).to_contain_text("What is shared here stays here.")
        expect(ann.page.get_by_text("You're joining Tuesday evening circle.")).to_be_visible()
        expect(ann.page.locator(".check-result")).to_contain_text("you can still join")
        ann.shot("join")

        # the crisis resources are one tap away, before joining too
        ann.page.get_by_role("button", name="Need help now?").click()
        expect(ann.page.locator("#crisis-dialog")).to_contain_text("Samaritans: 116 123")
        ann.page.keyboard.press("Escape")
        expect(ann.page.locator("#crisis-dialog")).not_to_be_visible()

        # joining without accepting the guidelines is refused, kindly
        ann.page.fill("#name", "Ann")
        ann.page.click("#join-button")
        expect(ann.page.locator("#join-error")).to_contain_text("tick the box")

        # --- the facilitator enters at once; Ann and Bob wait in the lobby
        join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        join(ann)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        expect(ann.page.locator("#lobby-position")).to_have_text("You're number 1 in line.")
        join(bob)
        expect(bob.page.locator("#lobby-position")).to_have_text("You're number 2 in line.")
        expect(fay.page.locator("#lobby-list")).to_contain_text("Ann")
        expect(fay.page.locator("#announcer")).to_have_text("Bob is waiting to be let in.")

        fay.page.fill("#lobby-message", "Welcome, we start in a minute.")
        fay.page.locator("#lobby-message").press("Enter")
        expect(bob.page.locator(".lobby-messages")).to_contain_text("we start in a minute")
        ann.shot("lobby")

        admit(fay, ann)
        expect(bob.page.locator("#lobby-position")).to_have_text("You're number 1 in line.")
        admit(fay, bob)
        expect(ann.page.locator("#tiles .tile")).to_have_count(3)

        # --- a sharing round: Ann passes, Bob finishes early, Ann shares in the second pass
        fay.page.fill("#round-minutes", "2")
        fay.page.click("#start-round")
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(ann.page.locator("#stage-name")).to_have_text("It's your turn")
        expect(ann.page.locator("#countdown")).to_be_visible()
        expect(ann.page.locator("#countdown .ring-text")).to_have_text(re.compile(r"^[12]:\d\d$"))
        expect(bob.page.locator("#stage-name")).to_have_text("Ann is sharing")
        expect(bob.page.locator("#turn-banner")).to_contain_text("You're next")
        expect(bob.page.locator("#countdown")).to_be_visible()
        expect(fay.page.locator("#round-now")).to_contain_text("Now: Ann")
        bob.shot("round-start-member")
        fay.shot("round-start-facilitator")

        ann.page.click("#pass-button")
        expect(bob.page.locator("#stage-name")).to_have_text("It's your turn")
        expect(bob.page.locator("#alerter")).to_contain_text("It's your turn to share.")
        expect(fay.page.locator("#announcer")).to_have_text("Bob's turn to share.")
        expect(ann.page.locator(f'#tiles .tile[data-member="{ann.me()}"]')).to_contain_text(
            "Passed"
        )

        bob.page.click("#done-button")  # finish early
        expect(ann.page.locator("#stage-name")).to_have_text("It's your turn")
        expect(ann.page.locator("#round-line")).to_contain_text("second pass")
        ann.page.click("#done-button")
        for person in (fay, ann, bob):
            expect(person.page.locator("#round-line")).to_have_text("Open conversation")

        # --- chat, and a reaction that interrupts nobody
        ann.page.fill("#chat-input", "Thank you both for sharing.")
        ann.page.click("#chat-send")
        expect(bob.page.locator(".chat-log")).to_contain_text("Thank you both for sharing.")
        expect(fay.page.locator(".chat-log")).to_contain_text("Thank you both for sharing.")
        ann.page.click("#react-button")
        ann.page.get_by_role("button", name="🙏").click()
        expect(fay.page.locator(f'.tile[data-member="{ann.me()}"] .reaction')).to_have_count(1)

        # --- a hand raised and called on
        bob.page.click("#hand-button")
        expect(fay.page.locator("#hand-list")).to_contain_text("Bob")
        fay.page.get_by_role("button", name="Call on Bob").click()
        expect(bob.page.locator("#stage-name")).to_have_text("You have the floor")
        expect(ann.page.locator("#stage-name")).to_have_text("Bob has the floor")
        bob.page.click("#done-button")
        expect(ann.page.locator("#stage-name")).not_to_be_visible()

        # --- a private support note reaches the facilitators only
        bob.page.click("#more-button")
        bob.page.click("#support-button")
        bob.page.fill("#support-text", "Tonight is hard for me.")
        bob.page.locator("#ask-dialog").get_by_role("button", name="Send").click()
        expect(fay.page.locator("#note-list")).to_contain_text("Tonight is hard for me.")
        expect(ann.page.get_by_text("Tonight is hard for me.")).to_have_count(0)

        # --- Bob is removed (and blocked); everyone hangs up on him
        bob_id = bob.me()
        expect(ann.page.locator(f'.tile[data-member="{bob_id}"]')).to_have_count(1)
        fay.page.get_by_role("button", name="Remove Bob").click()
        fay.page.check("#remove-block")
        fay.page.locator("#ask-dialog").get_by_role("button", name="Remove").click()
        expect(bob.page.locator("#screen-ended")).to_have_attribute("data-reason", "removed")
        expect(ann.page.locator(f'.tile[data-member="{bob_id}"]')).to_have_count(0)
        assert bob_id not in ann.js("hearthTest.peers()")
        assert bob_id not in fay.js("hearthTest.peers()")

        # --- the facilitator ends the meeting, after a confirmation
        fay.page.click("#end-meeting")
        fay.page.locator("#ask-dialog").get_by_role("button", name="End the meeting").click()
        expect(ann.page.locator("#screen-ended")).to_have_attribute("data-reason", "ended")
        expect(ann.page.locator("#screen-ended")).to_contain_text("Samaritans")
        assert_clean(fay, ann, bob)
    finally:
        close(fay, ann, bob)
