"""The `hearth` command: serve a node, check its configuration, create and list rooms.

Rules of this module:
- Settings are built once, from flags and `HEARTH_*` variables (`server.settings`); a bad
  value, a bad room field or an unavailable mode prints one line and exits 2.
- Links carry tokens: they are printed to stdout with print(), for the person at the
  terminal, and never pass through the logger.
- `room` commands work with no node running: they open the same SQLite file the node uses
  (WAL mode lets both write). Only `room list` talks to a node, for live counts, and only
  when HEARTH_ADMIN_TOKEN is set; if no node answers within a second it shows "-".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from server import host_check
from server.app import create_app, hearth_version, open_store
from server.logs import configure_logging
from server.room_store import (
    DEFAULT_SHARE_SECONDS,
    IssuedTokens,
    RoomDef,
    RoomDefError,
    RoomStore,
)
from server.room_store_redis import RoomStoreUnavailable
from server.room_store_sqlite import StoreSchemaError
from server.schedule import CLI_HELP, WEEKDAYS, Schedule, ScheduleError, describe, parse_text
from server.settings import OPTIONS, Settings, SettingsError, load_settings

DEMO_NAME = "Demo circle"
DEMO_GUIDELINES = """\
What is shared here stays here.
Speak from your own experience, and for yourself.
Listen without fixing, advising or interrupting.
You may pass at any time; silence is welcome too.
Be gentle with yourself and with each other."""
DEMO_CRISIS = """\
If you are in danger or thinking about harming yourself, please call your local emergency \
number now, or a crisis line in your country. You can also send the facilitators a private \
"I need support" note at any time."""
LIVE_TIMEOUT_SECONDS = 1.0
STARTUP_FAILED = 3  # uvicorn's own exit code when the app fails to start


class CliError(Exception):
    """A one-line reason to stop; printed as `hearth: error: ...`, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth", description="A self-hostable meeting server for peer-led support groups."
    )
    parser.add_argument("--version", action="version", version=f"hearth {hearth_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run a node")
    limits = serve.add_argument_group("limits (each also HEARTH_<NAME>)")
    for option in OPTIONS:
        group = limits if option.limit else serve
        group.add_argument(option.flag, dest=option.name, metavar="VALUE", help=option.help)
    serve.add_argument(
        "--demo", action="store_true", help='create (or refresh the links of) "Demo circle"'
    )

    # `check` takes exactly serve's settings, so it checks what `serve` would run with.
    check = commands.add_parser(
        "check", help="check this node's configuration (Redis, TURN, addresses) and say what to fix"
    )
    check_limits = check.add_argument_group("limits (each also HEARTH_<NAME>)")
    for option in OPTIONS:
        group = check_limits if option.limit else check
        group.add_argument(option.flag, dest=option.name, metavar="VALUE", help=option.help)

    room = commands.add_parser("room", help="create and list rooms")
    room_commands = room.add_subparsers(dest="room_command", required=True, metavar="ACTION")
    create = room_commands.add_parser("create", help="create a room and print its links")
    create.add_argument("room_name", metavar="NAME", help="the room's name, 1 to 80 characters")
    create.add_argument("--guidelines", default="", metavar="TEXT", help="shown before joining")
    create.add_argument("--crisis", default="", metavar="TEXT", help="crisis resources to show")
    create.add_argument(
        "--share-seconds",
        type=int,
        default=DEFAULT_SHARE_SECONDS,
        metavar="N",
        help=f"default time per share (default {DEFAULT_SHARE_SECONDS})",
    )
    create.add_argument(
        "--schedule", metavar="WHEN", help=f"the group's regular meeting time, {CLI_HELP}"
    )
    listing = room_commands.add_parser("list", help="list rooms and their live counts")
    rotate = room_commands.add_parser("rotate", help="new links for a room; old ones stop")
    rotate.add_argument("room_id", metavar="ROOM_ID")
    for sub in (create, listing, rotate):
        for option in OPTIONS:
            if option.for_rooms:
                sub.add_argument(option.flag, dest=option.name, metavar="VALUE", help=option.help)
    return parser


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[RoomStore]:
    """The room store (Redis with --redis, else the data directory's SQLite file); a
    problem reaching it becomes one clear line."""
    store = open_store(settings)
    where = settings.redis_url if settings.redis_url else str(settings.data_dir)
    try:
        yield store
    except (OSError, sqlite3.Error, StoreSchemaError, RoomStoreUnavailable) as exc:
        raise CliError(f"room store {where}: {exc}") from None
    finally:
        await store.close()


