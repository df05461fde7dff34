"""A pre-join connection check from the client's side, as the join page does it, in aiortc.

    client = CheckClient.make(audio=True, video=False)
    answer = await http.post("/api/check", json=await client.offer())
    await client.accept(answer.json())
    await client.connected()
    rtt = await client.ping(0)

The client sends a 440 Hz tone (so an echo of real sound can be told from silence), opens the
data channel "check", counts the frames coming back per kind and matches echoed messages
{"n", "t"} to measure round trips. No ICE servers: loopback and host candidates only. Every
wait is bounded and raises AssertionError naming what did not happen.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from av import AudioFrame
from av.frame import Frame

TONE_HZ = 440.0
TONE_AMPLITUDE = 8000


class ToneTrack(AudioStreamTrack):
    """AudioStreamTrack's pacing and timestamps, with a sine instead of silence."""

    async def recv(self) -> Frame:
        frame = await super().recv()
        assert isinstance(frame, AudioFrame)
        start = int(frame.pts or 0)
        rate = frame.sample_rate
        samples = array.array(
            "h",
            (
                int(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * (start + i) / rate))
                for i in range(frame.samples)
            ),
        )
        frame.planes[0].update(samples.tobytes())
        return frame


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` every 20 ms; fail with `what` if it is not true within `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def until_async(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text exposition."""
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    selector = re.escape(f"{name}{{{inner}}}" if labels else name)
    found = re.search(rf"^{selector} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} {labels} not in the metrics"
    return float(found.group(1))


@dataclass(eq=False)
class CheckClient:
    pc: RTCPeerConnection
    channel: RTCDataChannel
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    loudest: int = 0  # the largest audio sample received back
    sent_at: dict[int, float] = field(default_factory=dict)
    rtts: dict[int, float] = field(default_factory=dict)
    echoed: list[str] = field(default_factory=list)
    channel_closed: asyncio.Event = field(default_factory=asyncio.Event)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def make(cls, *, audio: bool = True, video: bool = False, channel: bool = True) -> CheckClient:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if audio:
            pc.addTrack(ToneTrack())
        if video:
            pc.addTrack(VideoStreamTrack())
        # As the join page does: unordered, no retransmission, so a lost ping stays lost.
        dc = pc.createDataChannel("check" if channel else "other", ordered=False, maxRetransmits=0)
        client = cls(pc, dc)
        pc.on("track", client._on_track)
        dc.on("message", client._on_message)
        dc.on("close", client.channel_closed.set)
        return client

    async def offer(self) -> dict[str, str]:
        """The request body of POST /api/check: the full offer, candidates included."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        local = self.pc.localDescription
        assert local is not None
        return {"sdp": local.sdp, "type": local.type}

    async def accept(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def connected(self, timeout: float = 5.0) -> None:
        await until(lambda: self.pc.connectionState == "connected", timeout, "connected")
        await until(lambda: self.channel.readyState == "open", timeout, "data channel open")

    def send_ping(self, n: int) -> None:
        self.sent_at[n] = time.monotonic()
        self.channel.send(json.dumps({"n": n, "t": time.time() * 1000}))

    async def ping(self, n: int, timeout: float = 2.0) -> float:
        """One round trip on the data channel, in seconds."""
        self.send_ping(n)
        await until(lambda: n in self.rtts, timeout, f"echo of ping {n}")
        return self.rtts[n]

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await self.pc.close()
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames[track.kind] += 1
                if isinstance(frame, AudioFrame) and frame.format.name == "s16":
                    count = frame.samples * len(frame.layout.channels)
                    samples = array.array("h", bytes(frame.planes[0])[: count * 2])
                    self.loudest = max(self.loudest, max(map(abs, samples), default=0))

    def _on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        self.echoed.append(message)
        n = json.loads(message)["n"]
        if n in self.sent_at:
            self.rtts[n] = time.monotonic() - self.sent_at[n]
