"""Connection trouble: a dropped WebSocket and a reloaded page both keep the seat.

The page's socket is closed through the `?test` hook (as a network failure would: no
`leave`), kept down for a moment while the room moves on, and the page resumes with its
resume token and last seq: same member id, still the speaker, and what happened meanwhile
(a chat) replayed. A reload resumes from the tab's sessionStorage without the join page.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    assert_clean,
    close,
    everyone_in,
    make_room,
    wait_until,
)
from tests.integration.nodes import Node


def test_a_dropped_connection_resumes_with_the_seat(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    try:
        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(ann.page.locator("#pass-button")).to_be_visible()
        me = ann.me()

        ann.js("hearthTest.drop(2500)")
        expect(ann.page.locator("#status-banner")).to_contain_text("Reconnecting")
        expect(fay.page.locator(f'.tile[data-member="{me}"]')).to_contain_text("Reconnecting")
        fay.page.click("#tab-chat")
        fay.page.fill("#chat-input", "Take your time, Ann.")
        fay.page.click("#chat-send")

        wait_until(lambda: ann.js("hearthTest.status()") == "open", what="the resume")
        expect(ann.page.locator("#status-banner")).to_contain_text("connected again")
        assert ann.me() == me
        expect(ann.page.locator("#pass-button")).to_be_visible()  # still holding the piece
        expect(ann.page.locator(".chat-log")).to_contain_text("Take your time, Ann.")
        expect(fay.page.locator(f'.tile[data-member="{me}"]')).not_to_contain_text("Reconnecting")
        expect(fay.page.locator("#round-now")).to_contain_text("Now: Ann")

        # A reload: the tab's resume token takes the seat back, no join page in between.
        ann.page.reload()
        expect(ann.page.locator("#screen-circle")).to_be_visible()
        expect(ann.page.locator("#screen-join")).to_have_count(0)
        assert ann.me() == me
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(fay.page.locator("#people-list")).to_contain_text("Ann")

        # Media comes back too: the reloaded page starts fresh connections and both ends
        # replace the old one.
        def both_ways() -> bool:
            stats = [p.stats() for p in (fay, ann)]
            return all(s and all(row["state"] == "connected" for row in s.values()) for s in stats)

        wait_until(both_ways, what="media connected again after the reload")
        assert_clean(fay, ann)
    finally:
        close(fay, ann)