def _print_links(settings: Settings, room: RoomDef, tokens: IssuedTokens) -> None:
    print(f"Room: {room.name} (id {room.id})")
    if room.schedule is not None:
        print(f"Meets: {describe(room.schedule)}")
    print(f"Facilitator link: {settings.room_url(room.id, tokens.facilitator)}")
    print(f"Invite link: {settings.room_url(room.id, tokens.invite)}")
    print(
        "These links are shown only now and when you rotate them (hearth room rotate "
        f"{room.id}): Hearth keeps only hashes of their tokens. Keep the facilitator link "
        "for facilitators; send the invite link to members.",
        flush=True,
    )


async def _room_create(settings: Settings, args: argparse.Namespace) -> None:
    try:
        schedule = None if args.schedule is None else parse_text(args.schedule)
    except ScheduleError as exc:  # before opening the store: a typo changes nothing
        field = "schedule" if exc.field == "schedule" else f"schedule.{exc.field}"
        raise CliError(f"{field}: {exc.message}") from None
    async with _opened(settings) as store:
        room, tokens = await store.create(
            args.room_name,
            guidelines=args.guidelines,
            crisis=args.crisis,
            share_seconds=args.share_seconds,
            schedule=schedule,
        )
    _print_links(settings, room, tokens)


async def _room_rotate(settings: Settings, room_id: str) -> None:
    async with _opened(settings) as store:
        rotated = await store.rotate(room_id)
    if rotated is None:
        raise CliError(f"no room with id {room_id!r}")
    _print_links(settings, *rotated)


def _node_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def _live_counts(settings: Settings) -> dict[str, tuple[int, int]] | None:
    """Ask the local node for live counts; None when it cannot or will not answer."""
    if settings.admin_token is None:
        return None
    request = urllib.request.Request(
        f"{_node_url(settings)}/api/rooms",
        headers={"Authorization": f"Bearer {settings.admin_token}"},
    )
    # No proxies: the admin token must go to this machine and nowhere else.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=LIVE_TIMEOUT_SECONDS) as answer:
            body = json.loads(answer.read())
        return {
            str(room["id"]): (int(room["live"]["members"]), int(room["live"]["waiting"]))
            for room in body["rooms"]
        }
    except (OSError, ValueError, KeyError, TypeError):  # no node, or not one we understand
        return None


def _meets_short(schedule: Schedule | None) -> str:
    """A room's regular time in a table cell, in `--schedule`'s own words (the length and a
    first date left out): "Tue 19:00 weekly Europe/Berlin"; "-" for none."""
    if schedule is None:
        return "-"
    rhythm = "weekly" if schedule.every_weeks == 1 else "fortnightly"
    day = WEEKDAYS[schedule.weekday][:3].title()
    return f"{day} {schedule.time.strftime('%H:%M')} {rhythm} {schedule.timezone}"


