"""TURN credentials from `ice_servers()` against a real coturn (`tests/coturn.py`), and the
join page's connection check relayed through it.

What a member's browser gets in `welcome.ice` must open a relay on the host's coturn, over
UDP and over TCP, and the relay must carry data both ways; a credential whose HMAC was not
made with the shared secret, or whose expiry has passed, must be refused (401), so a leaked
or forged one is worth nothing. The same holds over TLS ("turns:", what a member behind a
firewall that lets only 443/TLS out depends on): coturn with a certificate from a throwaway CA
relays for a client that trusts the CA, and a client that does not trust it stops at the
certificate. The TURN client is aioice's, the one aiortc uses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from server.echo import CHECK_PAGE_MEMBER, CHECK_TURN_TTL_SECONDS
from server.settings import IceServer, Settings, ice_servers
from server.turn_probe import Attempt, parse_ice_url, try_allocation
from tests import coturn
from tests.coturn import Coturn, make_ca
from tests.integration.nodes import NodeFactory
from tests.tools import missing_tool

SECRET = "a-test-secret-for-coturn-only"
SECONDS = 10.0


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path_factory.mktemp("coturn"), SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def turn_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path_factory.mktemp("coturn-tls"), SECRET, tls=True) as server:
        yield server


def trusting(ca_path: Path | None) -> ssl.SSLContext:
    """A client's TLS context that trusts only `ca_path` (as a browser trusts public CAs)."""
    assert ca_path is not None
    return ssl.create_default_context(cafile=str(ca_path))


def tls_credential_for(turn: Coturn, now: float) -> IceServer:
    settings = Settings(turn_urls=(turn.url_tls,), turn_secret=turn.secret)
    (server,) = ice_servers(settings, now, "m1")
    assert server["urls"] == [turn.url_tls]
    return server


def credential_for(turn: Coturn, now: float, member: str = "m1") -> IceServer:
    settings = Settings(turn_urls=(turn.url_udp, turn.url_tcp), turn_secret=turn.secret)
    servers = ice_servers(settings, now, member)
    assert len(servers) == 1
    assert servers[0]["urls"] == [turn.url_udp, turn.url_tcp]
    return servers[0]


def pair(server: IceServer) -> tuple[str, str]:
    """The username and credential of a TURN entry."""
    username, credential = server["username"], server["credential"]
    assert isinstance(username, str)
    assert isinstance(credential, str)
    return username, credential


class Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))


async def relay_round_trip(
    turn: Coturn, transport: str, server: IceServer, tls: ssl.SSLContext | None = None
) -> None:
    """Allocate with `server`'s credential (over TLS to coturn's TLS port when `tls` is
    given), send to a plain UDP peer through the relay, and get its reply back through it."""
    username, credential = pair(server)
    port = turn.port if tls is None else turn.tls_port
    assert port is not None
    relayed, inbox = await create_turn_endpoint(
        Inbox,
        server_addr=("127.0.0.1", port),
        username=username,
        password=credential,
        ssl=tls,
        transport=transport,
    )
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        relay_address = relayed.get_extra_info("sockname")
        assert relay_address[0] == "127.0.0.1"
        assert turn.min_relay_port <= relay_address[1] < turn.min_relay_port + coturn.RELAY_PORTS

        relayed.sendto(b"hello through the relay", peer.getsockname())
        loop = asyncio.get_running_loop()
        data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 1024), SECONDS)
        assert data == b"hello through the relay"
        assert source == relay_address  # it came from the relay, not from our socket

        await loop.sock_sendto(peer, b"and back", source)
        back, sender = await asyncio.wait_for(inbox.received.get(), SECONDS)
        assert back == b"and back"
        assert sender == peer.getsockname()
    finally:
        peer.close()
        relayed.close()
        await asyncio.sleep(0.1)  # let the allocation's delete go out before the loop ends


async def refusal_code(
    turn: Coturn, username: str, credential: str, tls: ssl.SSLContext | None = None
) -> int | None:
    port = turn.port if tls is None else turn.tls_port
    assert port is not None
    allocation = create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=("127.0.0.1", port),
        username=username,
        password=credential,
        ssl=tls,
        transport="udp" if tls is None else "tcp",
    )
    with pytest.raises(stun.TransactionFailed) as refused:
        await asyncio.wait_for(allocation, SECONDS)
    return refused.value.response.error_code


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_welcome_credential_relays_both_ways(turn: Coturn, transport: str) -> None:
    await relay_round_trip(turn, transport, credential_for(turn, time.time()))


async def test_a_forged_credential_is_refused(turn: Coturn) -> None:
    username, _ = pair(credential_for(turn, time.time()))
    digest = hmac.new(b"not-the-secret", username.encode(), hashlib.sha1).digest()
    assert await refusal_code(turn, username, base64.b64encode(digest).decode()) == 401


async def test_a_credential_cannot_be_stretched(turn: Coturn) -> None:
    # The expiry is inside the signed username: pushing it later breaks the HMAC.
    username, credential = pair(credential_for(turn, time.time()))
    expiry, member = username.split(":", 1)
    stretched = f"{int(expiry) + 86400}:{member}"
    assert await refusal_code(turn, stretched, credential) == 401


