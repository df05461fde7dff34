"""Two aiortc peers, each signalling through a different node, set up a call.

Ann (on the first node) offers to Bob (on the second); the description goes without its
candidates, which follow one by one as `{candidate}` signals and end with an empty one, as
a browser trickles them (the web client's data shapes: `{description}`, `{candidate}`).
Both must reach `connected` and receive each other's audio (a 440 Hz tone) and video.
No ICE servers: host candidates on this machine only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

from signaling.client import Frame
from tests.integration.check_client import ToneTrack
from tests.integration.multinode.cluster import Cluster, Person, until

CALL_SECONDS = 30.0


def split_candidates(sdp: str) -> tuple[str, list[Frame]]:
    """The description without its candidates, and the candidates as a browser's
    RTCIceCandidateInit maps (`candidate`, `sdpMid`, `sdpMLineIndex`)."""
    lines = sdp.splitlines()
    mids: list[str] = []
    for line in lines:
        if line.startswith("m="):
            mids.append("")
        elif line.startswith("a=mid:") and mids:
            mids[-1] = line[len("a=mid:") :]
    kept: list[str] = []
    candidates: list[Frame] = []
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if line.startswith("a=candidate:"):
            candidates.append(
                {"candidate": line[2:], "sdpMid": mids[index], "sdpMLineIndex": index}
            )
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


@dataclass(eq=False)
class Peer:
    person: Person
    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    frames: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    got: Counter[str] = field(default_factory=Counter)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pc.addTrack(ToneTrack())
        self.pc.addTrack(VideoStreamTrack())
        self.pc.on("track", lambda track: self.tasks.append(asyncio.create_task(self.read(track))))
        self.tasks.append(asyncio.create_task(self.serve()))

    async def offer(self, to: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.send_description(to)

    async def send_description(self, to: str) -> None:
        local = self.pc.localDescription  # aiortc gathers every candidate before this
        assert local is not None
        sdp, candidates = split_candidates(local.sdp)
        assert candidates, "no host candidates were gathered"
        await self.signal(to, {"description": {"type": local.type, "sdp": sdp}}, local.type)
        for candidate in candidates:
            await self.signal(to, {"candidate": candidate}, "candidate")
        end = {"candidate": "", "sdpMid": candidates[0]["sdpMid"], "sdpMLineIndex": 0}
        await self.signal(to, {"candidate": end}, "end")

    async def signal(self, to: str, data: Frame, kind: str) -> None:
        await self.person.now.signal(to, data)
        self.sent[kind] += 1

    async def serve(self) -> None:
        """Handle the signals that reach this person, one after another."""
        while True:
            frame = await self.person.now.signals.get()
            data = frame["data"]
            if "description" in data:
                d = data["description"]
                self.got[d["type"]] += 1
                await self.pc.setRemoteDescription(RTCSessionDescription(d["sdp"], d["type"]))
                if d["type"] == "offer":
                    await self.pc.setLocalDescription(await self.pc.createAnswer())
                    await self.send_description(frame["from"])
            elif "candidate" in data:
                c = data["candidate"]
                if not c["candidate"]:
                    self.got["end"] += 1
                    await self.pc.addIceCandidate(None)
                    continue
                self.got["candidate"] += 1
                candidate = candidate_from_sdp(c["candidate"].split(":", 1)[1])
                candidate.sdpMid, candidate.sdpMLineIndex = c["sdpMid"], c["sdpMLineIndex"]
                await self.pc.addIceCandidate(candidate)

    async def read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.frames[track.kind] += 1

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def test_two_aiortc_peers_on_two_nodes_connect_and_exchange_media(cluster: Cluster) -> None:
    n0, n1 = cluster.start(2)
    room = await cluster.room()
    fay = await cluster.facilitator(room, n0)
    ann = await cluster.member(room, n0, fay, "Ann")
    bob = await cluster.member(room, n1, fay, "Bob")
    a, b = Peer(ann), Peer(bob)
    try:
        await a.offer(bob.me)
        for peer in (a, b):
            await until(
                lambda peer=peer: peer.pc.connectionState == "connected",  # type: ignore[misc]
                CALL_SECONDS,
                f"{peer.person.name} connected (state {peer.pc.connectionState})",
            )
        for peer in (a, b):
            await until(
                lambda peer=peer: peer.frames["audio"] > 10 and peer.frames["video"] > 3,  # type: ignore[misc]
                CALL_SECONDS,
                f"{peer.person.name} receiving audio and video ({dict(peer.frames)})",
            )
        # Every signal went through Hearth: what one sent, the other got.
        assert a.sent["offer"] == b.got["offer"] == 1
        assert b.sent["answer"] == a.got["answer"] == 1
        assert a.sent["candidate"] == b.got["candidate"] > 0
        assert b.sent["candidate"] == a.got["candidate"] > 0
        assert a.got["end"] == b.got["end"] == 1
    finally:
        await a.close()
        await b.close()
