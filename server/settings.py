"""A node's configuration: one frozen `Settings`, built once at start, then passed down.

Rules of this module:
- Every setting has a flag and a `HEARTH_*` twin, listed once in `OPTIONS`; the CLI builds its
  flags from that table, so a setting cannot exist on one side only.
- Precedence is flag, then environment, then default. An empty value counts as absent, so
  `HEARTH_REDIS_URL=` in an env file means "not set", as hosts expect.
- Every value is parsed and checked here, once. A bad value raises `SettingsError` whose text
  is one line naming the flag or variable; the CLI prints it and exits 2. Secret values
  (admin token, TURN secret) are never echoed back in an error.
- Nothing else in the process reads `os.environ` for configuration.
- Checks that only matter to a listening node (a public URL when bound beyond loopback) live
  in `validate_for_serve`, so `hearth room ...`, which takes the same --host, still works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from signaling.limits import Limits
from signaling.node import IcePolicy  # "relay" hides members' addresses; it needs TURN

LogFormat = Literal["auto", "json", "console"]
IceServer = dict[str, str | list[str]]

ENV_PREFIX = "HEARTH_"
# An admin token guards every room definition; a short one is guessable over the network.
MIN_ADMIN_TOKEN_CHARS = 16
MIN_ADMIN_TOKEN_BITS = 64  # estimated as length x log2(the character classes' sizes)
MIN_ADMIN_TOKEN_DISTINCT = 8  # "aaaaaaaaaaaaaaaa" is long and uses one class, yet one guess
MAKE_A_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
LOOPBACK_NAMES = frozenset({"localhost"})


class SettingsError(ValueError):
    """A configuration value is missing, malformed or out of range; `str()` is one line."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(source, problem)
        self.source = source
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".data")
    redis_url: str | None = None  # None: embedded memory mode, one node
    admin_token: str | None = None  # None: the admin API answers 401 to everything
    grace_seconds: float = 60.0
    # On SIGTERM, how long the node waits for its members' sockets to close and for
    # commands under way to finish before it exits (server/drain.py).
    drain_seconds: float = 10.0
    public_url: str | None = None  # None: links are built from host and port
    log_format: LogFormat = "auto"
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_seconds: int = 3600
    ice_policy: IcePolicy = "all"
    # The pre-join connection check's echo peer (server/echo.py).
    check_seconds: float = 15.0
    check_peers: int = 4  # 0 turns the check off: every request answers busy
    check_per_minute: int = 6
    # Peers whose X-Forwarded-For is believed (IPs or networks); empty: the TCP peer is the
    # client, whatever the header says, so nobody can forge their way past a per-address cap.
    trusted_proxies: tuple[str, ...] = ()
    head_timeout_seconds: float = 10.0  # to finish a request's head (server/ws_protocol.py)
    admin_failures_per_minute: int = 5  # wrong admin tokens from one address before a 429
    limits: Limits = field(default_factory=Limits)

    @property
    def base_url(self) -> str:
        """Where people reach this node: `public_url`, or one derived from host and port."""
        if self.public_url is not None:
            return self.public_url
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a wildcard bind address is not somewhere a browser can go
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def public_origin(self) -> str | None:
        """The Origin a browser sends from `public_url` (scheme://host[:port], the default
        port left out as browsers do), or None without a public URL."""
        if self.public_url is None:
            return None
        parts = urlsplit(self.public_url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"
        port = parts.port
        default = 443 if scheme == "https" else 80
        return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"

    @property
    def https(self) -> bool:
        """People reach this node over TLS (so browsers may be told to insist on it)."""
        return self.public_url is not None and self.public_url.startswith("https://")

    def room_url(self, room_id: str, token: str) -> str:
        """An invite or facilitator link; the token rides in the fragment, which browsers
        never send, so proxies and access logs never see it."""
        return f"{self.base_url}/r/{room_id}#{token}"


# --- parsers: each takes the raw text and returns the value or raises ValueError(problem) ---


def _text(raw: str) -> str:
    return raw


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse


def _float_at_least(low: float, *, strict: bool) -> Callable[[str], float]:
    bound = f"greater than {low:g}" if strict else f"at least {low:g}"

    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"must be a number {bound}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise ValueError(f"must be a number {bound}")
        return value

    return parse


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def token_bits(token: str) -> float:
    """A rough, generous estimate of a token's entropy: its length times log2 of the sizes
    of the character classes it uses (lower, upper, digits, the rest of printable ASCII).
    It cannot see patterns, so it is a floor on carelessness, not a proof of strength."""
    pool = 0
    pool += 26 if any(c.islower() for c in token) else 0
    pool += 26 if any(c.isupper() for c in token) else 0
    pool += 10 if any(c.isdigit() for c in token) else 0
    pool += 33 if any(not c.isalnum() for c in token) else 0
    return len(token) * math.log2(pool) if pool else 0.0


def _admin_token(raw: str) -> str:
    if len(raw) < MIN_ADMIN_TOKEN_CHARS or any(c.isspace() for c in raw):
        raise ValueError(
            f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters with no spaces; "
            f"make one with: {MAKE_A_TOKEN}"
        )
    if len(set(raw)) < MIN_ADMIN_TOKEN_DISTINCT or token_bits(raw) < MIN_ADMIN_TOKEN_BITS:
        raise ValueError(f"is too easy to guess; make one with: {MAKE_A_TOKEN}")
    return raw


def _public_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or len(raw.split("://", 1)[1]) == 0:
        raise ValueError("must be an http:// or https:// address")
    return raw.rstrip("/")


def _networks(raw: str) -> tuple[str, ...]:
    found = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:  # a bare address is a network of one; "10.0.0.0/8" a range
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError("must be comma-separated IP addresses or networks") from None
    return tuple(found)


def _log_format(raw: str) -> LogFormat:
    if raw not in ("auto", "json", "console"):
        raise ValueError("must be one of auto, json, console")
    return cast(LogFormat, raw)


def _ice_policy(raw: str) -> IcePolicy:
    if raw not in ("all", "relay"):
        raise ValueError("must be all or relay")
    return cast(IcePolicy, raw)


def _url_list(*schemes: str) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        urls = tuple(part.strip() for part in raw.split(",") if part.strip())
        for url in urls:
            if not url.startswith(schemes):
                names = " or ".join(schemes)
                raise ValueError(f"each comma-separated address must start with {names}")
        return urls

    return parse


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its flag, its variable, how its text is parsed, and who may use it."""

    name: str  # the Settings or Limits field
    flag: str
    parse: Callable[[str], object]
    help: str
    secret: bool = False  # never echo the value in an error
    for_rooms: bool = False  # also offered by `hearth room ...`, not only by `serve`
    limit: bool = False  # a field of `Limits`, not of `Settings`

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _limit_options() -> tuple[Option, ...]:
    hints = typing.get_type_hints(Limits)
    options = []
    for f in fields(Limits):
        kind = hints[f.name]
        parse: Callable[[str], object]
        # A limit of zero would lock every member out, so every limit must be positive.
        if kind is int:
            parse = _int_in(1, 2**31 - 1)
        elif kind is float:
            parse = _float_at_least(0.0, strict=True)
        else:  # pragma: no cover - a new Limits field of another type needs a parser here
            raise TypeError(f"Limits.{f.name}: no parser for {kind!r}")
        flag = "--" + f.name.replace("_", "-")
        options.append(Option(f.name, flag, parse, f"limit (default {f.default})", limit=True))
    return tuple(options)


OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", _text, "address to bind (default 127.0.0.1)", for_rooms=True),
    Option("port", "--port", _int_in(1, 65535), "port to bind (default 8000)", for_rooms=True),
    Option(
        "data_dir",
        "--data-dir",
        _path,
        "room definitions live here (default ./.data)",
        for_rooms=True,
    ),
    Option(
        "redis_url",
        "--redis",
        _redis_url,
        "Redis URL for several nodes (default: none, one node, memory only)",
        for_rooms=True,
    ),
    Option(
        "public_url",
        "--public-url",
        _public_url,
        "address people use to reach this node, for printed links (default http://HOST:PORT)",
        for_rooms=True,
    ),
    Option(
        "admin_token",
        "--admin-token",
        _admin_token,
        "bearer token of the admin API (prefer HEARTH_ADMIN_TOKEN: flags show up in `ps`)",
        secret=True,
    ),
    Option(
        "grace_seconds",
        "--grace-seconds",
        _float_at_least(0.0, strict=False),
        "how long a dropped member keeps their seat (default 60)",
    ),
    Option(
        "drain_seconds",
        "--drain-seconds",
        _float_at_least(0.0, strict=False),
        "on SIGTERM, the longest wait for members to move before exiting (default 10)",
    ),
    Option("log_format", "--log-format", _log_format, "auto, json or console (default auto)"),
    Option("stun_urls", "--stun-urls", _url_list("stun:", "stuns:"), "comma-separated STUN URLs"),
    Option("turn_urls", "--turn-urls", _url_list("turn:", "turns:"), "comma-separated TURN URLs"),
    Option(
        "turn_secret",
        "--turn-secret",
        _text,
        "shared secret of the TURN REST scheme (prefer HEARTH_TURN_SECRET)",
        secret=True,
    ),
    Option(
        "turn_ttl_seconds",
        "--turn-ttl-seconds",
        _int_in(60, 7 * 24 * 3600),
        "lifetime of TURN credentials (default 3600)",
    ),
    Option(
        "ice_policy",
        "--ice-policy",
        _ice_policy,
        "all, or relay: media only through TURN, hiding members' addresses (default all)",
    ),
    Option(
        "check_seconds",
        "--check-seconds",
        _float_at_least(1.0, strict=False),
        "longest life of one pre-join connection check's echo peer (default 15)",
    ),
    Option(
        "check_peers",
        "--check-peers",
        _int_in(0, 1000),
        "echo peers alive at once; more checks answer busy, 0 turns checks off (default 4)",
    ),
    Option(
        "check_per_minute",
        "--check-per-minute",
        _int_in(1, 10000),
        "connection checks one address may start a minute (default 6)",
    ),
    Option(
        "trusted_proxies",
        "--trusted-proxies",
        _networks,
        "comma-separated IPs or networks of your TLS proxy, whose X-Forwarded-For is believed "
        "(default: none, the header is ignored)",
    ),
    Option(
        "head_timeout_seconds",
        "--head-timeout-seconds",
        _float_at_least(1.0, strict=False),
        "time a client has to send a whole request head before it is closed (default 10)",
    ),
    Option(
        "admin_failures_per_minute",
        "--admin-failures-per-minute",
        _int_in(1, 10000),
        "wrong admin tokens from one address in a minute before it is answered 429 (default 5)",
    ),
    *_limit_options(),
)


def _describe(option: Option, raw: str) -> str:
    if option.secret:
        return ""
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    return f" (got {shown!r})"


def load_settings(flags: Mapping[str, str | None], env: Mapping[str, str]) -> Settings:
    """Build the node's Settings from raw flag values (keyed by option name; None when the
    flag was not given) and the environment. Raises SettingsError naming the first bad value.
    """
    values: dict[str, object] = {}
    limit_values: dict[str, object] = {}
    for option in OPTIONS:
        raw, source = flags.get(option.name), option.flag
        if not raw:
            raw, source = env.get(option.env), option.env
        if not raw:
            continue
        try:
            parsed = option.parse(raw)
        except ValueError as exc:
            raise SettingsError(source, f"{exc}{_describe(option, raw)}") from None
        (limit_values if option.limit else values)[option.name] = parsed
    # Types were checked by each option's parser; the table and the dataclasses agree by name.
    settings = Settings(**values)  # type: ignore[arg-type]
    if limit_values:
        settings = replace(settings, limits=replace(settings.limits, **limit_values))  # type: ignore[arg-type]
    if settings.limits.history_seconds < settings.grace_seconds:
        # A member back within the grace period must find the events they missed.
        raise SettingsError(
            "HEARTH_HISTORY_SECONDS",
            f"must be at least the grace period ({settings.grace_seconds:g} s)",
        )
    if settings.turn_urls and settings.turn_secret is None:
        raise SettingsError("HEARTH_TURN_URLS", "needs HEARTH_TURN_SECRET (or --turn-secret)")
    if settings.ice_policy == "relay" and not settings.turn_urls:
        # Relay-only with no relay: no call could ever connect.
        raise SettingsError("HEARTH_ICE_POLICY", "relay needs HEARTH_TURN_URLS (or --turn-urls)")
    return settings


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this machine can connect."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name other than localhost, or a wildcard such as ""
        return False


def validate_for_serve(settings: Settings) -> None:
    """What a node needs before it listens, beyond each value being well formed. Raises
    SettingsError with one line saying what to set and why."""
    if is_loopback_host(settings.host):
        return
    why = (
        "browsers allow camera and microphone only over https, and invite links and the "
        "WebSocket Origin check are built from it"
    )
    if settings.public_url is None:
        raise SettingsError(
            "HEARTH_PUBLIC_URL",
            f"required when --host is not loopback: set it (or --public-url) to the https:// "
            f"address members use, e.g. https://circle.example.org; {why}",
        )
    if not settings.https:
        raise SettingsError(
            "HEARTH_PUBLIC_URL",
            f"must be an https:// address when --host is not loopback; {why}",
        )


def ice_servers(settings: Settings, now: float, member: str) -> list[IceServer]:
    """The RTCIceServer list for one member's `welcome`.

    TURN credentials follow the TURN REST scheme coturn checks with `use-auth-secret`:
    the username is "<expiry>:<member>", the credential base64(HMAC-SHA1(secret, username)),
    so the TURN server needs no database and a leaked credential dies at its expiry.
    """
    servers: list[IceServer] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret is not None:
        username = f"{int(now) + settings.turn_ttl_seconds}:{member}"
        digest = hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
        credential = base64.b64encode(digest).decode("ascii")
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return servers