async def test_an_expired_credential_is_refused(turn: Coturn) -> None:
    ttl = Settings().turn_ttl_seconds
    # Made as if an hour and a minute ago: it expired a minute ago.
    username, credential = pair(credential_for(turn, time.time() - ttl - 60))
    assert int(username.split(":")[0]) < time.time()
    assert await refusal_code(turn, username, credential) == 401
    # The same member a moment later, with a fresh credential, gets through.
    await relay_round_trip(turn, "udp", credential_for(turn, time.time()))


# --- TURN over TLS ("turns:") ---


async def test_a_welcome_credential_relays_over_tls_to_a_client_trusting_the_ca(
    turn_tls: Coturn, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = tls_credential_for(turn_tls, time.time())
    await relay_round_trip(turn_tls, "tcp", server, tls=trusting(turn_tls.ca_path))
    # The probe `hearth check` runs uses ssl.create_default_context(): OpenSSL's default
    # verify paths, which SSL_CERT_FILE replaces, so a host's own CA bundle is honoured.
    monkeypatch.setenv("SSL_CERT_FILE", str(turn_tls.ca_path))
    username, credential = pair(server)
    attempt = await try_allocation(parse_ice_url(turn_tls.url_tls), username, credential, 5.0)
    assert attempt == Attempt("allocated")


async def test_tls_stops_at_the_certificate_when_the_client_does_not_trust_the_ca(
    turn_tls: Coturn, tmp_path: Path
) -> None:
    other_ca, _, _ = make_ca(tmp_path / "other-ca", "Some other CA")
    username, credential = pair(tls_credential_for(turn_tls, time.time()))
    assert turn_tls.tls_port is not None
    allocation = create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=("127.0.0.1", turn_tls.tls_port),
        username=username,
        password=credential,
        ssl=trusting(other_ca),
        transport="tcp",
    )
    with pytest.raises(ssl.SSLCertVerificationError) as failed:
        await asyncio.wait_for(allocation, SECONDS)
    # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: the certificate itself is fine, its CA
    # is simply not one this client trusts.
    assert failed.value.verify_code == 20, failed.value.verify_message
    # The probe (`hearth check`) trusts the system's CAs, which do not include the test CA.
    attempt = await try_allocation(parse_ice_url(turn_tls.url_tls), username, credential, 5.0)
    assert attempt == Attempt("tls_untrusted", 20)


async def test_a_forged_credential_is_refused_over_tls_too(turn_tls: Coturn) -> None:
    username, _ = pair(tls_credential_for(turn_tls, time.time()))
    digest = hmac.new(b"not-the-secret", username.encode(), hashlib.sha1).digest()
    forged = base64.b64encode(digest).decode()
    code = await refusal_code(turn_tls, username, forged, tls=trusting(turn_tls.ca_path))
    assert code == 401


def test_the_secret_stays_out_of_the_fixture_command_line(turn: Coturn) -> None:
    assert turn.process is not None
    cmdline = Path(f"/proc/{turn.process.pid}/cmdline").read_bytes()
    assert SECRET.encode() not in cmdline


# --- the pre-join connection check through TURN ---


async def test_the_join_page_check_runs_through_the_hosts_turn(
    turn: Coturn, node_factory: NodeFactory
) -> None:
    """A valid link's preview carries the host's TURN with a short-lived credential and the
    host's policy; a peer that may only relay (as a browser behind a strict NAT must)
    completes the connection check through coturn with it."""
    node = node_factory(
        env={
            "HEARTH_TURN_URLS": turn.url_udp,
            "HEARTH_TURN_SECRET": SECRET,
            "HEARTH_ICE_POLICY": "relay",
        }
    )
    async with httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=10) as api:
        made = await api.post("/api/rooms", headers=node.auth, json={"name": "Relay circle"})
        assert made.status_code == 201, made.text
        preview = await api.post(
            "/api/preview", json={"room": made.json()["id"], "token": made.json()["invite"]}
        )
        assert preview.status_code == 200, preview.text
        body = preview.json()
        assert body["ice_policy"] == "relay"
        (server,) = body["ice"]
        assert server["urls"] == [turn.url_udp]
        username, credential = pair(server)
        expiry_text, member = username.split(":")
        assert member == CHECK_PAGE_MEMBER
        expiry = int(expiry_text)
        assert time.time() < expiry <= time.time() + CHECK_TURN_TTL_SECONDS + 1
        assert SECRET not in preview.text

        pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[
                    RTCIceServer(urls=server["urls"], username=username, credential=credential)
                ],
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
            )
        )
        try:
            channel = pc.createDataChannel("check", ordered=False, maxRetransmits=0)
            echoes: asyncio.Queue[str] = asyncio.Queue()
            channel.on("message", echoes.put_nowait)
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription
            candidates = [
                line for line in offer.sdp.splitlines() if line.startswith("a=candidate:")
            ]
            assert candidates, "the relay-only peer gathered nothing from coturn"
            assert all(" typ relay " in line for line in candidates)

            answer = await api.post("/api/check", json={"sdp": offer.sdp, "type": "offer"})
            assert answer.status_code == 200, answer.text
            await pc.setRemoteDescription(RTCSessionDescription(answer.json()["sdp"], "answer"))
            async with asyncio.timeout(SECONDS):
                while channel.readyState != "open":
                    await asyncio.sleep(0.05)
            channel.send('{"n": 1, "t": 0}')
            assert await asyncio.wait_for(echoes.get(), SECONDS) == '{"n": 1, "t": 0}'
        finally:
            await asyncio.wait_for(pc.close(), SECONDS)
