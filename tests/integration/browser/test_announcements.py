"""What screen readers hear, in real Chromium (issue 17): every text the polite announcer
(#announcer) is given is recorded on the page by a MutationObserver, so a test can say both
what was heard and what never was.

- "You're next." is heard when who is next changes without a turn (`next_changed`: the next
  person stepped away), not only on a `turn`.
- A member back through the link after their seat expired, let straight back in (the room's
  default), passes through the lobby in the same step: the facilitator hears "Ann joined the
  circle." and never "Ann is waiting to be let in." first.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    Person,
    assert_clean,
    close,
    everyone_in,
    make_room,
    wait_until,
)
from tests.integration.meeting import LOOSE_LIMITS
from tests.integration.nodes import Node, NodeFactory

LISTEN = """
(() => {
  window.heard = [];
  const region = document.getElementById("announcer");
  new MutationObserver(() => {
    if (region.textContent) window.heard.push(region.textContent);
  }).observe(region, { childList: true, characterData: true, subtree: true });
})();
"""


def listen(person: Person) -> None:
    person.js(LISTEN)


def heard(person: Person) -> list[str]:
    return [str(text) for text in person.js("window.heard")]


def test_you_are_next_is_heard_when_next_changes_without_a_turn(
    browser: Browser, hearth: Node
) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann, bob, cy) = everyone_in(browser, room, "Fay", "Ann", "Bob", "Cy")
    people = (fay, ann, bob, cy)
    try:
        for person in people:
            listen(person)
        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(bob.page.locator("#turn-banner")).to_contain_text("You're next")
        expect(cy.page.locator("#turn-banner")).to_be_hidden()
        # On the turn, Bob (next) hears it, a moment after the turn itself.
        wait_until(lambda: "You're next." in heard(bob), what=lambda: f"Bob heard {heard(bob)}")

        bob.page.click("#more-button")
        bob.page.click("#away-button")  # the next person steps away: Cy is next, no turn
        wait_until(lambda: cy.js("hearthTest.view().state.round.next") == cy.me(), what="Cy next")
        expect(cy.page.locator("#turn-banner")).to_contain_text("You're next")
        wait_until(lambda: "You're next." in heard(cy), what=lambda: f"Cy heard {heard(cy)}")
        assert heard(cy).count("You're next.") == 1
        assert heard(bob).count("You're next.") == 1, heard(bob)  # once, on the turn
        for other in (fay, ann):
            assert "You're next." not in heard(other), (other.name, heard(other))
        expect(ann.page.locator("#pass-button")).to_be_visible()  # the turn did not move
        assert_clean(*people)
    finally:
        close(*people)


def test_a_returner_let_straight_back_in_is_not_announced_as_waiting(
    browser: Browser, node_factory: NodeFactory
) -> None:
    node = node_factory(
        args=["--grace-seconds", "2"], env={**LOOSE_LIMITS, "HEARTH_CHECK_PEERS": "0"}
    )
    room = make_room(node.url, node.auth)
    fay, (ann,) = everyone_in(browser, room, "Fay", "Ann")
    try:
        before = ann.me()
        listen(fay)
        ann.js("hearthTest.drop(5000)")  # down past the 2 s grace: the seat expires
        expect(fay.page.locator("#people-list")).not_to_contain_text("Ann", timeout=10_000)
        wait_until(lambda: ann.js("hearthTest.status()") == "open", timeout=15, what="Ann back")
        expect(ann.page.locator("#screen-circle")).to_be_visible()
        assert ann.me() != before  # a new seat, through the link
        wait_until(
            lambda: "Ann joined the circle." in heard(fay),
            what=lambda: f"Fay heard {heard(fay)}",
        )
        # Past the moment a lobby arrival would have been said (app.js LOBBY_SETTLE_MS).
        fay.page.wait_for_timeout(1500)
        assert "Ann is waiting to be let in." not in heard(fay), heard(fay)
        assert_clean(fay, ann)
    finally:
        close(fay, ann)
