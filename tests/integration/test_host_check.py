"""`hearth check` as a host runs it: `python -m server check` in a subprocess, configured by
HEARTH_* variables and flags, against a real redis-server and a real coturn.

It prints one plain line per check and exits 0 when nothing is wrong, 1 when something is,
2 when a setting cannot even be read; it never prints the admin token or the TURN secret.
TURN over TLS ("turns:") is checked against coturn with a certificate from a throwaway CA,
trusted through SSL_CERT_FILE (OpenSSL's default verify paths, which the probe uses).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import coturn, redis_server
from tests.coturn import Coturn, make_ca
from tests.integration.nodes import ROOT, clean_env
from tests.redis_server import RedisServer
from tests.tools import missing_tool

ADMIN_TOKEN = "Zq8-hearth-check-admin-TOKEN-7f3k"
SECRET = "hearth-check-turn-secret-91xk"


def hearth_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "check", *args],
        cwd=ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def line(stdout: str, topic: str) -> str:
    """The one line about `topic` (its status first)."""
    found = [text for text in stdout.splitlines() if text.split(maxsplit=1)[-1].startswith(topic)]
    assert len(found) == 1, stdout
    return found[0]


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path_factory.mktemp("coturn"), SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def turn_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    with Coturn.launch(tmp_path_factory.mktemp("coturn-tls"), SECRET, tls=True) as server:
        yield server


@pytest.fixture
def redis_dir(tmp_path: Path) -> Path:
    if not redis_server.available():
        missing_tool("no redis-server")
    return tmp_path / "redis"


def host_env(tmp_path: Path, turn: Coturn, **extra: str) -> dict[str, str]:
    """A well-set host: public https address, a strong admin token, STUN and TURN."""
    return {
        "HEARTH_HOST": "0.0.0.0",
        "HEARTH_PUBLIC_URL": "https://circle.example.org",
        "HEARTH_ADMIN_TOKEN": ADMIN_TOKEN,
        "HEARTH_DATA_DIR": str(tmp_path / "data"),
        "HEARTH_STUN_URLS": f"stun:127.0.0.1:{turn.port}",
        "HEARTH_TURN_URLS": f"{turn.url_udp},{turn.url_tcp}",
        "HEARTH_TURN_SECRET": SECRET,
        **extra,
    }


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    for secret in (ADMIN_TOKEN, SECRET):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_a_well_set_host_with_redis_and_coturn_is_ready(
    tmp_path: Path, turn: Coturn, redis_dir: Path
) -> None:
    with RedisServer.launch(redis_dir) as redis:
        result = hearth_check(host_env(tmp_path, turn, HEARTH_REDIS_URL=redis.url))
    assert result.returncode == 0, result.stdout
    assert line(result.stdout, "Redis persistence").startswith("OK")
    assert "append-only on, appendfsync everysec" in result.stdout
    for url in (turn.url_udp, turn.url_tcp):
        assert line(result.stdout, f"TURN {url}") == (
            f"OK       TURN {url}: relays with Hearth's credentials and refuses forged ones"
        )
    assert "PROBLEM" not in result.stdout
    assert result.stdout.rstrip().endswith("Ready: everything checked is fine.")
    assert_no_secret(result)


def test_redis_without_append_only_fails_the_check(
    tmp_path: Path, turn: Coturn, redis_dir: Path
) -> None:
    with RedisServer.launch(redis_dir, "--appendonly", "no") as redis:
        result = hearth_check(host_env(tmp_path, turn, HEARTH_REDIS_URL=redis.url))
    assert result.returncode == 1
    persistence = line(result.stdout, "Redis persistence")
    assert persistence.startswith("PROBLEM")
    assert "append-only is off" in persistence
    assert "appendonly yes" in persistence
    assert "1 problem(s) to fix" in result.stdout


def test_a_turn_secret_other_than_coturns_fails_the_check(tmp_path: Path, turn: Coturn) -> None:
    wrong = "not-the-secret-coturn-was-given"
    result = hearth_check(host_env(tmp_path, turn, HEARTH_TURN_SECRET=wrong))
    assert result.returncode == 1
    for url in (turn.url_udp, turn.url_tcp):
        found = line(result.stdout, f"TURN {url}")
        assert found.startswith("PROBLEM")
        assert "refused Hearth's credentials" in found
        assert "static-auth-secret" in found
    assert wrong not in result.stdout
    assert_no_secret(result)


def test_turn_over_tls_with_a_trusted_certificate_is_ready(
    tmp_path: Path, turn_tls: Coturn
) -> None:
    env = host_env(
        tmp_path,
        turn_tls,
        HEARTH_TURN_URLS=f"{turn_tls.url_udp},{turn_tls.url_tls}",
        SSL_CERT_FILE=str(turn_tls.ca_path),
    )
    result = hearth_check(env)
    assert result.returncode == 0, result.stdout
    assert line(result.stdout, f"TURN {turn_tls.url_tls}") == (
        f"OK       TURN {turn_tls.url_tls}: relays with Hearth's credentials and refuses "
        "forged ones"
    )
    assert "PROBLEM" not in result.stdout
    assert_no_secret(result)


def test_turn_over_tls_with_an_untrusted_certificate_is_a_plain_problem(
    tmp_path: Path, turn_tls: Coturn
) -> None:
    # Another CA in SSL_CERT_FILE: whatever this machine's own store holds, the test CA is
    # not in it, as with a self-signed or a private-CA certificate on a host's coturn.
    other_ca, _, _ = make_ca(tmp_path / "other-ca", "Some other CA")
    env = host_env(
        tmp_path,
        turn_tls,
        HEARTH_TURN_URLS=f"{turn_tls.url_udp},{turn_tls.url_tls}",
        SSL_CERT_FILE=str(other_ca),
    )
    result = hearth_check(env)
    assert result.returncode == 1, result.stdout
    found = line(result.stdout, f"TURN {turn_tls.url_tls}")
    assert found.startswith("PROBLEM"), found
    assert "certificate does not come from an authority this machine" in found
    assert "browsers will refuse it too" in found
    assert "Traceback" not in result.stdout + result.stderr
    # Plain TURN on the same server is unaffected and still fine.
    assert line(result.stdout, f"TURN {turn_tls.url_udp}").startswith("OK")
    assert "1 problem(s) to fix" in result.stdout
    assert_no_secret(result)


def test_flags_work_as_for_serve_and_no_turn_is_a_warning(tmp_path: Path) -> None:
    result = hearth_check({}, "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1")
    assert result.returncode == 0, result.stdout
    assert line(result.stdout, "TURN").startswith("WARNING")
    assert "one member in ten" in result.stdout
    assert "one node, memory only" in result.stdout


def test_a_public_host_without_https_fails_the_check(tmp_path: Path) -> None:
    env = {"HEARTH_HOST": "0.0.0.0", "HEARTH_DATA_DIR": str(tmp_path / "data")}
    result = hearth_check(env, "--public-url", "http://circle.example.org")
    assert result.returncode == 1
    assert line(result.stdout, "Public address").startswith("PROBLEM")


def test_an_unreadable_setting_is_reported_without_its_value(tmp_path: Path) -> None:
    result = hearth_check({"HEARTH_ADMIN_TOKEN": "tooshort", "HEARTH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stdout.startswith("PROBLEM  Settings: HEARTH_ADMIN_TOKEN")
    assert "nothing else was checked" in result.stdout
    assert "tooshort" not in result.stdout + result.stderr


def test_help_shows_the_same_flags_as_serve() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "check", "--help"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    for flag in ("--redis", "--turn-urls", "--turn-secret", "--public-url", "--frame-bytes"):
        assert flag in result.stdout
