"""`hearth check`'s checks, one misconfiguration at a time (server/host_check.py).

Each check must catch what it names: given a Settings with that one thing wrong, it reports a
PROBLEM (or a WARNING, for what works but is unwise) whose words say what to do, and never a
secret. Redis and TURN checks talk to a real redis-server and a real coturn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from server.host_check import (
    Finding,
    Status,
    check_admin_token,
    check_data_dir,
    check_ice_urls,
    check_public_url,
    check_redis,
    check_turn_config,
    check_turn_server,
    run_checks,
    summary,
)
from server.settings import Settings
from tests import coturn, redis_server
from tests.coturn import Coturn
from tests.redis_server import RedisServer, free_port
from tests.tools import missing_tool

GOOD_TOKEN = "kT3v9-Qm_x2LpZ8wR4nB7cY1sD6fH0jA"
SECRET = "turn-secret-for-unit-tests"


def statuses(findings: list[Finding]) -> list[Status]:
    return [f.status for f in findings]


# --- public address ---


def test_listening_beyond_loopback_without_a_public_url_is_a_problem() -> None:
    found = check_public_url(Settings(host="0.0.0.0"))
    assert found.status is Status.PROBLEM
    assert "HEARTH_PUBLIC_URL" in found.text


def test_a_plain_http_public_url_is_a_problem_beyond_loopback() -> None:
    found = check_public_url(Settings(host="0.0.0.0", public_url="http://circle.example.org"))
    assert found.status is Status.PROBLEM
    assert "https" in found.text


def test_an_https_public_url_is_fine() -> None:
    settings = Settings(host="0.0.0.0", public_url="https://circle.example.org")
    assert check_public_url(settings).status is Status.OK


def test_loopback_without_a_public_url_is_only_a_warning() -> None:
    found = check_public_url(Settings())
    assert found.status is Status.WARNING
    assert "http://127.0.0.1:8000" in found.text


def test_loopback_behind_a_plain_http_proxy_is_a_warning() -> None:
    found = check_public_url(Settings(public_url="http://circle.example.org"))
    assert found.status is Status.WARNING
    assert check_public_url(Settings(public_url="http://localhost:8000")).status is Status.OK


# --- admin token ---


def test_no_admin_token_is_a_warning_saying_how_to_make_one() -> None:
    found = check_admin_token(Settings())
    assert found.status is Status.WARNING
    assert "secrets.token_urlsafe" in found.text


@pytest.mark.parametrize("token", ["short-token", "a" * 40, "abababababababababab", "x y " * 8])
def test_a_guessable_admin_token_is_a_problem_and_is_never_shown(token: str) -> None:
    found = check_admin_token(Settings(admin_token=token))
    assert found.status is Status.PROBLEM
    assert token not in found.line()


def test_a_random_admin_token_is_fine_and_is_never_shown() -> None:
    found = check_admin_token(Settings(admin_token=GOOD_TOKEN))
    assert found.status is Status.OK
    assert GOOD_TOKEN not in found.line()


# --- data directory ---


def test_a_writable_data_dir_is_fine_and_left_as_it_was(tmp_path: Path) -> None:
    assert check_data_dir(Settings(data_dir=tmp_path)).status is Status.OK
    assert list(tmp_path.iterdir()) == []


def test_a_missing_data_dir_under_a_writable_parent_is_fine(tmp_path: Path) -> None:
    found = check_data_dir(Settings(data_dir=tmp_path / "new" / "data"))
    assert found.status is Status.OK
    assert "will create" in found.text
    assert not (tmp_path / "new").exists()


def test_a_data_dir_under_a_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    found = check_data_dir(Settings(data_dir=tmp_path / "file" / "data"))
    assert found.status is Status.PROBLEM
    assert "HEARTH_DATA_DIR" in found.text


def test_a_data_dir_nobody_may_write_is_a_problem() -> None:
    # procfs refuses new files even to root, so this holds whoever runs the tests.
    found = check_data_dir(Settings(data_dir=Path("/proc")))
    assert found.status is Status.PROBLEM
    assert "cannot write" in found.text


def test_the_data_dir_does_not_matter_with_redis() -> None:
    settings = Settings(data_dir=Path("/proc"), redis_url="redis://127.0.0.1:1/0")
    assert check_data_dir(settings).status is Status.OK


# --- STUN and TURN addresses ---


@pytest.mark.parametrize(
    ("stun", "turn"),
    [
        (("stun://stun.example.org",), ()),
        (("stun:stun.example.org:99999",), ()),
        (("stun:stun.example.org?transport=udp",), ()),
        (("stun:",), ()),
        ((), ("turn:turn.example.org?transport=sctp",)),
        ((), ("turn:[::1:3478",)),
    ],
)
def test_a_malformed_ice_url_is_a_problem(stun: tuple[str, ...], turn: tuple[str, ...]) -> None:
    settings = Settings(stun_urls=stun, turn_urls=turn, turn_secret="s")
    found = check_ice_urls(settings)
    bad = [f for f in found if f.status is Status.PROBLEM]
    assert len(bad) == 1
    assert (stun + turn)[0] in bad[0].topic
    assert "browsers refuse" in bad[0].text


def test_well_formed_ice_urls_are_fine() -> None:
    settings = Settings(
        stun_urls=("stun:stun.example.org", "stun:[2001:db8::1]:3478"),
        turn_urls=("turn:turn.example.org:3478?transport=tcp", "turns:turn.example.org:443"),
        turn_secret="s",
    )
    assert statuses(check_ice_urls(settings)) == [Status.OK]


def test_no_stun_and_no_turn_is_a_warning() -> None:
    assert statuses(check_ice_urls(Settings())) == [Status.WARNING]


def test_no_turn_is_a_warning_about_one_member_in_ten() -> None:
    found = check_turn_config(Settings())
    assert found.status is Status.WARNING
    assert "one member in ten" in found.text


def test_turn_urls_without_a_secret_are_a_problem() -> None:
    found = check_turn_config(Settings(turn_urls=("turn:127.0.0.1:3478",)))
    assert found.status is Status.PROBLEM
    assert "HEARTH_TURN_SECRET" in found.text


# --- Redis, real ---


@pytest.fixture
def redis_dir(tmp_path: Path) -> Path:
    if not redis_server.available():
        missing_tool("no redis-server")
    return tmp_path / "redis"


async def test_no_redis_is_one_node_memory_only() -> None:
    found = await check_redis(Settings())
    assert statuses(found) == [Status.OK]
    assert "one node, memory only" in found[0].text


async def test_an_unreachable_redis_is_a_problem_and_its_password_is_not_shown() -> None:
    found = await check_redis(
        Settings(redis_url=f"redis://:hunter2hunter2@127.0.0.1:{free_port()}/0"), timeout=1
    )
    assert statuses(found) == [Status.PROBLEM]
    assert "no answer" in found[0].text
    assert "hunter2" not in found[0].line()


async def test_redis_with_append_only_is_fine(redis_dir: Path) -> None:
    with RedisServer.launch(redis_dir) as redis:
        found = await check_redis(Settings(redis_url=redis.url))
    assert statuses(found) == [Status.OK, Status.OK]
    assert "appendfsync everysec" in found[1].text


async def test_redis_without_append_only_is_a_problem(redis_dir: Path) -> None:
    with RedisServer.launch(redis_dir, "--appendonly", "no") as redis:
        found = await check_redis(Settings(redis_url=redis.url))
    assert statuses(found) == [Status.OK, Status.PROBLEM]
    assert "appendonly yes" in found[1].text


async def test_redis_that_never_fsyncs_is_a_warning(redis_dir: Path) -> None:
    with RedisServer.launch(redis_dir, "--appendfsync", "no") as redis:
        found = await check_redis(Settings(redis_url=redis.url))
    assert statuses(found) == [Status.OK, Status.WARNING]
    assert "appendfsync everysec" in found[1].text


@pytest.mark.parametrize(("appendonly", "expected"), [("yes", Status.OK), ("no", Status.PROBLEM)])
async def test_with_config_renamed_append_only_is_read_from_info(
    redis_dir: Path, appendonly: str, expected: Status
) -> None:
    extra = ("--appendonly", appendonly, "--rename-command", "CONFIG", "")
    with RedisServer.launch(redis_dir, *extra) as redis:
        found = await check_redis(Settings(redis_url=redis.url))
    assert statuses(found) == [Status.OK, expected]
    if appendonly == "yes":
        assert "CONFIG is renamed" in found[1].text


# --- TURN, real ---


class OpenCoturn(Coturn):
    """A coturn that relays for anyone: what a host gets by forgetting use-auth-secret."""

    def auth_lines(self) -> list[str]:
        return ["no-auth"]


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path / "coturn", SECRET) as server:
        yield server


def turn_settings(turn: Coturn, secret: str = SECRET) -> Settings:
    return Settings(turn_urls=(turn.url_udp, turn.url_tcp), turn_secret=secret)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_turn_server_sharing_the_secret_is_fine(turn: Coturn, transport: str) -> None:
    url = turn.url_udp if transport == "udp" else turn.url_tcp
    found = await check_turn_server(turn_settings(turn), url, time.time())
    assert found.status is Status.OK, found
    assert "refuses forged ones" in found.text


async def test_a_turn_server_with_another_secret_is_a_problem(turn: Coturn) -> None:
    settings = turn_settings(turn, secret="not-the-secret-coturn-has")
    found = await check_turn_server(settings, turn.url_udp, time.time())
    assert found.status is Status.PROBLEM
    assert "static-auth-secret" in found.text
    assert "not-the-secret-coturn-has" not in found.line()
    assert SECRET not in found.line()


async def test_a_clock_far_off_is_caught_as_refused_credentials(turn: Coturn) -> None:
    two_hours_ago = time.time() - 7200  # every credential made "now" has already expired
    found = await check_turn_server(turn_settings(turn), turn.url_udp, two_hours_ago)
    assert found.status is Status.PROBLEM
    assert "clock" in found.text


async def test_a_turn_server_that_accepts_forged_credentials_is_a_problem(tmp_path: Path) -> None:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with OpenCoturn.launch(tmp_path / "open", SECRET) as turn:
        found = await check_turn_server(turn_settings(turn), turn.url_udp, time.time())
    assert found.status is Status.PROBLEM
    assert "forged" in found.text


async def test_a_turn_server_that_is_not_there_is_a_problem() -> None:
    port = free_port()
    settings = Settings(turn_urls=(f"turn:127.0.0.1:{port}?transport=tcp",), turn_secret="s")
    found = await check_turn_server(settings, settings.turn_urls[0], time.time(), timeout=2)
    assert found.status is Status.PROBLEM
    assert "could not connect" in found.text
    udp = replace(settings, turn_urls=(f"turn:127.0.0.1:{port}?transport=udp",))
    found = await check_turn_server(udp, udp.turn_urls[0], time.time(), timeout=1)
    assert found.status is Status.PROBLEM
    assert "no answer within 1 s" in found.text


async def test_turn_over_dtls_is_said_to_be_unchecked() -> None:
    settings = Settings(turn_urls=("turns:127.0.0.1:5349?transport=udp",), turn_secret="s")
    found = await check_turn_server(settings, settings.turn_urls[0], time.time())
    assert found.status is Status.WARNING
    assert "cannot be checked" in found.text


# --- all together ---


async def test_a_fresh_checkout_is_ready_with_warnings(tmp_path: Path) -> None:
    findings = await run_checks(Settings(data_dir=tmp_path), time.time())
    assert Status.PROBLEM not in statuses(findings)
    text, status = summary(findings)
    assert status == 0
    assert "warning" in text


async def test_one_problem_makes_the_exit_status_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, stun_urls=("stun://nope",))
    text, status = summary(await run_checks(settings, time.time()))
    assert status == 1
    assert text.startswith("1 problem")
