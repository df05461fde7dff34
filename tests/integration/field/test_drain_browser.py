"""Draining a node under real browsers, as a host upgrades mid-meeting.

The production shape (`site`: Chromium -> Caddy over TLS -> two nodes on one Redis, media
only through coturn): Fay opens the facilitator link, Ann and Bob the invite link and are let
in; a sharing round runs with Ann holding the piece; audio and video flow every way. Which
node holds each page's socket is read from the nodes' /metrics connection counts as each
page joins. Then Ann sends a chat line and, before it can be answered, the node holding
Ann's socket gets SIGTERM. Each page it held is back in its seat (same member id) within a
few seconds, on the other node; no page shows the "reconnecting" banner for more than about
two seconds (every change of the banner is recorded in the page); Ann still holds the piece
(the same turn); media keeps flowing both ways on every link (inbound-rtp bytes grow after
the move); the chat line is shown exactly once on every page; the surviving node refused
no signal (`not_allowed`). Screenshots after the move: desktop, and a 360 px phone.
"""

from __future__ import annotations

import re
import signal
import time
import urllib.request
from typing import Any

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    PHONE,
    Person,
    admit,
    assert_clean,
    close,
    join,
    wait_until,
)
from tests.integration.field.conftest import Site, open_https
from tests.integration.field.test_production_shape import connected_by_relay, diagnosis, paths
from tests.integration.nodes import Node

BACK_WITHIN = 5.0  # seconds from SIGTERM until every moved page is in its seat again
BANNER_AT_MOST = 2.0  # the longest the "reconnecting" banner may show on any page
EXIT_WITHIN = 15.0  # the default drain bound (10 s) and an interpreter's goodbye
LINE = "One more thing before we go on."

# Every change of the status banner, with the page's clock, from now on: the page records
# them itself, so a short flash between two polls is not missed.
WATCH_BANNER = """() => {
  const el = document.getElementById("status-banner");
  const warning = () => !el.hidden && el.classList.contains("warning");
  const log = [[performance.now(), warning(), el.textContent]];
  new MutationObserver(() => {
    const now = warning();
    if (now !== log[log.length - 1][1]) log.push([performance.now(), now, el.textContent]);
  }).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
  window.hearthBannerLog = log;
}"""

# The longest stretch the warning banner was shown, in seconds, up to now.
LONGEST_WARNING = """() => {
  const log = window.hearthBannerLog;
  let longest = 0;
  let since = null;
  for (const [at, shown] of [...log, [performance.now(), false]]) {
    if (shown && since === null) since = at;
    if (!shown && since !== null) {
      longest = Math.max(longest, at - since);
      since = null;
    }
  }
  return { longest: longest / 1000, texts: log.map((x) => x[2]) };
}"""

# Each welcome's seq and the newest event seq before it, as the page received them.
WATCH_SEQS = """() => {
  const s = hearthTest.session;
  const receive = s.receive.bind(s);
  const log = (window.hearthSeqLog = { top: s.seq, welcomes: [] });
  s.receive = (frame) => {
    if (frame.t === "welcome") log.welcomes.push([frame.seq, log.top, frame.resumed]);
    if (frame.t === "event") log.top = Math.max(log.top, frame.seq);
    return receive(frame);
  };
}"""

# The resumes that asked for events from before the newest one the page had seen.
RESUMED_BEHIND = (
    """window.hearthSeqLog.welcomes.filter(([seq, top, resumed]) => resumed && seq < top)"""
)

ROUND = "(() => { const r = hearthTest.view().state.round; return r && [r.speaker, r.turn_id]; })()"

# No proxy: /metrics is asked of each loopback node directly.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def metric(node: Node, pattern: str) -> int:
    """A number from `node`'s /metrics (0 when the line is absent, as an unused label is)."""
    with _OPENER.open(f"{node.url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = re.search(rf"^{pattern} (\d+(?:\.\d+)?)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def sockets(site: Site) -> list[int]:
    return [metric(node, "hearth_connections") for node in site.nodes]


def seated(site: Site, person: Person, before: list[int]) -> int:
    """The index of the node that took `person`'s socket: the one whose count went up."""

    def one_more() -> list[int] | None:
        now = sockets(site)
        return now if sum(now) == sum(before) + 1 else None

    after = wait_until(
        one_more,
        timeout=10,
        what=lambda: f"{person.name}'s socket on a node: {sockets(site)}",
    )
    [index] = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if a == b + 1]
    return int(index)


def media_rising(people: list[Person], floor: dict[str, dict[str, Any]] | None = None) -> bool:
    """Audio and video bytes received grow on every link of every page (and passed `floor`,
    each link's bytes at some earlier moment)."""
    before = {p.name: paths(p) for p in people}
    time.sleep(1.5)
    after = {p.name: paths(p) for p in people}
    base = floor or before
    return all(
        after[name].get(peer, {}).get(kind, 0) > before[name][peer][kind] > 0
        and after[name][peer][kind] > base[name].get(peer, {}).get(kind, 0)
        for name in before
        for peer in before[name]
        for kind in ("audio", "video")
    )


def chat_lines(person: Person) -> list[str]:
    return list(person.page.locator(".chat-log .chat-text").all_inner_texts())


