"""The client on a 360 px phone, the stage that fills the screen, and the facilitator's
panel without a mouse.

On a phone nothing scrolls sideways, the controls fit, and chat opens as a sheet over the
circle. The stage is measured from bounding boxes in real pages (2, 6 and 7 people, desktop
and phone, in and out of a round): no tile under the control bar, tiles keep their shape
and fill the space, the speaker is the largest, no control label is cut. The circle order
is reordered with the keyboard (Alt + arrow keys) and by dragging.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    ROOT,
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
from tests.integration.nodes import Node

LAPTOP = {"width": 1280, "height": 800}
# Tiles keep a video shape: 16:9 or 4:3, whichever the layout chose (with rounding slack).
ASPECT_RANGE = (1.3, 1.8)

# Every box the stage checks look at, in one read of the page.
MEASURE = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, w: r.width, h: r.height };
  };
  const shown = (el) => !!el && el.getClientRects().length > 0;
  const stage = document.querySelector("#stage .stage-tile");
  return {
    bar: box(document.querySelector(".controls")),
    main: box(document.querySelector(".circle-main")),
    people: box(document.querySelector(".circle-main > .people")),
    stage: shown(stage) ? box(stage) : null,
    tiles: [...document.querySelectorAll("#tiles .tile")].filter(shown).map(box),
    labels: [...document.querySelectorAll(".controls .control")].filter(shown).map((b) => {
      const l = b.querySelector(".control-label");
      return { id: b.id, text: l.innerText, name: b.getAttribute("aria-label") || l.innerText,
        scroll: l.scrollWidth, client: l.clientWidth, label: box(l), button: box(b),
        buttonScroll: b.scrollWidth, buttonClient: b.clientWidth };
    }),
    pageWidth: document.documentElement.scrollWidth,
    pageHeight: document.documentElement.scrollHeight,
  };
}"""


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """The area two boxes share (0 when they only touch)."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


def area(box: dict[str, float]) -> float:
    return box["w"] * box["h"]


def check_stage(person: Person, count: int, where: str) -> dict[str, Any]:
    """What holds on every screen: the circle fits the window, nothing lies under the
    control bar, tiles keep their shape, every control label shows whole. Returns the
    measures for the checks particular to the screen."""
    view = person.page.viewport_size
    assert view is not None
    where = f"{where} ({person.name}, {view['width']}x{view['height']})"

    def settled() -> dict[str, Any] | None:
        # Wait (bounded) for the tiles and for the layout to have run on the current count.
        m: dict[str, Any] = person.js(MEASURE)
        on_stage = 1 if m["stage"] else 0
        return m if len(m["tiles"]) + on_stage == count and m["tiles"][0]["w"] > 0 else None

    m: dict[str, Any] = wait_until(settled, timeout=15, what=f"{count} people shown on {where}")
    assert m["pageWidth"] <= view["width"], f"sideways scroll on {where}: {m['pageWidth']}"
    assert m["pageHeight"] <= view["height"], f"the page scrolls on {where}: {m['pageHeight']}"
    bar = m["bar"]
    assert bar["y"] + bar["h"] <= view["height"] + 0.5, f"the control bar is cut on {where}"
    shapes = m["tiles"] + ([m["stage"]] if m["stage"] else [])
    for tile in shapes:
        assert overlap(tile, bar) == 0, f"a tile under the control bar on {where}: {tile} {bar}"
        assert tile["y"] + tile["h"] <= bar["y"] + 0.5, f"a tile below the bar on {where}: {tile}"
        ratio = tile["w"] / tile["h"]
        assert ASPECT_RANGE[0] <= ratio <= ASPECT_RANGE[1], f"a tile of shape {ratio} on {where}"
    for label in m["labels"]:
        described = f"the {label['id']} label {label['text']!r} on {where}: {label}"
        assert label["text"].strip(), f"no visible label on {where}: {label}"
        assert "…" not in label["text"], described
        assert label["scroll"] <= label["client"], described
        assert label["buttonScroll"] <= label["buttonClient"], described
        inside = label["label"]["x"] >= label["button"]["x"] - 0.5 and (
            label["label"]["x"] + label["label"]["w"]
            <= label["button"]["x"] + label["button"]["w"] + 0.5
        )
        assert inside, described
        # The label people see is part of the name assistive technology reads out.
        assert label["text"].strip().lower() in label["name"].lower(), described
    return m


def gallery_share(m: dict[str, Any]) -> float:
    """How much of the gallery's space the tiles cover."""
    return sum(area(t) for t in m["tiles"]) / area(m["people"])


def check_gallery(person: Person, count: int, where: str, *, share: float) -> None:
    m = check_stage(person, count, where)
    assert m["stage"] is None, f"a stage with nobody on it on {where}"
    covered = gallery_share(m)
    assert covered >= share, f"the tiles cover {covered:.0%} of the gallery on {where}"
    sizes = {(round(t["w"]), round(t["h"])) for t in m["tiles"]}
    assert len(sizes) == 1, f"tiles of different sizes on {where}: {sizes}"


def check_round(person: Person, count: int, where: str, *, stage_share: float) -> None:
    m = check_stage(person, count, where)
    stage = m["stage"]
    assert stage is not None, f"no speaker on the stage on {where}"
    biggest = max(area(t) for t in m["tiles"])
    assert area(stage) > 2 * biggest, f"the speaker is not the largest on {where}"
    share = area(stage) / area(m["main"])
    assert share >= stage_share, f"the speaker takes {share:.0%} of the circle on {where}"
    below = all(t["y"] >= stage["y"] + stage["h"] for t in m["tiles"])
    assert below, f"the others are not under the speaker on {where}"


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
        sam.shot("phone-circle-two")

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


