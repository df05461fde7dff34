"""The pre-join connection check against a real node: aiortc client peers over loopback
POST their offers to /api/check and talk to the node's echo peer (server/echo.py)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.check_client import CheckClient, metric, until, until_async
from tests.integration.nodes import Node, NodeFactory


@pytest.fixture
async def clients() -> AsyncIterator[list[CheckClient]]:
    """Client peers made by a test; all closed at teardown, whatever happened."""
    made: list[CheckClient] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.close(), 5)


def http(node: Node) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=10)


async def start_check(
    api: httpx.AsyncClient, clients: list[CheckClient], *, video: bool = False
) -> tuple[CheckClient, httpx.Response]:
    client = CheckClient.make(video=video)
    clients.append(client)
    answer = await api.post("/api/check", json=await client.offer())
    return client, answer


async def metrics_text(api: httpx.AsyncClient) -> str:
    return (await api.get("/metrics")).text


async def test_a_check_echoes_audio_video_and_every_message(
    node: Node, clients: list[CheckClient]
) -> None:
    async with http(node) as api:
        client, answer = await start_check(api, clients, video=True)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert set(body) == {"sdp", "type"}
        assert body["type"] == "answer"
        assert "a=candidate:" in body["sdp"]  # non-trickle: candidates in the answer
        assert metric(await metrics_text(api), "hearth_check_peers") == 1

        await client.accept(body)
        await client.connected()
        await until(lambda: client.frames["audio"] > 25, 5, "audio echoed back")
        await until(lambda: client.frames["video"] > 5, 5, "video echoed back")
        await until(lambda: client.loudest > 1000, 5, "the tone, not silence, came back")

        count = 30
        for n in range(count):
            client.send_ping(n)
            await asyncio.sleep(0.01)
        await until(lambda: len(client.rtts) == count, 3, "every ping echoed")
        assert sorted(client.rtts) == list(range(count))
        assert max(client.rtts.values()) < 1.0
        for message in client.echoed:  # sent back as sent
            assert set(json.loads(message)) == {"n", "t"}

        text = await metrics_text(api)
        assert metric(text, "hearth_checks_total", outcome="answered") == 1
        for outcome in ("busy", "rate_limited", "invalid", "failed"):
            assert metric(text, "hearth_checks_total", outcome=outcome) == 0

        # The client hangs up; the node closes its side and frees the slot.
        await client.pc.close()

        async def no_peers() -> bool:
            return metric(await metrics_text(api), "hearth_check_peers") == 0

        await until_async(no_peers, 5, "the echo peer gone after the client hung up")

    # Nothing of the SDP reached the log: no ICE credentials, no fingerprint, no address.
    log = node.log_text()
    secrets = re.findall(r"a=(?:ice-ufrag|ice-pwd|fingerprint):(.+)", body["sdp"])
    secrets += re.findall(r"a=candidate:\S+ \d \S+ \d+ (\S+) ", body["sdp"])
    assert secrets
    for secret in secrets:
        assert secret.strip() not in log
    ended = [json.loads(line) for line in log.splitlines() if "echo check ended" in line]
    assert len(ended) == 1
    assert ended[0]["reason"] == "ended"
    assert ended[0]["count"] == count


async def test_the_node_closes_the_peer_after_check_seconds(
    node_factory: NodeFactory, clients: list[CheckClient]
) -> None:
    node = node_factory(env={"HEARTH_CHECK_SECONDS": "2"})
    async with http(node) as api:
        started = time.monotonic()
        client, answer = await start_check(api, clients)
        assert answer.status_code == 200, answer.text
        await client.accept(answer.json())
        await client.connected()
        await client.ping(0)

        await asyncio.wait_for(client.channel_closed.wait(), 5)
        await until(lambda: client.pc.connectionState == "closed", 2, "client sees closed")
        assert 1.5 < time.monotonic() - started < 5
        assert metric(await metrics_text(api), "hearth_check_peers") == 0
    ended = [json.loads(line) for line in node.log_text().splitlines() if "check ended" in line]
    assert [entry["reason"] for entry in ended] == ["expired"]


async def test_past_check_peers_the_node_answers_busy_until_a_slot_frees(
    node_factory: NodeFactory, clients: list[CheckClient]
) -> None:
    node = node_factory(env={"HEARTH_CHECK_PEERS": "1", "HEARTH_CHECK_SECONDS": "2"})
    async with http(node) as api:
        first, answer = await start_check(api, clients)
        assert answer.status_code == 200, answer.text
        await first.accept(answer.json())
        await first.connected()

        _second, busy = await start_check(api, clients)
        assert busy.status_code == 503
        assert busy.json() == {"error": "busy"}
        assert 1 <= int(busy.headers["retry-after"]) <= 2
        assert busy.headers["cache-control"] == "no-store"

        await until(lambda: first.pc.connectionState == "closed", 5, "first check expired")

        async def answered_again() -> bool:
            _third, again = await start_check(api, clients)
            return again.status_code == 200

        await until_async(answered_again, 5, "a check answered once the slot is free")
        text = await metrics_text(api)
        assert metric(text, "hearth_checks_total", outcome="busy") >= 1
        assert metric(text, "hearth_checks_total", outcome="answered") == 2


async def test_one_address_may_start_check_per_minute_checks(
    node_factory: NodeFactory, clients: list[CheckClient]
) -> None:
    node = node_factory(env={"HEARTH_CHECK_PER_MINUTE": "2"})
    async with http(node) as api:
        for _ in range(2):
            _client, answer = await start_check(api, clients)
            assert answer.status_code == 200, answer.text
        _client, limited = await start_check(api, clients)
        assert limited.status_code == 429
        assert limited.json() == {"error": "rate_limited"}
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        text = await metrics_text(api)
        assert metric(text, "hearth_checks_total", outcome="rate_limited") == 1
        assert metric(text, "hearth_checks_total", outcome="answered") == 2
        assert (await api.get("/healthz")).status_code == 200


def offer_lines(sdp: str, drop: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith(drop))


async def test_bad_bodies_get_400_or_413_and_the_node_stays_healthy(
    node: Node, clients: list[CheckClient]
) -> None:
    clients += [CheckClient.make(video=True), CheckClient.make()]  # only their offers' text
    good, audio_only = await clients[0].offer(), await clients[1].offer()
    sdp = good["sdp"]
    two_audio = audio_only["sdp"] + audio_only["sdp"][audio_only["sdp"].index("m=audio") :]
    bad: list[tuple[bytes, int, str]] = [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 400, "body"),
        (b'"offer"', 400, "body"),
        (b"", 400, "body"),
        (json.dumps({"sdp": sdp, "type": "answer"}).encode(), 400, "type"),
        (json.dumps({"sdp": sdp}).encode(), 400, "type"),
        (json.dumps({"type": "offer"}).encode(), 400, "sdp"),
        (json.dumps({"type": "offer", "sdp": ""}).encode(), 400, "sdp"),
        (json.dumps({"type": "offer", "sdp": 42}).encode(), 400, "sdp"),
        (json.dumps({**good, "room": "x"}).encode(), 400, "body"),
        (json.dumps({"type": "offer", "sdp": "hello, echo"}).encode(), 400, "sdp"),
        (json.dumps({"type": "offer", "sdp": "v=0\r\nm=audio x\r\n"}).encode(), 400, "sdp"),
        (json.dumps({"type": "offer", "sdp": two_audio}).encode(), 400, "sdp"),
        (
            json.dumps({"type": "offer", "sdp": sdp.replace("a=sendrecv", "a=recvonly")}).encode(),
            400,
            "sdp",
        ),
        (
            json.dumps({"type": "offer", "sdp": offer_lines(sdp, "a=ice-ufrag")}).encode(),
            400,
            "sdp",
        ),
        (b'{"type": "offer", "sdp": "' + b"v" * (64 * 1024) + b'"}', 413, "body"),
    ]
    async with http(node) as api:
        for body, status, field in bad:
            answer = await api.post(
                "/api/check", content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == status, (body[:80], answer.text)
            error = answer.json()
            assert error["error"] == ("too_large" if status == 413 else "invalid")
            assert error["message"].startswith(field + ":"), error

        async def endless() -> AsyncIterator[bytes]:  # chunked, no Content-Length
            for _ in range(100):
                yield b"x" * 4096

        chunked = await api.post("/api/check", content=endless())
        assert chunked.status_code == 413

        assert (await api.get("/healthz")).status_code == 200
        # The rest of /api stays the admin API: no token, no entry.
        assert (await api.get("/api/rooms")).status_code == 401
        _client, answer = await start_check(api, clients)
        assert answer.status_code == 200, answer.text
        text = await metrics_text(api)
        assert metric(text, "hearth_checks_total", outcome="invalid") == len(bad) + 1
        assert metric(text, "hearth_checks_total", outcome="answered") == 1
        # The offer aiortc refused had its peer closed at once.
        assert metric(text, "hearth_check_peers") == 1
    assert "Traceback" not in node.log_text()


async def test_stopping_the_node_closes_live_echo_peers(
    node: Node, clients: list[CheckClient]
) -> None:
    async with http(node) as api:
        client, answer = await start_check(api, clients)
        assert answer.status_code == 200, answer.text
        await client.accept(answer.json())
        await client.connected()
    started = time.monotonic()
    # uvicorn re-raises SIGTERM once it has shut down gracefully, hence -15.
    assert await asyncio.to_thread(node.stop) in (0, -15)
    await asyncio.wait_for(client.channel_closed.wait(), 3)
    assert time.monotonic() - started < 5
    assert "Application shutdown complete." in node.log_text()
    ended = [json.loads(line) for line in node.log_text().splitlines() if "check ended" in line]
    assert [entry["reason"] for entry in ended] == ["shutdown"]
