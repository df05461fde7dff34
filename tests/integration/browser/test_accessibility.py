"""Accessibility measured (issue 17): axe-core on every screen, desktop and a 360 px phone.

Real Chromium against a real node; `audit` (audit.py) runs axe-core's WCAG 2.1 A/AA rules on
what the page shows at that moment and fails on any serious or critical violation. A member
and a facilitator walk one evening: the wrong link, the join page with the guidelines, the
lobby, the circle outside and during a round (as member and facilitator), the facilitator's
panel holding a support note, the chat, the crisis dialog, the "more" menu and the leave
confirmation. The host's page: sign-in, the rooms list with fresh links, the edit form and a
confirm dialog. The phone runs in the dark colour scheme, the desktop in the light one. A
planted fault proves the audit can fail. Results: tests/artifacts/axe/<screen>-<viewport>.json.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.browser.audit import audit
from tests.integration.browser.people import (
    DESKTOP,
    PHONE,
    admit,
    close,
    join,
    make_room,
    open_link,
)
from tests.integration.browser.test_host_page import create_room, open_host, sign_in
from tests.integration.nodes import Node

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def open_side(page: Page, tab: str, *, phone: bool) -> None:
    """The chat or the facilitator's panel: a tab beside the circle, a sheet on a phone."""
    if phone:
        page.click(f"#{tab}-button")
    else:
        page.click(f"#tab-{tab}")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_screen_of_an_evening_has_no_serious_violation(
    browser: Browser, hearth: Node, size: str
) -> None:
    viewport = VIEWPORTS[size]
    phone = size == "phone"
    room = make_room(hearth.url, hearth.auth)
    wrong_url = f"{hearth.url}/r/{room.id}?test#not-a-real-token"
    wrong = open_link(browser, wrong_url, "Lee", viewport=viewport)
    fay = open_link(browser, room.facilitator_url, "Fay", viewport=viewport)
    sam = open_link(browser, room.invite_url, "Sam", viewport=viewport)
    people = (wrong, fay, sam)
    try:
        if phone:  # the phone in the dark scheme, the desktop in the light one
            for person in people:
                person.page.emulate_media(color_scheme="dark")
        expect(wrong.page.locator("#join-error")).to_contain_text("doesn't work")
        audit(wrong.page, f"wrong-link-{size}")

        expect(sam.page.locator("#accept")).to_be_visible()  # the guidelines, to accept
        audit(sam.page, f"join-{size}")
        expect(fay.page.locator("#join-button")).to_be_visible()
        audit(fay.page, f"join-facilitator-{size}")
        join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        audit(fay.page, f"circle-facilitator-alone-{size}")

        join(sam)
        expect(sam.page.locator("#screen-lobby")).to_be_visible()
        audit(sam.page, f"lobby-{size}")
        if phone:  # the knock shows in the panel, a sheet the facilitator opens on a phone
            fay.page.click("#panel-button")
        audit(fay.page, f"panel-knock-{size}")
        admit(fay, sam)
        audit(sam.page, f"circle-member-{size}")

        # A support note reaches the facilitator's panel.
        sam.page.click("#more-button")
        expect(sam.page.locator("#ask-dialog")).to_be_visible()
        audit(sam.page, f"more-menu-{size}")
        sam.page.click("#support-button")
        sam.page.fill("#support-text", "I'm not doing well tonight")
        audit(sam.page, f"support-dialog-{size}")
        sam.page.locator("#ask-dialog").get_by_role("button", name="Send").click()
        expect(sam.page.locator("#ask-dialog")).to_be_hidden()
        open_side(fay.page, "panel", phone=phone)
        expect(fay.page.locator("#note-list")).to_contain_text("I'm not doing well tonight")
        audit(fay.page, f"panel-support-note-{size}")

        # The chat, with a line in it.
        open_side(sam.page, "chat", phone=phone)
        sam.page.fill("#chat-input", "Thank you all for being here")
        sam.page.click("#chat-send")
        expect(sam.page.locator(".chat-log")).to_contain_text("Thank you all for being here")
        audit(sam.page, f"chat-{size}")
        sam.shot(f"accessibility-chat-{size}")
        if phone:
            sam.page.locator(".close-side").click()

        # A round: Fay starts it from her panel; Sam listens or speaks.
        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(sam.page.locator("#countdown")).to_be_visible()
        audit(fay.page, f"circle-facilitator-round-{size}")
        if phone:
            fay.page.locator(".close-side").click()
            audit(fay.page, f"circle-facilitator-round-stage-{size}")
        audit(sam.page, f"circle-member-round-{size}")

        # The crisis dialog, then the leave confirmation (cancelled).
        sam.page.click("#crisis-open")
        expect(sam.page.locator("#crisis-dialog")).to_be_visible()
        audit(sam.page, f"crisis-dialog-{size}")
        sam.page.keyboard.press("Escape")
        expect(sam.page.locator("#crisis-dialog")).to_be_hidden()
        sam.page.click("#leave-button")
        expect(sam.page.locator("#ask-dialog")).to_be_visible()
        audit(sam.page, f"leave-confirm-{size}")
        sam.page.keyboard.press("Escape")
        expect(sam.page.locator("#ask-dialog")).to_be_hidden()
    finally:
        close(*people)


def test_the_audit_fails_on_a_serious_violation(browser: Browser, hearth: Node) -> None:
    """The audit can fail: an icon button without a name and an unlabelled field are named."""
    room = make_room(hearth.url, hearth.auth)
    sam = open_link(browser, room.invite_url, "Sam")
    try:
        expect(sam.page.locator("#accept")).to_be_visible()
        sam.page.evaluate(
            """() => {
              const main = document.querySelector("main");
              main.append(document.createElement("button"), document.createElement("input"));
            }"""
        )
        with pytest.raises(AssertionError) as failed:
            audit(sam.page, "negative-control")
        assert "button-name (critical)" in str(failed.value)
        assert "label (critical)" in str(failed.value)
    finally:
        close(sam)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_host_page_has_no_serious_violation(browser: Browser, hearth: Node, size: str) -> None:
    host = open_host(browser, hearth, viewport=VIEWPORTS[size])
    try:
        page = host.page
        expect(page.locator("#admin-token")).to_be_focused()
        audit(page, f"host-sign-in-{size}")
        sign_in(host, "not the token")
        expect(page.locator("#sign-in-error")).to_be_visible()
        audit(page, f"host-sign-in-refused-{size}")

        sign_in(host, hearth.admin_token)
        expect(page.locator("#no-rooms")).to_be_visible()
        audit(page, f"host-no-rooms-{size}")
        room_id = create_room(host, "Tuesday evening circle")
        audit(page, f"host-rooms-with-links-{size}")

        card = page.locator(f'li.room-card[data-room="{room_id}"]')
        card.get_by_role("button", name="Edit Tuesday evening circle").click()
        expect(page.locator(f"#edit-{room_id}-name")).to_be_focused()
        audit(page, f"host-edit-{size}")
        page.keyboard.press("Escape")

        card.get_by_role("button", name="Delete Tuesday evening circle").click()
        expect(page.locator("#ask-dialog")).to_be_visible()
        audit(page, f"host-confirm-dialog-{size}")
        page.keyboard.press("Escape")
        expect(page.locator("#ask-dialog")).to_be_hidden()
    finally:
        close(host)