class Circle:
    """A room whose facilitator (on a laptop) lets people in, one page each."""

    def __init__(self, browser: Browser, hearth: Node) -> None:
        self.browser = browser
        self.room = make_room(hearth.url, hearth.auth)
        self.fay = open_link(browser, self.room.facilitator_url, "Fay", viewport=LAPTOP)
        self.people = [self.fay]
        join(self.fay)
        expect(self.fay.page.locator("#screen-circle")).to_be_visible()

    def let_in(
        self,
        name: str,
        viewport: dict[str, int] = DESKTOP,
        *,
        quiet: bool = False,
        camera_off: bool = False,
    ) -> Person:
        guest = open_link(self.browser, self.room.invite_url, name, viewport=viewport)
        self.people.append(guest)
        # A camera off, and with `quiet` no video received either: a tile all the same,
        # and a load that eight pages on a small machine can carry.
        if quiet or camera_off:
            guest.page.check("#audio-only")
        if quiet:
            guest.page.check("#receive-no-video")
        join(guest)
        expect(guest.page.locator("#screen-lobby")).to_be_visible()
        admit(self.fay, guest)
        return guest

    def start_round(self) -> None:
        self.fay.page.fill("#round-minutes", "3")
        self.fay.page.click("#start-round")


# Six and seven real pages with cameras on a 2-core machine: past the default 120 s under load.
@pytest.mark.timeout(300)
def test_six_people_on_a_laptop_and_a_phone(browser: Browser, hearth: Node) -> None:
    circle = Circle(browser, hearth)
    fay = circle.fay
    try:
        ann = circle.let_in("Ann", LAPTOP)
        check_gallery(ann, 2, "two people", share=0.5)
        ann.shot("stage-two")

        bob = circle.let_in("Bob", camera_off=True)
        sam = circle.let_in("Sam", PHONE)  # third in the circle: his turn follows Ann's and Bob's
        circle.let_in("Cy", quiet=True)
        circle.let_in("Dee", quiet=True)
        # Out of a round: a gallery, no empty stage, "Open conversation" said once.
        expect(ann.page.locator("#round-line")).to_have_text("Open conversation")
        expect(ann.page.get_by_text("Open conversation")).to_have_count(1)
        check_gallery(ann, 6, "six, open conversation", share=0.5)
        check_gallery(fay, 6, "six, the facilitator's panel beside", share=0.5)
        check_gallery(sam, 6, "six, open conversation", share=0.5)
        ann.shot("stage-gallery")
        sam.shot("stage-phone-gallery")

        circle.start_round()
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(bob.page.locator("#turn-banner")).to_contain_text("You're next")
        check_round(bob, 6, "six, a round", stage_share=0.4)
        check_round(fay, 6, "six, a round, the facilitator", stage_share=0.4)
        check_round(ann, 6, "six, a round, the speaker", stage_share=0.35)
        check_round(sam, 6, "six, a round, listening", stage_share=0.3)
        bob.shot("stage-member")
        fay.shot("stage-facilitator")
        sam.shot("stage-phone-listening")

        assert_clean(*circle.people)
    finally:
        close(*circle.people)


# Six and seven real pages with cameras on a 2-core machine: past the default 120 s under load.
@pytest.mark.timeout(300)
def test_seven_people_on_a_laptop_and_a_phone(browser: Browser, hearth: Node) -> None:
    circle = Circle(browser, hearth)
    try:
        sam = circle.let_in("Sam", PHONE)  # first in the circle: the round opens with his turn
        ann = circle.let_in("Ann", LAPTOP)
        for name in ("Bob", "Cy", "Dee", "Eve"):
            circle.let_in(name, quiet=True)
        check_gallery(ann, 7, "seven, open conversation", share=0.5)
        check_gallery(sam, 7, "seven, open conversation", share=0.45)
        ann.shot("stage-gallery-seven")
        sam.shot("stage-phone-gallery-seven")

        circle.start_round()
        expect(sam.page.locator("#pass-button")).to_be_visible()
        # The phone's tightest screen: the banner, the stage, Pass and Finish, the others.
        check_round(sam, 7, "seven, a round, your turn", stage_share=0.2)
        bar = sam.page.locator(".controls").bounding_box()
        assert bar is not None
        for button in ("#pass-button", "#done-button"):
            box = sam.page.locator(button).bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= bar["y"], f"{button} under the control bar"
        check_round(ann, 7, "seven, a round, listening", stage_share=0.4)
        sam.shot("phone-circle")
        ann.shot("stage-seven-listening")
        assert_clean(*circle.people)
    finally:
        close(*circle.people)


def refresh_readme_screenshots() -> None:
    """Copy this module's shots of the stage to docs/screenshots/ (the README's pictures):
    `.venv/bin/python -c "from tests.integration.browser.test_layout import *;
    refresh_readme_screenshots()"` after a run."""
    docs = ROOT / "docs" / "screenshots"
    for shot, name in (
        ("stage-member", "circle-member"),
        ("stage-facilitator", "circle-facilitator"),
        ("phone-circle", "phone-circle"),
    ):
        shutil.copyfile(ARTIFACTS / f"{shot}.png", docs / f"{name}.png")
