"""Colour contrast at WCAG AA, measured in the browser on every screen, light and dark.

For each visible element that holds text of its own, the page computes the text colour and
the colour behind it (its own background and its ancestors', blended where translucent, over
the page's canvas) and the contrast ratio between them (WCAG 2.x relative luminance). Where
a picture shows through (someone's video, an image, a gradient), its colours could be
anything: the text is judged over both white and black there, so a name on a video tile
passes only if its own backing makes it readable on any picture. AA asks 4.5:1 for body
text and 3:1 for large text (24 px, or 18.66 px bold). Disabled controls are exempt, as
WCAG exempts inactive parts of the interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    Person,
    admit,
    close,
    everyone_in,
    join,
    make_room,
    open_link,
)
from tests.integration.nodes import Node

CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


def assert_contrast(person: Person, screen: str) -> None:
    found: dict[str, Any] = person.page.evaluate(CONTRAST)
    where = f"{screen} ({person.name})"
    assert found["checked"] > 0, f"no text found to judge on {where}"
    unjudged = found["unjudged"]
    assert not unjudged, f"text covered or without a colour on {where}: {unjudged}"
    assert not found["failures"], f"contrast below WCAG AA on {where}: {found['failures']}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_screen_meets_wcag_aa_contrast(browser: Browser, hearth: Node, scheme: str) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    sam = open_link(browser, room.invite_url, "Sam")
    people = (fay, ann, sam)
    try:
        for person in people:
            person.page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        assert_contrast(sam, "join page")
        sam.page.locator(".skip-link").focus()  # shown only to keyboard users, then judged too
        expect(sam.page.locator(".skip-link")).to_be_in_viewport()
        assert_contrast(sam, "join page, the skip link focused")
        join(sam)
        expect(sam.page.locator("#screen-lobby")).to_be_visible()
        fay.page.fill("#lobby-message", "Starting in two minutes")
        fay.page.locator("#lobby-message").press("Enter")
        expect(sam.page.locator(".lobby-messages")).to_contain_text("Starting in two minutes")
        assert_contrast(sam, "lobby")
        admit(fay, sam)

        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(ann.page.locator("#countdown")).to_be_visible()
        ann.page.fill("#chat-input", "Thank you all for being here")  # chat sits beside the circle
        ann.page.click("#chat-send")
        expect(fay.page.locator(".chat-log")).to_contain_text("Thank you all for being here")
        assert_contrast(ann, "circle, the speaker, chat open")
        assert_contrast(sam, "circle, a listener")
        assert_contrast(fay, "circle with the facilitator's panel")

        sam.page.click("#more-button")
        sam.page.click("#away-button")
        expect(fay.page.locator(f'.tile.away[data-member="{sam.me()}"]')).to_be_visible()
        assert_contrast(fay, "circle with someone stepped away")
    finally:
        close(*people)
