"""Media between three real browsers: the mesh connects everyone, and bandwidth follows the
circle (the speaker sends full quality, listeners thumbnails).

The numbers come from each page's own RTCPeerConnection.getStats(), through the `?test`
hook: video frames decoded and audio packets received must rise for every ordered pair, and
the speaker's outgoing video bitrate must be well above each listener's.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    Person,
    assert_clean,
    close,
    everyone_in,
    make_room,
    wait_until,
)
from tests.integration.nodes import Node

WINDOW_SECONDS = 3.0


def sample(people: list[Person]) -> dict[str, dict[str, dict[str, Any]]]:
    return {p.me(): p.stats() for p in people}


DESCRIBE = """() => {
  const out = {};
  for (const [id, p] of hearthTest.app.mesh.peers) out[id] = {
    conn: p.pc.connectionState, sig: p.pc.signalingState, ice: p.pc.iceConnectionState,
    polite: p.polite, remotePc: p.remotePc,
    tx: p.pc.getTransceivers().map(t => [t.mid, t.direction, t.currentDirection,
        t.sender.track && t.sender.track.kind, t.receiver.track.kind]),
  };
  return out;
}"""


def describe(people: list[Person]) -> str:
    return "\n".join(
        f"{p.name} {p.me()}: {p.js(DESCRIBE)}\n  " + "\n  ".join(p.js("hearthTest.app.mesh.trace"))
        for p in people
    )


def flowing(before: dict[str, Any], after: dict[str, Any], ids: list[str]) -> list[str]:
    """What is not yet flowing: `to<-from kind` for every pair whose counter did not rise."""
    stuck = []
    for me in ids:
        for other in ids:
            if other == me:
                continue
            a, b = before[me].get(other, {}), after[me].get(other, {})
            if b.get("framesDecoded", 0) <= a.get("framesDecoded", 0):
                stuck.append(f"{me}<-{other} video")
            if b.get("audioPackets", 0) <= a.get("audioPackets", 0):
                stuck.append(f"{me}<-{other} audio")
    return stuck


def video_kbps(before: dict[str, Any], after: dict[str, Any], me: str, seconds: float) -> float:
    """`me`'s outgoing video rate, per peer, averaged over its peers."""
    peers = [p for p in after[me] if p in before[me]]
    sent = sum(after[me][p]["videoBytesSent"] - before[me][p]["videoBytesSent"] for p in peers)
    return sent * 8 / 1000 / seconds / max(1, len(peers))


def test_media_flows_and_follows_the_talking_piece(browser: Browser, hearth: Node) -> None:
    room = make_room(hearth.url, hearth.auth)
    fay, (ann, bob) = everyone_in(browser, room, "Fay", "Ann", "Bob")
    people = [fay, ann, bob]
    ids = [p.me() for p in people]
    try:
        # Everyone is connected to everyone else.
        wait_until(
            lambda: all(
                sorted(p.js("hearthTest.peers()")) == sorted(i for i in ids if i != p.me())
                for p in people
            ),
            what="a peer connection to each other person",
        )

        # Ann holds the talking piece: she sends full quality, the others thumbnails.
        fay.page.fill("#round-minutes", "5")
        fay.page.click("#start-round")
        expect(ann.page.locator("#pass-button")).to_be_visible()

        stuck: list[str] = []

        def all_flowing() -> bool:
            before = sample(people)
            time.sleep(1.5)
            stuck[:] = flowing(before, sample(people), ids)
            return not stuck

        wait_until(
            all_flowing,
            timeout=30,
            every=0.1,
            what=lambda: f"media both ways: {stuck} {describe(people)}",
        )

        # The encoder ramps up over a few seconds; wait (bounded) for the speaker to pull
        # clearly ahead, measuring over a fresh window each time.
        rates: dict[str, float] = {}

        def speaker_ahead() -> bool:
            before = sample(people)
            time.sleep(WINDOW_SECONDS)
            after = sample(people)
            assert not flowing(before, after, ids), flowing(before, after, ids)
            rates.clear()
            rates.update(
                {p.name: video_kbps(before, after, p.me(), WINDOW_SECONDS) for p in people}
            )
            return rates["Ann"] > 3 * max(rates["Fay"], rates["Bob"])

        wait_until(speaker_ahead, timeout=45, every=0.1, what=lambda: f"the speaker ahead: {rates}")
        # Listeners still send their thumbnails.
        assert rates["Fay"] > 5, rates
        assert rates["Bob"] > 5, rates

        expect(bob.page.locator("#stage .stage-video")).to_be_visible()
        bob.shot("circle-member")
        fay.shot("circle-facilitator")

        # The piece moves on: now Bob sends full quality and Ann a thumbnail.
        ann.page.click("#done-button")
        expect(bob.page.locator("#pass-button")).to_be_visible()

        def roles_swapped() -> bool:
            before = sample(people)
            time.sleep(WINDOW_SECONDS)
            after = sample(people)
            rates.clear()
            rates.update(
                {p.name: video_kbps(before, after, p.me(), WINDOW_SECONDS) for p in people}
            )
            return rates["Bob"] > 3 * rates["Ann"]

        wait_until(roles_swapped, timeout=45, every=0.1, what=lambda: f"Bob ahead of Ann: {rates}")
        assert_clean(*people)
    finally:
        close(*people)
