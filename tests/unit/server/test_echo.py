"""The echo peer in-process: offer checks, the per-address limit, the ICE configuration, its
settings, and the whole route through the app with real aiortc peers in one event loop (as
aiortc's own tests wire two peers), driven by httpx's ASGITransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcsessiondescription import RTCSessionDescription
from starlette.applications import Starlette

from server.app import create_app
from server.echo import (
    RATE_WINDOW_SECONDS,
    CheckRateLimit,
    CheckRefused,
    EchoService,
    read_offer,
    rtc_configuration,
)
from server.metrics import Metrics
from server.settings import Settings, SettingsError, load_settings
from tests.integration.check_client import CheckClient, metric, until


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth.test") as c:
            yield c


@pytest.fixture
async def clients() -> AsyncIterator[list[CheckClient]]:
    made: list[CheckClient] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.close(), 5)


@pytest.fixture
async def offer(clients: list[CheckClient]) -> str:
    clients.append(CheckClient.make(video=True))
    return (await clients[-1].offer())["sdp"]


# --- reading an offer ------------------------------------------------------------------


def body(sdp: object, kind: object = "offer") -> bytes:
    return json.dumps({"sdp": sdp, "type": kind}).encode()


def test_a_browser_style_offer_is_read(offer: str) -> None:
    assert read_offer(body(offer)) == offer


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "body"),
        (b"{", "body"),
        (b"[" * 100_000, "body"),  # nested past the recursion limit: still only "invalid"
        (b"null", "body"),
        (b'{"sdp": "x", "type": "offer", "extra": 1}', "body"),
        (b'{"sdp": "x", "type": "answer"}', "type"),
        (b'{"sdp": "x", "type": null}', "type"),
        (b'{"sdp": "", "type": "offer"}', "sdp"),
        (b'{"sdp": " \\r\\n", "type": "offer"}', "sdp"),
        (b'{"sdp": ["v=0"], "type": "offer"}', "sdp"),
        (b'{"sdp": "v=0\\r\\n", "type": "offer"}', "sdp"),
        (b'{"sdp": "m=audio nine UDP/TLS/RTP/SAVPF x\\r\\n", "type": "offer"}', "sdp"),
        (b'{"sdp": "m=text 9 RTP/AVP 0\\r\\n", "type": "offer"}', "sdp"),
    ],
)
def test_bad_bodies_are_invalid_naming_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(CheckRefused) as refused:
        read_offer(raw)
    assert (refused.value.status, refused.value.error) == (400, "invalid")
    assert refused.value.outcome == "invalid"
    assert refused.value.message is not None
    assert refused.value.message.startswith(field + ":")


def test_offers_echo_cannot_serve_are_invalid(offer: str) -> None:
    audio = offer[offer.index("m=audio") : offer.index("m=video")]
    for sdp in (
        offer + audio,  # a second audio section
        offer.replace("a=sendrecv", "a=sendonly", 1),  # nothing would read the echo
        offer.replace("a=sendrecv", "a=inactive", 1),
    ):
        with pytest.raises(CheckRefused) as refused:
            read_offer(body(sdp))
        assert refused.value.message is not None
        assert refused.value.message.startswith("sdp:")


# --- the per-address limit --------------------------------------------------------------


def test_the_rate_limit_counts_per_address_in_a_sliding_minute() -> None:
    limit = CheckRateLimit(per_minute=2)
    assert limit.allow("a", 0.0) is None
    assert limit.allow("a", 10.0) is None
    assert limit.allow("a", 20.0) == pytest.approx(RATE_WINDOW_SECONDS - 20.0)
    assert limit.allow("b", 20.0) is None  # another address is another allowance
    assert limit.allow("a", 59.0) == pytest.approx(1.0)  # refusals are not counted
    assert limit.allow("a", 60.5) is None  # the first start left the window
    assert limit.allow("a", 61.0) is not None


def test_idle_addresses_are_forgotten() -> None:
    limit = CheckRateLimit(per_minute=6)
    for n in range(100):
        limit.allow(f"10.0.0.{n}", 0.0)
    assert limit.tracked() == 100
    limit.allow("10.0.1.1", RATE_WINDOW_SECONDS + 1)  # the first call past a window sweeps
    assert limit.tracked() == 1


# --- configuration ----------------------------------------------------------------------


def test_no_ice_servers_means_an_empty_list_not_aiortcs_public_default() -> None:
    assert rtc_configuration(Settings(), 0.0).iceServers == []


def test_the_hosts_stun_and_turn_servers_are_used() -> None:
    settings = Settings(
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478",),
        turn_secret="s3cret",
    )
    stun, turn = rtc_configuration(settings, 1000.0).iceServers or []
    assert stun.urls == ["stun:stun.example.org:3478"]
    assert stun.username is None
    assert turn.urls == ["turn:turn.example.org:3478"]
    assert turn.username == f"{1000 + settings.turn_ttl_seconds}:echo-peer"
    assert turn.credential


def test_check_settings_have_defaults_and_hearth_twins() -> None:
    default = load_settings({}, {})
    assert (default.check_seconds, default.check_peers, default.check_per_minute) == (15, 4, 6)
    env = {"HEARTH_CHECK_SECONDS": "2", "HEARTH_CHECK_PEERS": "0", "HEARTH_CHECK_PER_MINUTE": "9"}
    chosen = load_settings({}, env)
    assert (chosen.check_seconds, chosen.check_peers, chosen.check_per_minute) == (2, 0, 9)
    assert load_settings({"check_peers": "3"}, env).check_peers == 3


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HEARTH_CHECK_SECONDS", "0.5"),
        ("HEARTH_CHECK_SECONDS", "nan"),
        ("HEARTH_CHECK_PEERS", "-1"),
        ("HEARTH_CHECK_PEERS", "many"),
        ("HEARTH_CHECK_PER_MINUTE", "0"),
    ],
)
def test_bad_check_settings_are_refused_by_name(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({}, {name: raw})
    assert str(error.value).startswith(name + ":")


# --- the service, with real peers -------------------------------------------------------


async def test_busy_refusals_do_not_use_up_the_address_allowance(
    clients: list[CheckClient],
) -> None:
    settings = Settings(check_seconds=0.3, check_peers=1, check_per_minute=2)
    metrics = Metrics()
    service = EchoService(settings, metrics)
    offers = []
    for _ in range(3):
        clients.append(CheckClient.make())
        offers.append(body((await clients[-1].offer())["sdp"]))
    try:
        assert await service.answer(offers[0], "10.0.0.1")
        for _ in range(3):
            with pytest.raises(CheckRefused) as busy:
                await service.answer(offers[1], "10.0.0.1")
            assert (busy.value.status, busy.value.error) == (503, "busy")
            assert busy.value.retry_after == 1
        await until(lambda: service.live == 0, 3, "the first check expired")
        assert await service.answer(offers[1], "10.0.0.1")
        await until(lambda: service.live == 0, 3, "the second check expired")
        with pytest.raises(CheckRefused) as limited:
            await service.answer(offers[2], "10.0.0.1")
        assert (limited.value.status, limited.value.error) == (429, "rate_limited")
        assert limited.value.retry_after is not None
        assert 1 <= limited.value.retry_after <= 60
    finally:
        await service.close()


async def test_an_answer_that_takes_too_long_fails_and_frees_its_slot(
    monkeypatch: pytest.MonkeyPatch, offer: str
) -> None:
    async def stuck(_pc: RTCPeerConnection) -> RTCSessionDescription:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    monkeypatch.setattr("server.echo.ANSWER_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(RTCPeerConnection, "createAnswer", stuck)
    metrics = Metrics()
    service = EchoService(Settings(), metrics)
    with pytest.raises(CheckRefused) as failed:
        await service.answer(body(offer), "10.0.0.1")
    assert (failed.value.status, failed.value.error, failed.value.outcome) == (
        503,
        "failed",
        "failed",
    )
    assert service.live == 0
    await service.close()


async def test_the_route_answers_without_a_token_and_echoes_in_process(
    tmp_path: Path, clients: list[CheckClient]
) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", admin_token="t" * 20))
    async with running(app) as http:
        clients.append(client := CheckClient.make())
        answer = await http.post("/api/check", json=await client.offer())
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        await client.accept(answer.json())
        await client.connected()
        assert await client.ping(1) < 1.0
        assert (await http.get("/api/rooms")).status_code == 401  # still the admin's
        # Only POST is the check; any other method falls through to the admin API.
        assert (await http.get("/api/check")).status_code == 401

        text = (await http.get("/metrics")).text
        assert metric(text, "hearth_checks_total", outcome="answered") == 1
        assert metric(text, "hearth_check_peers") == 1
    # Leaving the lifespan closed the peer.
    await asyncio.wait_for(client.channel_closed.wait(), 3)


async def test_with_check_peers_zero_every_check_is_busy(tmp_path: Path, offer: str) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", check_peers=0))
    async with running(app) as http:
        answer = await http.post("/api/check", content=body(offer))
        assert answer.status_code == 503
        assert answer.json() == {"error": "busy"}
        assert answer.headers["retry-after"] == "15"
        text = (await http.get("/metrics")).text
        assert metric(text, "hearth_checks_total", outcome="busy") == 1
        assert metric(text, "hearth_checks_total", outcome="rate_limited") == 0


async def test_a_declared_oversized_body_is_refused_unread(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    async with running(app) as http:
        answer = await http.post(
            "/api/check", content=b"{}", headers={"Content-Length": str(10**9)}
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
