"""`hearth check`: is this node's configuration ready for people to meet on it?

It reads the same settings as `hearth serve` and prints one line per check, in words a
community organiser can act on: `OK`, `WARNING` (works, but here is what to improve) or
`PROBLEM` (fix this first, and here is how). The exit status is 0 with no problem, 1 with
any, and 2 when the settings themselves are unreadable (nothing else could be checked).

Rules of this module:
- Each check is a small function from `Settings` (and, for the network ones, a timeout) to
  `Finding` values; `run_checks` only collects them. A unit test per misconfiguration.
- Network checks are real (a Redis PING and CONFIG GET, a TURN allocation with a credential
  made by `ice_servers()`, and one with a forged credential that must be refused), each
  bounded by a timeout, run concurrently.
- Secrets never appear in the output: not the admin token, not the TURN secret or a
  credential, not a password inside the Redis URL (only its host and port are shown).
"""

from __future__ import annotations

import asyncio
import enum
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from redis import asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from server import settings as config
from server.settings import Settings, SettingsError, ice_servers, load_settings
from server.turn_probe import Attempt, forged_credential, parse_ice_url, try_allocation

TURN_TIMEOUT_SECONDS: Final = 5.0
REDIS_TIMEOUT_SECONDS: Final = 3.0
CHECK_MEMBER: Final = "hearth-check"  # the TURN REST username's label, seen in coturn's log
SAFE_FSYNC: Final = frozenset({"everysec", "always"})
# OpenSSL's verify codes (X509_V_ERR_*) that have their own plain words.
CERT_EXPIRED: Final = 10
CERT_NAME_MISMATCH: Final = frozenset({62, 64})  # host name, IP address


class Status(enum.Enum):
    OK = "OK"
    WARNING = "WARNING"
    PROBLEM = "PROBLEM"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    topic: str  # what was checked, e.g. "Redis" or "TURN turn:turn.example.org:3478"
    text: str  # what was found and, unless OK, what to do

    def line(self) -> str:
        return f"{self.status.value:<7}  {self.topic}: {self.text}"


def ok(topic: str, text: str) -> Finding:
    return Finding(Status.OK, topic, text)


def warning(topic: str, text: str) -> Finding:
    return Finding(Status.WARNING, topic, text)


def problem(topic: str, text: str) -> Finding:
    return Finding(Status.PROBLEM, topic, text)


# --- checks of the settings alone ---


def check_public_url(settings: Settings) -> Finding:
    topic = "Public address"
    https_why = "browsers allow camera and microphone only on https pages"
    url = settings.public_url
    if not config.is_loopback_host(settings.host):
        if url is None:
            return problem(
                topic,
                f"not set, yet Hearth listens on {settings.host or 'every address'}. Set "
                "HEARTH_PUBLIC_URL to the https:// address people use (the one your TLS "
                "proxy serves), e.g. https://circle.example.org",
            )
        if not settings.https:
            return problem(
                topic,
                f"{url} is not https: {https_why}. Put a TLS proxy (Caddy, nginx) in front "
                "and set HEARTH_PUBLIC_URL to its https:// address",
            )
        return ok(topic, f"{url}")
    if url is None:
        return warning(
            topic,
            f"not set: links point at {settings.base_url}, which only this machine can open. "
            "Fine for a try-out; behind a TLS proxy, set HEARTH_PUBLIC_URL to its https:// "
            "address",
        )
    host = urlsplit(url).hostname or ""
    if not settings.https and not config.is_loopback_host(host):
        return warning(topic, f"{url} is not https: {https_why}")
    return ok(topic, f"{url} (Hearth itself listens on this machine only)")


def check_admin_token(settings: Settings) -> Finding:
    topic = "Admin token"
    token = settings.admin_token
    if token is None:
        return warning(
            topic,
            "not set: the admin API and the host page are off (`hearth room create` still "
            f"works). To use them, set HEARTH_ADMIN_TOKEN to the output of {config.MAKE_A_TOKEN}",
        )
    too_short = len(token) < config.MIN_ADMIN_TOKEN_CHARS
    guessable = (
        len(set(token)) < config.MIN_ADMIN_TOKEN_DISTINCT
        or config.token_bits(token) < config.MIN_ADMIN_TOKEN_BITS
    )
    if too_short or guessable or any(c.isspace() for c in token):
        return problem(
            topic,
            "too easy to guess: anyone who guesses it controls every room. Replace "
            f"HEARTH_ADMIN_TOKEN with the output of {config.MAKE_A_TOKEN}",
        )
    return ok(topic, "set, and long enough")


