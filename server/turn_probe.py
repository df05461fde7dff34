"""One real TURN allocation, tried from this machine: does a TURN server accept a credential?

`hearth check` uses it twice per configured TURN server: with a credential made by
`ice_servers()` (it must allocate) and with a forged one (it must be refused, which proves
the server really checks the shared secret). STUN and TURN URLs are parsed here too, with the
syntax browsers accept (RFC 7064/7065: `turn:host[:port][?transport=udp|tcp]`, no `//`),
because one malformed URL in an RTCIceServer list makes the browser throw for every peer.

Rules of this module:
- Every attempt is bounded by its `timeout` and frees what it took: the allocation is
  deleted and the socket closed, whatever the outcome.
- An outcome is a closed set of values (`Outcome`), never exception text: the caller turns
  it into plain words, and no credential appears in a result or a log.
- `turns:` is tried over TLS with the system's trusted certificates (a browser checks the
  same way); TURN over DTLS (`turns:` with `transport=udp`) cannot be tried and says so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import ssl
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qs

from aioice import stun
from aioice.turn import create_turn_endpoint

DEFAULT_PORTS: Final = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
DELETE_SECONDS: Final = 2.0  # a polite delete; the server frees it at expiry anyway

Transport = Literal["udp", "tcp"]
Outcome = Literal[
    "allocated",  # the server gave a relay address
    "refused",  # it answered with an error (`code`: 401 unauthorized, 438 stale nonce, ...)
    "unreachable",  # no connection (TCP refused, host unknown, network down)
    "timeout",  # nothing came back in time (UDP blocked, wrong port, server down)
    "tls_untrusted",  # `turns:` whose certificate was refused (`code`: OpenSSL's verify code)
    "tls_failed",  # `turns:` whose handshake failed otherwise (no TLS there, no shared cipher)
    "not_checked",  # a kind this probe cannot try (TURN over DTLS)
    "error",  # an answer this probe did not understand
]


@dataclass(frozen=True, slots=True)
class IceUrl:
    """A parsed STUN or TURN URL."""

    scheme: Literal["stun", "stuns", "turn", "turns"]
    host: str
    port: int
    transport: Transport | None  # only TURN URLs carry one

    @property
    def tls(self) -> bool:
        return self.scheme in ("stuns", "turns")


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    code: int | None = None  # the STUN error code of a refusal, or a certificate's verify code


def parse_ice_url(url: str) -> IceUrl:
    """Parse a STUN or TURN URL as a browser would; raises ValueError(problem in plain words)."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in DEFAULT_PORTS:
        raise ValueError("must start with stun:, stuns:, turn: or turns:")
    if rest.startswith("//"):
        raise ValueError(f"must not have // after {scheme}: (write {scheme}:host:port)")
    address, _, query = rest.partition("?")
    transport: Transport | None = None
    if query:
        if scheme in ("stun", "stuns"):
            raise ValueError("a STUN address takes no ?transport=")
        params = parse_qs(query, keep_blank_values=True)
        values = params.get("transport", [])
        if set(params) != {"transport"} or len(values) != 1 or values[0] not in ("udp", "tcp"):
            raise ValueError("may only end with ?transport=udp or ?transport=tcp")
        transport = "udp" if values[0] == "udp" else "tcp"
    elif scheme in ("turn", "turns"):
        transport = "tcp" if scheme == "turns" else "udp"
    if address.startswith("["):  # [IPv6]:port
        host, bracket, tail = address[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError("has a malformed [IPv6] address")
        port_text = tail[1:] if tail else ""
    else:
        host, _, port_text = address.partition(":")
    if not host or any(c.isspace() or c in "/@#" for c in host):
        raise ValueError("needs a host name or address after the scheme")
    port = DEFAULT_PORTS[scheme]
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError("has a port that is not a number from 1 to 65535")
        port = int(port_text)
    return IceUrl(scheme, host, port, transport)  # type: ignore[arg-type]


def forged_credential(username: str) -> str:
    """A credential in the right shape made with a random secret: a server that checks the
    real secret must refuse it."""
    digest = hmac.new(secrets.token_bytes(32), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class _Watcher(asyncio.DatagramProtocol):
    """Learns when the relayed transport is gone, so a probe can wait for its cleanup."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


async def try_allocation(target: IceUrl, username: str, credential: str, timeout: float) -> Attempt:
    """Ask `target` for one relay allocation with this credential, within `timeout` seconds,
    and delete it again. Never raises for anything the network or the server does."""
    if target.scheme not in ("turn", "turns"):
        return Attempt("not_checked")
    if target.tls and target.transport == "udp":
        return Attempt("not_checked")
    context = ssl.create_default_context() if target.tls else None
    try:
        async with asyncio.timeout(timeout):
            relayed, watcher = await create_turn_endpoint(
                _Watcher,
                server_addr=(target.host, target.port),
                username=username,
                password=credential,
                ssl=context,
                transport=target.transport or "udp",
            )
    except TimeoutError:
        return Attempt("timeout")
    except stun.TransactionFailed as failed:
        return Attempt("refused", failed.response.error_code)
    except stun.TransactionTimeout:
        return Attempt("timeout")
    except ssl.SSLCertVerificationError as refused:
        # Before SSLError and ValueError, both of which it is.
        return Attempt("tls_untrusted", refused.verify_code)
    except ssl.SSLError:
        return Attempt("tls_failed")
    except OSError:
        return Attempt("unreachable")
    except (stun.TransactionError, ValueError):
        return Attempt("error")
    relayed.close()  # deletes the allocation (a REFRESH with lifetime 0), then the socket
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DELETE_SECONDS):
            await watcher.lost
    return Attempt("allocated")
