"""The node's echo peer: the far end of the join page's pre-join connection check.

`POST /api/check` takes a browser's SDP offer and answers it from an aiortc peer that sends
everything straight back: each audio or video track it receives goes out again on the same
transceiver, and every text message on the data channel named "check" is sent back as is,
so the page can measure round-trip time, loss and frames, and say plainly whether video
will work or audio-only is wiser (docs/decisions/004-echo-peer.md).

Rules of this module:
- Bounded by construction: a check lives at most `settings.check_seconds`, then its peer is
  closed; at most `settings.check_peers` peers live at once (more answer 503 busy); one
  address may start `settings.check_per_minute` checks a minute (more answer 429); a body is
  at most 64 KiB; an offer has at most one audio, one video and one data section, each
  audio or video one `sendrecv`, so every track received is also read (by its echo) and
  nothing piles up unread; at most `MAX_ECHOES` data-channel messages are echoed per check.
- The order of refusals is fixed: a malformed request (413, 400) first, then busy (503, which
  does not use up the address's allowance, so honouring `Retry-After` costs nothing), then
  the rate limit (429), then aiortc's own reading of the offer (400).
- Non-trickle: the answer carries every ICE candidate, gathered within
  `ANSWER_TIMEOUT_SECONDS`. The ICE servers are the host's (`HEARTH_STUN_URLS`, TURN), never
  aiortc's default public STUN server: with none configured, only host candidates.
- The page's side uses the host's servers too (`browser_ice_servers`, handed out with
  `POST /api/preview`, so only to holders of a valid link), with TURN credentials that live
  `CHECK_TURN_TTL_SECONDS` at most: the check tries the paths the meeting will use.
- It carries no meeting data, so it needs no token; it is outside the admin API's bearer
  guard by sitting above the /api mount in the route list.
- Private: nothing about a peer, its SDP or its address is logged, only counts, durations
  and a closed set of reasons. Exception text never reaches a client or a log.
- Never a 500: bad input is 400/413; an offer that aiortc cannot answer in time is 503
  `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import structlog
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.metrics import CheckOutcome, Metrics
from server.settings import IceServer, Settings, ice_servers
from server.state import node_state

MAX_BODY_BYTES: Final = 64 * 1024
ANSWER_TIMEOUT_SECONDS: Final = 5.0
CLOSE_TIMEOUT_SECONDS: Final = 5.0
CHECK_CHANNEL: Final = "check"
# {"n": 123456, "t": 1712345678901.123} is ~40 characters; room for a client's padding.
MAX_MESSAGE_CHARS: Final = 1024
# A page pinging every 20 ms for 15 s sends 750; past this, messages are dropped (as loss).
MAX_ECHOES: Final = 2000
RATE_WINDOW_SECONDS: Final = 60.0
# The TURN REST usernames of the echo peer's own allocations and of the page's.
TURN_MEMBER: Final = "echo-peer"
CHECK_PAGE_MEMBER: Final = "prejoin-check"
# Long enough for someone to linger on the join page and run the check again; a credential
# that leaks from it is worth little (a meeting's own come with its welcome).
CHECK_TURN_TTL_SECONDS: Final = 600
NO_STORE: Final = {"Cache-Control": "no-store"}

EndReason = Literal["expired", "ended", "invalid", "failed", "shutdown"]

log = structlog.get_logger("hearth.echo")


class CheckRefused(Exception):
    """A check that gets no answer: `status`, the wire `error`, and the metrics `outcome`.
    `message` (for invalid input) names the field and is safe to show; it never quotes it."""

    def __init__(
        self,
        status: int,
        error: str,
        outcome: CheckOutcome,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error
        self.outcome: CheckOutcome = outcome
        self.message = message
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        body = {"error": self.error}
        if self.message is not None:
            body["message"] = self.message
        headers = dict(NO_STORE)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return JSONResponse(body, status_code=self.status, headers=headers)


def invalid(message: str) -> CheckRefused:
    return CheckRefused(400, "invalid", "invalid", message)


class CheckRateLimit:
    """Checks started per address in a sliding minute. Pure: time is an argument.

    Memory: at most `per_minute` floats per address seen in the last minute; idle addresses
    are forgotten on the first call after each window.
    """

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._starts: dict[str, list[float]] = {}
        self._swept = -math.inf

    def allow(self, address: str, now: float) -> float | None:
        """Count a check from `address` and return None, or return the seconds until one is
        allowed again (and count nothing)."""
        if now - self._swept >= RATE_WINDOW_SECONDS:
            self.sweep(now)
        recent = [t for t in self._starts.get(address, ()) if t > now - RATE_WINDOW_SECONDS]
        if len(recent) >= self._per_minute:
            self._starts[address] = recent
            return recent[0] + RATE_WINDOW_SECONDS - now
        recent.append(now)
        self._starts[address] = recent
        return None

    def sweep(self, now: float) -> None:
        self._swept = now
        for address, starts in list(self._starts.items()):
            if all(t <= now - RATE_WINDOW_SECONDS for t in starts):
                del self._starts[address]

    def tracked(self) -> int:
        return len(self._starts)


def read_offer(body: bytes) -> str:
    """The offer's SDP from a request body, checked without aiortc's peer: a JSON object
    `{"sdp": str, "type": "offer"}` whose SDP parses and has at most one audio, one video
    and one data section, audio and video `sendrecv`. Raises CheckRefused (400)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise invalid("body: not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid("body: must be a JSON object")
    if set(value) - {"sdp", "type"}:
        raise invalid("body: only sdp and type are allowed")
    if value.get("type") != "offer":
        raise invalid("type: must be offer")
    sdp = value.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise invalid("sdp: must be a non-empty string")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception:  # the parser raises whatever the text trips it into; all mean "bad"
        raise invalid("sdp: could not be parsed") from None
    kinds = [media.kind for media in parsed.media]
    if not kinds:
        raise invalid("sdp: offers no audio, video or data channel")
    for kind in set(kinds):
        if kind not in ("audio", "video", "application"):
            raise invalid("sdp: only audio, video and application sections are allowed")
        if kinds.count(kind) > 1:
            raise invalid("sdp: at most one audio, one video and one data section")
    for media in parsed.media:
        if media.kind != "application" and media.direction not in (None, "sendrecv"):
            raise invalid("sdp: audio and video must be sendrecv, to be echoed")
    return sdp


def rtc_configuration(settings: Settings, now: float) -> RTCConfiguration:
    """The host's STUN/TURN servers for the echo peer. An empty list, never None: None makes
    aiortc ask a public STUN server, which a self-hosted node must not do unasked."""
    servers = []
    for server in ice_servers(settings, now, TURN_MEMBER):
        username, credential = server.get("username"), server.get("credential")
        servers.append(
            RTCIceServer(
                urls=server["urls"],
                username=username if isinstance(username, str) else None,
                credential=credential if isinstance(credential, str) else None,
            )
        )
    return RTCConfiguration(iceServers=servers)


def browser_ice_servers(settings: Settings, now: float) -> list[IceServer]:
    """The RTCIceServer list for the join page's side of the check: the host's STUN and TURN
    servers, TURN credentials valid for `CHECK_TURN_TTL_SECONDS` (or less, if the host's
    own TTL is shorter). `now` is wall-clock time: the TURN server checks the expiry."""
    ttl = min(CHECK_TURN_TTL_SECONDS, settings.turn_ttl_seconds)
    return ice_servers(replace(settings, turn_ttl_seconds=ttl), now, CHECK_PAGE_MEMBER)


@dataclass(eq=False)
class _Check:
    """One live echo peer and when it must go."""

    pc: RTCPeerConnection
    started: float
    deadline: float
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reason: EndReason = "expired"
    echoes: int = 0
    task: asyncio.Task[None] | None = None

    def end(self, reason: EndReason) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    def echo(self, channel: RTCDataChannel, message: str | bytes) -> None:
        if (
            isinstance(message, str)
            and len(message) <= MAX_MESSAGE_CHARS
            and self.echoes < MAX_ECHOES
            and channel.readyState == "open"
        ):
            self.echoes += 1
            channel.send(message)

    def wire(self) -> None:
        """Attach the echo behaviour to the peer before it reads the offer."""
        pc = self.pc

        def on_track(track: MediaStreamTrack) -> None:
            # The received track is read by our own sender on the same transceiver: frames
            # in, the same frames out, and no queue of unread frames anywhere.
            pc.addTrack(track)

        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHECK_CHANNEL:
                channel.on("message", lambda message: self.echo(channel, message))

        def on_connectionstatechange() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.end("ended")

        pc.on("track", on_track)
        pc.on("datachannel", on_datachannel)
        pc.on("connectionstatechange", on_connectionstatechange)


class EchoService:
    """The node's echo peers. `answer` makes one; each closes itself at its deadline, when
    its connection fails or closes, or at `close` (node shutdown), whichever comes first."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._rate = CheckRateLimit(settings.check_per_minute)
        self._checks: set[_Check] = set()
        self._closing = False

    @property
    def live(self) -> int:
        return len(self._checks)

    def count(self, outcome: CheckOutcome) -> None:
        self._metrics.checks.labels(outcome=outcome).inc()

    async def answer(self, body: bytes, address: str) -> str:
        """The answer SDP to an offer (a request body), its peer alive from now until its
        deadline. Raises CheckRefused: 400 invalid, 503 busy or failed, 429 rate_limited."""
        offer = read_offer(body)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._closing or self.live >= self._settings.check_peers:
            soonest = min((c.deadline for c in self._checks), default=None)
            wait = self._settings.check_seconds if soonest is None else soonest - now
            raise CheckRefused(503, "busy", "busy", retry_after=max(1, math.ceil(wait)))
        wait_rate = self._rate.allow(address, now)
        if wait_rate is not None:
            retry = max(1, math.ceil(wait_rate))
            raise CheckRefused(429, "rate_limited", "rate_limited", retry_after=retry)

        # From here to the set, no await: the slot is taken before another request looks.
        # Wall-clock time: TURN credentials carry an expiry the TURN server checks.
        pc = RTCPeerConnection(rtc_configuration(self._settings, time.time()))
        check = _Check(pc, started=now, deadline=now + self._settings.check_seconds)
        check.wire()
        self._checks.add(check)
        self._metrics.check_peers.set(self.live)
        check.task = asyncio.create_task(self._live(check))

        try:
            async with asyncio.timeout(min(ANSWER_TIMEOUT_SECONDS, self._settings.check_seconds)):
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
                except Exception:  # aiortc's refusal of this offer; its text stays here
                    raise invalid("sdp: not an offer this peer can answer") from None
                await pc.setLocalDescription(await pc.createAnswer())
            local = pc.localDescription
            if check.ended.is_set() or local is None:
                raise CheckRefused(503, "failed", "failed", "the check ended before its answer")
            return local.sdp
        except CheckRefused as refused:
            await self._stop(check, "invalid" if refused.outcome == "invalid" else "failed")
            raise
        except Exception as exc:  # timeout, shutdown mid-answer, an aiortc failure
            log.warning("echo answer failed", exc_type=type(exc).__name__)
            await self._stop(check, "failed")
            raise CheckRefused(503, "failed", "failed", "the check could not be answered") from None

    async def close(self) -> None:
        """Refuse new checks and close every live peer (node shutdown), bounded in time."""
        self._closing = True
        checks = list(self._checks)
        for check in checks:
            check.end("shutdown")
        tasks = [c.task for c in checks if c.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_SECONDS + 1)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)

    async def _stop(self, check: _Check, reason: EndReason) -> None:
        check.end(reason)
        if check.task is not None:  # its close is bounded; so is this wait
            await asyncio.wait({check.task}, timeout=CLOSE_TIMEOUT_SECONDS + 1)

    async def _live(self, check: _Check) -> None:
        loop = asyncio.get_running_loop()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(check.deadline):
                    await check.ended.wait()
            check.end("expired")  # a no-op when it ended otherwise
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await check.pc.close()
            except Exception as exc:  # a peer that will not close is dropped all the same
                log.warning("echo peer close failed", exc_type=type(exc).__name__)
        finally:
            self._checks.discard(check)
            self._metrics.check_peers.set(self.live)
            log.info(
                "echo check ended",
                reason=check.reason,
                count=check.echoes,
                duration_ms=round((loop.time() - check.started) * 1000),
            )


def echo_service(request: Request) -> EchoService:
    service = getattr(request.app.state, "echo", None)
    if not isinstance(service, EchoService):
        raise RuntimeError("the app's lifespan has not run: no EchoService on app.state")
    return service


async def _read_body(request: Request) -> bytes:
    too_large = CheckRefused(
        413, "too_large", "invalid", f"body: larger than {MAX_BODY_BYTES} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


async def check(request: Request) -> Response:
    """`POST /api/check`: {"sdp", "type": "offer"} → 200 {"sdp", "type": "answer"}, or a
    JSON error (see the module docstring)."""
    service = echo_service(request)
    try:
        body = await _read_body(request)
        client = request.client
        sdp = await service.answer(body, client.host if client else "unknown")
    except CheckRefused as refused:
        service.count(refused.outcome)
        return refused.response()
    service.count("answered")
    return JSONResponse({"sdp": sdp, "type": "answer"}, headers=NO_STORE)


def echo_routes() -> list[BaseRoute]:
    """The check route; it must come before the /api mount, which guards the rest of /api."""
    return [Route("/api/check", check, methods=["POST"])]


@contextlib.asynccontextmanager
async def echo_hook(app: Starlette) -> AsyncIterator[None]:
    """Lifespan hook: the node's EchoService on `app.state.echo`, closed at shutdown."""
    state = node_state(app)
    service = EchoService(state.settings, state.metrics)
    app.state.echo = service
    try:
        yield
    finally:
        await service.close()
