"""The host page's regular-time fields look like the rest of the form (issue 17), measured in
real Chromium on a desktop and a 360 px phone: the time and date inputs are as tall as the
other fields and have the same border and corners, the group around them is a soft rounded
frame (not the browser's grooved fieldset border), and nothing is wider than the phone.

Screenshots: host-schedule-desktop, host-schedule-phone (the create form, filled).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.browser.people import DESKTOP, PHONE, assert_clean, close
from tests.integration.browser.test_host_page import open_host, sign_in
from tests.integration.nodes import Node

LOOK = """
(ids) => Object.fromEntries(ids.map((id) => {
  const el = document.getElementById(id);
  const s = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return [id, {
    height: Math.round(box.height), right: box.right, radius: s.borderTopLeftRadius,
    border: `${s.borderTopStyle} ${s.borderTopWidth} ${s.borderTopColor}`,
  }];
}))
"""


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_regular_time_fields_look_like_the_rest(
    browser: Browser, hearth: Node, size: str
) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    host = open_host(browser, hearth, viewport=viewport)
    try:
        page = host.page
        sign_in(host, hearth.admin_token)
        expect(page.locator("#rooms-title")).to_be_visible()
        page.fill("#new-name", "Thursday dawn")
        page.select_option("#new-weekday", "thursday")
        page.fill("#new-time", "07:30")
        page.select_option("#new-every", "2")
        page.fill("#new-first", "2026-12-10")
        expect(page.locator("#new-first")).to_be_visible()

        look: dict[str, dict[str, Any]] = page.evaluate(
            LOOK, ["new-zone", "new-time", "new-first", "new-duration"]
        )
        text = look["new-zone"]
        for field in ("new-time", "new-first"):
            assert look[field]["border"] == text["border"], (field, look)
            assert look[field]["radius"] == text["radius"], (field, look)
            assert abs(look[field]["height"] - text["height"]) <= 1, (field, look)

        frame = page.evaluate(
            "(() => { const s = getComputedStyle(document.querySelector('fieldset.schedule-set'));"
            " return [s.borderTopStyle, s.borderTopLeftRadius]; })()"
        )
        assert frame[0] == "solid", frame  # not the browser's "groove"
        assert frame[1] != "0px", frame

        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"the page is {width}px wide on {viewport['width']}px"
        for field, seen in look.items():
            assert seen["right"] <= viewport["width"], (field, seen)
        host.shot(f"host-schedule-{size}", full_page=True)
        assert_clean(host)
    finally:
        close(host)