def test_a_drained_node_hands_its_pages_to_the_other_mid_round(
    browser: Browser, site: Site
) -> None:
    room = site.room()
    fay = open_https(browser, room.facilitator_url, "Fay")
    ann = open_https(browser, room.invite_url, "Ann")
    bob = open_https(browser, room.invite_url, "Bob")
    people = [fay, ann, bob]
    opened: dict[str, list[str]] = {p.name: [] for p in people}
    for person in people:
        person.page.on("websocket", lambda ws, name=person.name: opened[name].append(ws.url))
    try:
        node_of: dict[str, int] = {}
        counts = sockets(site)
        join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        node_of["Fay"] = seated(site, fay, counts)
        for guest in (ann, bob):
            counts = sockets(site)
            join(guest)
            expect(guest.page.locator("#screen-lobby")).to_be_visible()
            node_of[guest.name] = seated(site, guest, counts)
            admit(fay, guest)
        expect(ann.page.locator("#tiles .tile")).to_have_count(3)
        print(f"sockets by node: {node_of}")

        fay.page.fill("#round-minutes", "3")
        fay.page.click("#start-round")
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(fay.page.locator("#round-now")).to_contain_text("Now: Ann")
        speaker, turn = fay.js(ROUND)
        assert speaker == ann.me()
        wait_until(
            lambda: all(connected_by_relay(p) for p in people),
            timeout=30,
            what=lambda: f"a relay pair on every link: {diagnosis(people)}",
        )
        wait_until(
            lambda: media_rising(people),
            timeout=30,
            every=0.1,
            what=lambda: f"media bytes rising: {[paths(p) for p in people]}",
        )
        seats = {p.name: p.me() for p in people}
        drained = site.nodes[node_of["Ann"]]
        survivor = site.nodes[1 - node_of["Ann"]]
        moving = [p for p in people if node_of[p.name] == node_of["Ann"]]
        refused_before = metric(survivor, 'hearth_errors_total{code="not_allowed"}')
        bytes_before = {p.name: paths(p) for p in people}
        for person in people:
            person.js(WATCH_BANNER)
            person.js(WATCH_SEQS)

        # Ann's line leaves her page, and her node is told to drain before it is answered.
        ann.page.fill("#chat-input", LINE)
        ann.page.click("#chat-send")
        drained_at = time.monotonic()
        drained.proc.send_signal(signal.SIGTERM)

        # Every page the node held is back in its seat, on the other node, within seconds.
        def back() -> bool:
            # The page is asked first: Playwright hands over its `websocket` events only
            # while a call is under way.
            return all(
                p.js("hearthTest.status()") == "open" and len(opened[p.name]) == 2 for p in moving
            )

        wait_until(
            back,
            timeout=BACK_WITHIN,
            every=0.05,
            what=lambda: (
                f"{[(p.name, opened[p.name], p.js('hearthTest.status()')) for p in moving]}"
            ),
        )
        took = time.monotonic() - drained_at
        for person in people:
            assert person.me() == seats[person.name]
            expect(person.page.locator("#screen-circle")).to_be_visible()
        assert all(len(opened[p.name]) == 1 for p in people if p not in moving), opened
        assert metric(survivor, "hearth_connections") == len(people)
        assert drained.proc.wait(EXIT_WITHIN) == 0, drained.log_text()[-3000:]

        # The piece stayed with Ann: the same turn, on every page.
        for person in people:
            assert person.js(ROUND) == [speaker, turn], person.name
        expect(ann.page.locator("#pass-button")).to_be_visible()
        expect(fay.page.locator("#round-now")).to_contain_text("Now: Ann")

        # The line reached every page.
        for person in people:
            expect(person.page.locator(".chat-log")).to_contain_text(LINE)

        # Media flows on every link after the move, and past where it stood before it.
        wait_until(
            lambda: media_rising(people, bytes_before),
            timeout=30,
            every=0.1,
            what=lambda: f"media bytes rising after the move: {[paths(p) for p in people]}",
        )

        # No page showed the reconnecting banner for more than a moment.
        banners = {p.name: p.js(LONGEST_WARNING) for p in people}
        assert all(b["longest"] <= BANNER_AT_MOST for b in banners.values()), banners
        assert metric(survivor, 'hearth_errors_total{code="not_allowed"}') == refused_before

        ann.shot("drain-moved-speaker")
        fay.shot("drain-moved-facilitator")
        bob.page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        expect(bob.page.locator("#screen-circle")).to_be_visible()
        bob.shot("drain-moved-phone")
        assert_clean(*people)
        print(f"moved {[p.name for p in moving]} in {took:.2f} s; banners {banners}")

        # The line is shown once on every page: neither lost nor doubled by the resend.
        time.sleep(1.0)  # a doubled line would come with the resent request's answer
        shown = {p.name: chat_lines(p).count(LINE) for p in people}
        behind = {p.name: p.js(RESUMED_BEHIND) for p in moving}
        # A page resumes from the last seq it saw, never an older one (which would replay
        # and apply again the events since its last welcome), and shows each line once.
        assert not any(behind.values()), behind
        assert shown == {p.name: 1 for p in people}, (shown, behind)
    finally:
        close(*people)