def check_data_dir(settings: Settings) -> Finding:
    """Try to create and remove a file where room definitions will be kept."""
    topic = "Data directory"
    where = settings.data_dir
    if settings.redis_url is not None:
        return ok(topic, "not used: rooms are kept in Redis")
    existing = where
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"give the user running Hearth write access to {where}, or set HEARTH_DATA_DIR"
    if not existing.is_dir():
        return problem(topic, f"{where} cannot be a directory ({existing} is a file): {fix}")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".hearth-check-"):
            pass  # created, then removed on leaving
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else "cannot write"
        return problem(topic, f"cannot write in {existing} ({why.lower()}): {fix}")
    if existing != where:
        return ok(topic, f"{where} does not exist yet; Hearth will create it")
    return ok(topic, f"{where} is writable")


def check_ice_urls(settings: Settings) -> list[Finding]:
    """Every STUN and TURN URL must parse: one bad entry makes browsers reject them all."""
    found: list[Finding] = []
    for kind, urls in (("STUN", settings.stun_urls), ("TURN", settings.turn_urls)):
        for url in urls:
            try:
                parse_ice_url(url)
            except ValueError as exc:
                found.append(
                    problem(
                        f"{kind} address {url}",
                        f"{exc}; browsers refuse the whole list of servers because of it",
                    )
                )
    if not settings.stun_urls:
        if settings.turn_urls:
            found.append(ok("STUN", "none set; browsers learn their public address from TURN"))
        else:
            found.append(
                warning(
                    "STUN",
                    "none set: members on different networks will often not connect. Run "
                    "coturn and set HEARTH_STUN_URLS=stun:your-turn-host:3478",
                )
            )
    elif not any(f.status is Status.PROBLEM and f.topic.startswith("STUN") for f in found):
        found.append(ok("STUN", f"{len(settings.stun_urls)} address(es), well formed"))
    return found


def check_turn_config(settings: Settings) -> Finding:
    topic = "TURN"
    if not settings.turn_urls:
        return warning(
            topic,
            "no TURN server: about one member in ten, behind a strict firewall or NAT, will "
            "see and hear nobody. Run coturn with use-auth-secret and set HEARTH_TURN_URLS "
            "and HEARTH_TURN_SECRET",
        )
    if settings.turn_secret is None:
        return problem(
            topic,
            "HEARTH_TURN_URLS is set but HEARTH_TURN_SECRET is not: set it to coturn's "
            "static-auth-secret",
        )
    return ok(topic, f"{len(settings.turn_urls)} server address(es), shared secret set")


# --- checks over the network ---


def _redis_where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


async def _aof_from_info(client: aioredis.Redis) -> bool:
    persistence = await client.info("persistence")
    return str(persistence.get("aof_enabled", "0")) == "1"


async def check_redis(settings: Settings, timeout: float = REDIS_TIMEOUT_SECONDS) -> list[Finding]:
    """Reachable, and append-only on (CONFIG GET, else INFO when CONFIG is renamed)."""
    url = settings.redis_url
    if url is None:
        return [ok("Redis", "none: one node, memory only. Fine for one node")]
    where = _redis_where(url)
    client = aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )
    try:
        async with asyncio.timeout(timeout * 3):
            await client.ping()
            try:
                appendonly = (await client.config_get("appendonly")).get("appendonly") == "yes"
                fsync: str | None = (await client.config_get("appendfsync")).get("appendfsync")
            except ResponseError:  # CONFIG renamed or not allowed: INFO still tells
                appendonly, fsync = await _aof_from_info(client), None
    except AuthenticationError:
        return [problem("Redis", f"{where} refused the password in HEARTH_REDIS_URL")]
    except (RedisError, OSError, TimeoutError):
        return [
            problem(
                "Redis",
                f"no answer from {where}: start Redis, or correct HEARTH_REDIS_URL",
            )
        ]
    finally:
        await client.aclose()
    reachable = ok("Redis", f"reachable at {where}")
    topic = "Redis persistence"
    if not appendonly:
        return [
            reachable,
            problem(
                topic,
                "append-only is off: if Redis restarts, meetings in progress lose their "
                "members' places and chat. Set `appendonly yes` in redis.conf (as in "
                "deploy/redis.conf)",
            ),
        ]
    if fsync is None:
        return [
            reachable,
            ok(topic, "append-only on (appendfsync unreadable: CONFIG is renamed; use everysec)"),
        ]
    if fsync not in SAFE_FSYNC:
        return [
            reachable,
            warning(
                topic,
                f"append-only on, but appendfsync {fsync}: a power cut can lose the last half "
                "minute of meetings. Set `appendfsync everysec` in redis.conf",
            ),
        ]
    return [reachable, ok(topic, f"append-only on, appendfsync {fsync}")]


