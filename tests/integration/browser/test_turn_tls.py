"""TURN over TLS in real Chromium: two pages that may only relay, through a `turns:` server only.

A member behind a firewall that lets nothing but TLS out reaches the others through
`turns:` alone. Here each page gets only the coturn fixture's `turns:` URL (with a credential
from `ice_servers()`) and `iceTransportPolicy: "relay"`, so a data channel between the pages
opens only through coturn over TLS; `getStats()` shows the relay candidate's protocol to the
TURN server is "tls".

Chromium checks the TURN server's certificate like a web site's (measured: with the test CA
untrusted, no allocation is made at all). It is told to accept exactly this coturn's
certificate with `--ignore-certificate-errors-spki-list` (its public key's SHA-256), which is
narrower than `--ignore-certificate-errors` (that one works for TURN too, and for everything
else). A browser without that flag is the control: it must fail to connect.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, sync_playwright

from server.settings import Settings, ice_servers
from tests import coturn
from tests.coturn import Coturn
from tests.integration.browser.conftest import CHROMIUM
from tests.integration.browser.people import CHROMIUM_ARGS
from tests.tools import missing_tool

SECRET = "browser-turn-tls-secret"
OPEN_MS = 15_000

# Page A offers, page B answers; both gather everything first (no trickle), so the SDP that
# crosses carries every relay candidate. Each returns what the other needs.
OFFER_JS = """async ([ice, waitMs]) => {
  window.pc = new RTCPeerConnection({iceServers: ice, iceTransportPolicy: "relay"});
  window.opened = new Promise((resolve) => {
    const channel = window.pc.createDataChannel("hello");
    channel.onopen = () => { channel.send("hello over turns"); resolve("open"); };
  });
  await window.pc.setLocalDescription();
  await new Promise((resolve) => {
    if (window.pc.iceGatheringState === "complete") return resolve();
    window.pc.onicegatheringstatechange = () =>
      window.pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, waitMs);
  });
  return window.pc.localDescription.sdp;
}"""

ANSWER_JS = """async ([ice, offer, waitMs]) => {
  window.pc = new RTCPeerConnection({iceServers: ice, iceTransportPolicy: "relay"});
  window.received = new Promise((resolve) => {
    window.pc.ondatachannel = (event) => { event.channel.onmessage = (m) => resolve(m.data); };
  });
  await window.pc.setRemoteDescription({type: "offer", sdp: offer});
  await window.pc.setLocalDescription();
  await new Promise((resolve) => {
    if (window.pc.iceGatheringState === "complete") return resolve();
    window.pc.onicegatheringstatechange = () =>
      window.pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, waitMs);
  });
  return window.pc.localDescription.sdp;
}"""

FINISH_JS = """async ([answer, waitMs]) => {
  await window.pc.setRemoteDescription({type: "answer", sdp: answer});
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), waitMs));
  return await Promise.race([window.opened, timeout]);
}"""

RECEIVED_JS = """async (waitMs) => {
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), waitMs));
  return await Promise.race([window.received, timeout]);
}"""

# The candidate pair in use: its local candidate's type and how it reaches the TURN server.
PAIR_JS = """async () => {
  const stats = await window.pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  return {type: local.candidateType, relayProtocol: local.relayProtocol};
}"""


@pytest.fixture(scope="module")
def turn_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path_factory.mktemp("coturn-tls"), SECRET, tls=True) as server:
        yield server


def spki_pin(certificate: Path) -> str:
    """What --ignore-certificate-errors-spki-list takes: base64 SHA-256 of the public key."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def only_turns(turn: Coturn) -> list[dict[str, Any]]:
    settings = Settings(turn_urls=(turn.url_tls,), turn_secret=turn.secret)
    (server,) = ice_servers(settings, time.time(), "browser-tls")
    assert server["urls"] == [turn.url_tls]
    return [dict(server)]


@contextlib.contextmanager
def chromium(*extra: str) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra], timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


def test_two_relay_only_pages_meet_through_turns_alone(turn_tls: Coturn) -> None:
    pin = spki_pin(turn_tls.directory / "turn-cert.pem")
    with chromium(f"--ignore-certificate-errors-spki-list={pin}") as browser:
        context = browser.new_context()
        try:
            a, b = context.new_page(), context.new_page()
            ice = only_turns(turn_tls)
            offer = a.evaluate(OFFER_JS, [ice, OPEN_MS])
            assert " typ relay " in offer, "no relay candidate over turns:"
            assert " typ host " not in offer
            answer = b.evaluate(ANSWER_JS, [ice, offer, OPEN_MS])
            assert a.evaluate(FINISH_JS, [answer, OPEN_MS]) == "open"
            assert b.evaluate(RECEIVED_JS, OPEN_MS) == "hello over turns"
            for page in (a, b):
                assert page.evaluate(PAIR_JS) == {"type": "relay", "relayProtocol": "tls"}
        finally:
            context.close()


def test_chromium_refuses_a_turns_server_whose_certificate_it_does_not_trust(
    turn_tls: Coturn,
) -> None:
    """The control: the same pages without the pin gather no relay candidate and never
    connect, so the test above passes because the certificate was checked and accepted."""
    with chromium() as browser:
        context = browser.new_context()
        try:
            a, b = context.new_page(), context.new_page()
            ice = only_turns(turn_tls)
            offer = a.evaluate(OFFER_JS, [ice, OPEN_MS])
            assert " typ relay " not in offer
            answer = b.evaluate(ANSWER_JS, [ice, offer, OPEN_MS])
            assert a.evaluate(FINISH_JS, [answer, 3_000]) == "timeout"
        finally:
            context.close()
