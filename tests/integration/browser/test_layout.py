"""The client on a 360 px phone, and the facilitator's panel without a mouse.

On a phone nothing scrolls sideways, the controls fit, and chat opens as a sheet over the
circle. The circle order is reordered with the keyboard (Alt + arrow keys) and by dragging.
"""

from __future__ import annotations

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
)
from tests.integration.nodes import Node


def no_sideways_scroll(person: Person) -> None:
    width = person.js("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def test_a_phone_sized_screen(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, _ = everyone_in(browser, room, "Fay")
    sam = open_link(browser, room.invite_url, "Sam", viewport=PHONE)
    try:
        expect(sam.page.locator("#join-button")).to_be_visible()
        no_sideways_scroll(sam)
        sam.shot("phone-join")

        join(sam)
        expect(sam.page.locator("#screen-lobby")).to_be_visible()
        no_sideways_scroll(sam)
        admit(fay, sam)
        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(sam.page.locator("#pass-button")).to_be_visible()
        expect(sam.page.locator("#countdown")).to_be_visible()
        no_sideways_scroll(sam)
        for control in ("#mic-button", "#camera-button", "#hand-button", "#leave-button"):
            box = sam.page.locator(control).bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= PHONE["width"], control
            assert box["height"] >= 44, f"{control} is too small to tap"
        sam.shot("phone-circle")

        # Chat is a sheet over the circle; Escape or the close button brings the circle back.
        expect(sam.page.locator("#chat-panel")).not_to_be_visible()
        sam.page.click("#chat-button")
        expect(sam.page.locator("#chat-input")).to_be_focused()
        sam.page.keyboard.press("Escape")
        expect(sam.page.locator("#chat-panel")).not_to_be_visible()
        expect(sam.page.locator("#chat-button")).to_be_focused()
        assert_clean(fay, sam)
    finally:
        close(fay, sam)


def test_the_circle_order_by_keyboard_and_by_dragging(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann, bob) = everyone_in(browser, room, "Fay", "Ann", "Bob")
    items = fay.page.locator("#order-list .order-item")
    try:
        expect(items.locator(".person-name")).to_have_text(["Ann", "Bob"])

        ann_item = fay.page.locator(f'#order-list [data-id="{ann.me()}"]')
        ann_item.focus()
        fay.page.keyboard.press("Alt+ArrowDown")
        expect(items.locator(".person-name")).to_have_text(["Bob", "Ann"])
        expect(fay.page.locator("#announcer")).to_have_text("Ann moved to place 2.")
        expect(fay.page.locator(f'#order-list [data-id="{ann.me()}"]')).to_be_focused()

        # The members see the new order too: Bob's tile comes first.
        expect(ann.page.locator("#tiles .tile").first).to_have_attribute("data-member", bob.me())

        fay.page.locator(f'#order-list [data-id="{ann.me()}"]').drag_to(
            fay.page.locator(f'#order-list [data-id="{bob.me()}"]'),
            target_position={"x": 20, "y": 4},
        )
        expect(items.locator(".person-name")).to_have_text(["Ann", "Bob"])

        # The move buttons do the same for anyone who prefers them.
        fay.page.get_by_role("button", name="Move Ann down").click()
        expect(items.locator(".person-name")).to_have_text(["Bob", "Ann"])
        assert_clean(fay, ann, bob)
    finally:
        close(fay, ann, bob)