def _turn_trouble(attempt: Attempt, url: str, timeout: float) -> str:
    """Plain words for an attempt with Hearth's own credential that did not allocate."""
    target = parse_ice_url(url)
    where = f"port {target.port}/{target.transport}"
    if attempt.outcome == "refused" and attempt.code == 401:
        return (
            "refused Hearth's credentials: HEARTH_TURN_SECRET must equal static-auth-secret "
            "in turnserver.conf (with use-auth-secret), and this machine's clock must be right"
        )
    if attempt.outcome == "refused":
        return f"refused the allocation (error {attempt.code}); see coturn's log"
    if attempt.outcome == "timeout":
        return (
            f"no answer within {timeout:g} s: is coturn running, and is {where} open in the "
            "firewall?"
        )
    if attempt.outcome == "unreachable":
        return f"could not connect to {target.host} on {where}: is coturn running there?"
    if attempt.outcome == "tls_untrusted":
        if attempt.code == CERT_EXPIRED:
            why = "has expired"
        elif attempt.code in CERT_NAME_MISMATCH:
            why = f"is not for {target.host} (the name in the URL must be on the certificate)"
        else:
            why = "does not come from an authority this machine (nor a browser) trusts"
        return (
            f"coturn's TLS certificate {why}: members' browsers will refuse it too. In "
            "turnserver.conf, point cert= and pkey= at a certificate for this name from a "
            "public authority such as Let's Encrypt (the one for your site can be reused if "
            "the name matches)"
        )
    if attempt.outcome == "tls_failed":
        return (
            f"the TLS handshake failed: coturn needs a valid certificate for {target.host} "
            "(cert= and pkey= in turnserver.conf)"
        )
    return "answered in a way Hearth did not understand; see coturn's log"


async def check_turn_server(
    settings: Settings, url: str, now: float, timeout: float = TURN_TIMEOUT_SECONDS
) -> Finding:
    """A real allocation with a credential from `ice_servers()`, then a forged one that
    must be refused."""
    topic = f"TURN {url}"
    try:
        target = parse_ice_url(url)
    except ValueError:
        return problem(topic, "not checked: the address is malformed (see above)")
    servers = [s for s in ice_servers(settings, now, CHECK_MEMBER) if "username" in s]
    if not servers:
        return problem(topic, "not checked: HEARTH_TURN_SECRET is not set")
    username, credential = servers[0]["username"], servers[0]["credential"]
    assert isinstance(username, str)
    assert isinstance(credential, str)
    real = await try_allocation(target, username, credential, timeout)
    if real.outcome == "not_checked":
        return warning(topic, "TURN over DTLS cannot be checked from here; try it in a browser")
    if real.outcome != "allocated":
        return problem(topic, _turn_trouble(real, url, timeout))
    forged = await try_allocation(target, username, forged_credential(username), timeout)
    if forged.outcome == "allocated":
        return problem(
            topic,
            "accepts a forged credential, so anyone can use it as a relay: set use-auth-secret "
            "and static-auth-secret in turnserver.conf, and remove no-auth",
        )
    if forged.outcome != "refused":
        return warning(topic, "relays, but did not answer a forged credential; run again")
    return ok(topic, "relays with Hearth's credentials and refuses forged ones")


async def run_checks(settings: Settings, now: float) -> list[Finding]:
    """Every check, in a fixed order; the network ones run concurrently."""
    turn_config = check_turn_config(settings)
    turn_urls = settings.turn_urls if turn_config.status is Status.OK else ()
    redis, turn = await asyncio.gather(
        check_redis(settings),
        asyncio.gather(*(check_turn_server(settings, url, now) for url in turn_urls)),
    )
    return [
        check_public_url(settings),
        check_admin_token(settings),
        check_data_dir(settings),
        *redis,
        *check_ice_urls(settings),
        turn_config,
        *turn,
    ]


def summary(findings: list[Finding]) -> tuple[str, int]:
    """The closing line and the exit status: 1 when anything is a problem, else 0."""
    problems = sum(f.status is Status.PROBLEM for f in findings)
    warnings = sum(f.status is Status.WARNING for f in findings)
    if problems:
        return f"{problems} problem(s) to fix before people meet here.", 1
    if warnings:
        return f"Ready, with {warnings} warning(s) worth a look.", 0
    return "Ready: everything checked is fine.", 0


def run(flags: Mapping[str, str | None], env: Mapping[str, str], now: float) -> int:
    """`hearth check`: print every finding and the summary; return the exit status."""
    try:
        settings = load_settings(flags, env)
    except SettingsError as exc:  # its text never includes a secret value
        print(problem("Settings", f"{exc}").line())
        print("Fix this first: nothing else was checked.")
        return 2
    findings = asyncio.run(run_checks(settings, now))
    for finding in findings:
        print(finding.line())
    text, status = summary(findings)
    print(text, flush=True)
    return status
