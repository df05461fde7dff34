"""A meeting in the shape hosts run: Chromium -> Caddy (https, wss) -> two nodes on one Redis,
media only through coturn (`HEARTH_ICE_POLICY=relay`).

Fay opens the facilitator link and Ann the invite link the node printed (Caddy's https
address); Ann is let in. Then, from each page's own RTCPeerConnection.getStats() (through the
`?test` hook): the selected candidate pair's local and remote candidates are both `relay`,
no other kind of candidate was ever gathered or received (so neither browser learned the
other's address), and audio and video bytes received keep growing. The signaling sockets
went to Caddy over wss, and both arrived at the nodes behind it.
"""

from __future__ import annotations

import re
import time
import urllib.request
from typing import Any

from playwright.sync_api import Browser, expect

from tests.integration.browser.people import (
    Person,
    admit,
    assert_clean,
    close,
    join,
    wait_until,
)
from tests.integration.field.conftest import Site, open_https

# Per remote member: the selected pair's candidate types, every candidate type seen, and the
# bytes received per kind. `transport.selectedCandidatePairId` is the spec's way to the
# nominated pair in use.
PATHS = """async () => {
  const out = {};
  for (const [id, peer] of hearthTest.app.mesh.peers) {
    const report = await peer.pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pair = null;
    report.forEach((s) => {
      const chosen = s.type === "transport" && s.selectedCandidatePairId;
      if (chosen) pair = byId.get(chosen);
    });
    const local = pair ? byId.get(pair.localCandidateId) : null;
    const remote = pair ? byId.get(pair.remoteCandidateId) : null;
    const seen = new Set();
    const bytes = { audio: 0, video: 0 };
    report.forEach((s) => {
      const candidate = s.type === "local-candidate" || s.type === "remote-candidate";
      if (candidate) seen.add(`${s.type} ${s.candidateType}`);
      if (s.type === "inbound-rtp") bytes[s.kind] += s.bytesReceived || 0;
    });
    out[id] = {
      state: peer.pc.connectionState,
      policy: peer.pc.getConfiguration().iceTransportPolicy,
      nominated: pair ? !!pair.nominated : false,
      local: local ? local.candidateType : null,
      remote: remote ? remote.candidateType : null,
      seen: [...seen].sort(),
      audio: bytes.audio,
      video: bytes.video,
    };
  }
  return out;
}"""

RELAY_ONLY = ["local-candidate relay", "remote-candidate relay"]
# No proxy: /metrics is asked of each loopback node directly.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def paths(person: Person) -> dict[str, dict[str, Any]]:
    return dict(person.js(PATHS))


def connected_by_relay(person: Person) -> bool:
    rows = paths(person).values()
    return bool(rows) and all(
        r["state"] == "connected" and r["local"] == "relay" and r["remote"] == "relay" for r in rows
    )


def diagnosis(people: list[Person]) -> str:
    """Each page's peers and the mesh's last negotiation steps (no SDP, no addresses)."""
    return "\n".join(
        f"{p.name} {p.me()}: {paths(p)} signaling "
        f"{p.js('[...hearthTest.app.mesh.peers.values()].map((x) => x.pc.signalingState)')}"
        f"\n  " + "\n  ".join(p.js("hearthTest.app.mesh.trace"))
        for p in people
    )


def open_connections(site: Site) -> int:
    """Open WebSockets on all nodes, from each node's /metrics (asked directly, not via Caddy)."""
    total = 0
    for node in site.nodes:
        with _OPENER.open(f"{node.url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        found = re.search(r"^hearth_connections (\d+(?:\.\d+)?)$", text, re.MULTILINE)
        assert found, text[:500]
        total += int(float(found.group(1)))
    return total


def test_a_relay_only_meeting_through_caddy_and_two_nodes(browser: Browser, site: Site) -> None:
    room = site.room()
    sockets: list[str] = []

    def watch(person: Person) -> None:
        person.page.on("websocket", lambda ws: sockets.append(ws.url))

    fay = open_https(browser, room.facilitator_url, "Fay")
    ann = open_https(browser, room.invite_url, "Ann")
    people = [fay, ann]
    try:
        for person in people:
            watch(person)
            assert person.page.url.startswith(f"{site.caddy.url}/r/{room.id}")
            assert person.js("isSecureContext") is True
        join(fay)
        expect(fay.page.locator("#screen-circle")).to_be_visible()
        join(ann)
        expect(ann.page.locator("#screen-lobby")).to_be_visible()
        admit(fay, ann)

        # The signaling went through Caddy, over TLS, and reached the nodes behind it.
        assert sockets, "no WebSocket opened"
        assert all(url == site.caddy.ws_url for url in sockets), sockets
        for person in people:
            assert person.js("hearthTest.session.ws.url") == site.caddy.ws_url
            assert person.js("hearthTest.session.icePolicy") == "relay"
        wait_until(
            lambda: open_connections(site) == len(people),
            timeout=10,
            what=lambda: f"one open WebSocket per person on the nodes: {open_connections(site)}",
        )

        # Both ends connected, on a pair of relay candidates, and never saw another kind.
        wait_until(
            lambda: all(connected_by_relay(p) for p in people),
            timeout=30,
            what=lambda: f"a relay pair each way: {diagnosis(people)}",
        )
        for person in people:
            for row in paths(person).values():
                assert row["policy"] == "relay", row
                assert row["nominated"], row
                assert row["seen"] == RELAY_ONLY, row

        # Audio and video arrive both ways, and keep arriving.
        def growing() -> bool:
            before = {p.name: paths(p) for p in people}
            time.sleep(1.5)
            after = {p.name: paths(p) for p in people}
            return all(
                after[name][peer][kind] > before[name][peer][kind] > 0
                for name in before
                for peer in before[name]
                for kind in ("audio", "video")
            )

        wait_until(
            growing,
            timeout=30,
            every=0.1,
            what=lambda: f"media bytes rising: {[paths(p) for p in people]}",
        )

        expect(fay.page.locator("#screen-circle")).to_be_visible()
        fay.shot("field-facilitator")
        ann.shot("field-member")
        assert_clean(*people)
    finally:
        close(*people)