async def _room_list(settings: Settings) -> None:
    async with _opened(settings) as store:
        rooms = await store.list()
    if not rooms:
        print('No rooms yet. Create one with: hearth room create "NAME"')
        return
    live = _live_counts(settings)
    width = max(len(room.id) for room in rooms)
    # The MEETS column only when some room has a regular time: the table stays as it was for
    # scripts that read it without one, and the name (with its spaces) is always last.
    meets = {room.id: _meets_short(room.schedule) for room in rooms}
    meets_width = (
        max(len(text) for text in meets.values())
        if any(room.schedule is not None for room in rooms)
        else 0
    )
    meets_head = f"{'MEETS':<{meets_width}}  " if meets_width else ""
    print(f"{'ID':<{width}}  {'MEMBERS':>7}  {'WAITING':>7}  {meets_head}NAME")
    for room in rooms:
        counts = (live or {}).get(room.id)
        members, waiting = (str(n) for n in counts) if counts is not None else ("-", "-")
        when = f"{meets[room.id]:<{meets_width}}  " if meets_width else ""
        print(f"{room.id:<{width}}  {members:>7}  {waiting:>7}  {when}{room.name}")
    if live is None:  # on stderr: the table on stdout stays the same for scripts
        why = (
            "set HEARTH_ADMIN_TOKEN to the node's to see them"
            if settings.admin_token is None
            else f"no node answered at {_node_url(settings)}"
        )
        print(f"(live counts: {why})", file=sys.stderr)


async def _before_serving(settings: Settings, demo: bool) -> None:
    """Open the store once before the server starts, so a bad data directory is one clear
    line here rather than a failed start-up; with `demo`, make or refresh the demo room."""
    async with _opened(settings) as store:
        rooms = await store.list()
        if not demo:
            return
        existing = [room for room in rooms if room.name == DEMO_NAME]
        # Only hashes are kept, so the way to print working links again is to rotate.
        issued = await store.rotate(existing[0].id) if existing else None
        if issued is None:
            issued = await store.create(DEMO_NAME, guidelines=DEMO_GUIDELINES, crisis=DEMO_CRISIS)
    _print_links(settings, *issued)


def _serve(settings: Settings, demo: bool) -> int:
    import uvicorn  # here, not at the top: `hearth room ...` need not load a server

    from server.drain import DrainingServer
    from server.settings import validate_for_serve
    from server.ws import WebSocketEndpoint
    from server.ws_protocol import http_protocol_class, protocol_class

    validate_for_serve(settings)  # before anything starts: one line and exit 2
    configure_logging(settings.log_format)
    asyncio.run(_before_serving(settings, demo))
    limits = settings.limits
    app = create_app(settings)
    # /ws goes straight to its endpoint, without Starlette's stack (server/ws_protocol.py).
    direct = WebSocketEndpoint(lambda _scope: app.state.signaling, settings.public_origin)
    # X-Forwarded-For only from the configured proxies (uvicorn would believe 127.0.0.1 by
    # default: anyone on the machine, or any local process, could forge its address).
    trusted = list(settings.trusted_proxies)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=protocol_class(limits.outbound_bytes, direct),
        ws_max_size=limits.frame_bytes,
        ws_ping_interval=limits.ping_interval_seconds,
        ws_ping_timeout=limits.ping_timeout_seconds,
        ws_per_message_deflate=False,  # docs/decisions/003-websocket-settings.md
        access_log=False,  # who came when is nobody's business; see server/logs.py
        log_config=None,  # logging is ours: configure_logging above
        loop="uvloop",
        # uvicorn's httptools protocol, without a cycle per upgrade, its request head bounded
        http=http_protocol_class(
            settings.head_timeout_seconds, limits.connections_per_ip, settings.trusted_proxies
        ),
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,  # never None: uvicorn would read FORWARDED_ALLOW_IPS
        lifespan="on",
        server_header=False,
    )
    server = DrainingServer(config, app, settings.drain_seconds)  # SIGTERM drains
    server.run()
    return 0 if server.started else STARTUP_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flags = {option.name: getattr(args, option.name, None) for option in OPTIONS}
    if args.command == "check":  # it reports a bad setting itself, as one of its findings
        return host_check.run(flags, os.environ, time.time())
    try:
        settings = load_settings(flags, os.environ)
        if args.command == "serve":
            return _serve(settings, demo=bool(args.demo))
        if args.room_command == "create":
            asyncio.run(_room_create(settings, args))
        elif args.room_command == "rotate":
            asyncio.run(_room_rotate(settings, args.room_id))
        else:
            asyncio.run(_room_list(settings))
    except (SettingsError, RoomDefError, CliError) as exc:
        print(f"hearth: error: {exc}", file=sys.stderr)
        return 2
    return 0
