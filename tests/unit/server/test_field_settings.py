"""The field settings (issue 16): a public URL beyond loopback, admin tokens worth the name,
trusted proxies, the head timeout; and the pure parts that use them (the Origin rule, the
wrong-token brake)."""

from __future__ import annotations

import secrets

import pytest

from server.admin_api import WrongTokenBrake
from server.settings import (
    MAKE_A_TOKEN,
    Settings,
    SettingsError,
    is_loopback_host,
    load_settings,
    validate_for_serve,
)
from server.ws import origin_allowed

# --- HEARTH_PUBLIC_URL beyond loopback ------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_a_loopback_node_needs_no_public_url(host: str) -> None:
    assert is_loopback_host(host)
    validate_for_serve(Settings(host=host))
    validate_for_serve(Settings(host=host, public_url="http://127.0.0.1:8000"))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "circle.example.org"])
def test_beyond_loopback_a_node_refuses_to_start_without_a_public_url(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(SettingsError) as caught:
        validate_for_serve(Settings(host=host))
    text = str(caught.value)
    assert text.startswith("HEARTH_PUBLIC_URL: ")
    assert "\n" not in text
    assert "https://" in text
    assert "camera" in text


def test_beyond_loopback_the_public_url_must_be_https() -> None:
    with pytest.raises(SettingsError, match="must be an https:// address"):
        validate_for_serve(Settings(host="0.0.0.0", public_url="http://circle.example.org"))
    validate_for_serve(Settings(host="0.0.0.0", public_url="https://circle.example.org"))


def test_room_commands_still_load_with_a_wildcard_host() -> None:
    # `hearth room create` takes --host too; only `serve` asks for the public URL.
    assert load_settings({"host": "0.0.0.0"}, {}).host == "0.0.0.0"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://circle.example.org", "https://circle.example.org"),
        ("https://Circle.Example.org:443", "https://circle.example.org"),
        ("https://circle.example.org:8443/base", "https://circle.example.org:8443"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_the_public_origin_is_what_a_browser_sends(url: str, origin: str) -> None:
    assert Settings(public_url=url).public_origin == origin
    assert Settings().public_origin is None


def test_https_is_only_an_https_public_url() -> None:
    assert Settings(public_url="https://c.example").https
    assert not Settings(public_url="http://c.example").https
    assert not Settings().https


# --- the admin token ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "a" * 16,  # long enough, one character
        "t" * 40,
        "abcabcabcabcabcabc",  # three distinct characters
        "0123456789012345",  # digits only: ~53 bits
        "short-token",
    ],
)
def test_a_guessable_admin_token_is_refused_with_a_way_to_make_one(token: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {"HEARTH_ADMIN_TOKEN": token})
    text = str(caught.value)
    assert text.startswith("HEARTH_ADMIN_TOKEN: ")
    assert MAKE_A_TOKEN in text
    assert token not in text


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), secrets.token_hex(16), "a-long-enough-admin-token"],
)
def test_a_random_admin_token_is_accepted(token: str) -> None:
    assert load_settings({}, {"HEARTH_ADMIN_TOKEN": token}).admin_token == token


# --- trusted proxies and the head timeout ---------------------------------------------------


def test_trusted_proxies_are_addresses_and_networks() -> None:
    s = load_settings({"trusted_proxies": "127.0.0.1, 10.0.0.0/8,::1, 192.168.1.7/24"}, {})
    assert s.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "192.168.1.0/24")
    assert Settings().trusted_proxies == ()


@pytest.mark.parametrize("raw", ["proxy.example", "10.0.0.0/33", "127.0.0.1;10.0.0.1"])
def test_a_bad_trusted_proxy_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^HEARTH_TRUSTED_PROXIES: "):
        load_settings({}, {"HEARTH_TRUSTED_PROXIES": raw})


def test_the_head_timeout_and_admin_brake_are_settings() -> None:
    s = load_settings(
        {}, {"HEARTH_HEAD_TIMEOUT_SECONDS": "2.5", "HEARTH_ADMIN_FAILURES_PER_MINUTE": "9"}
    )
    assert (s.head_timeout_seconds, s.admin_failures_per_minute) == (2.5, 9)
    assert (Settings().head_timeout_seconds, Settings().admin_failures_per_minute) == (10.0, 5)
    with pytest.raises(SettingsError, match=r"^--head-timeout-seconds: "):
        load_settings({"head_timeout_seconds": "0.5"}, {})


# --- the Origin rule ------------------------------------------------------------------------


def origin(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"x"), (b"origin", value)]


@pytest.mark.parametrize(
    "value",
    [b"http://127.0.0.1:8000", b"http://127.0.0.1", b"http://localhost:5173", b"http://[::1]:80"],
)
def test_without_a_public_url_loopback_pages_may_connect(value: bytes) -> None:
    assert origin_allowed(origin(value), None)


@pytest.mark.parametrize(
    "value",
    [
        b"https://evil.example",
        b"null",
        b"http://127.0.0.1.evil.example",
        b"http://localhost.evil.example:8000",
        b"https://127.0.0.1:8000",  # not a page this node serves without a public URL
        b"",
    ],
)
def test_without_a_public_url_other_pages_may_not(value: bytes) -> None:
    assert not origin_allowed(origin(value), None)


def test_with_a_public_url_only_its_origin_may_connect() -> None:
    public = "https://circle.example.org"
    assert origin_allowed(origin(b"https://circle.example.org"), public)
    assert origin_allowed(origin(b"HTTPS://Circle.Example.org"), public)
    assert not origin_allowed(origin(b"http://circle.example.org"), public)
    assert not origin_allowed(origin(b"https://circle.example.org:8443"), public)
    assert not origin_allowed(origin(b"http://127.0.0.1:8000"), public)
    # Two Origin headers: both must pass.
    both = [*origin(b"https://circle.example.org"), (b"origin", b"https://evil.example")]
    assert not origin_allowed(both, public)


def test_no_origin_is_a_non_browser_client_and_may_connect() -> None:
    assert origin_allowed([(b"host", b"x")], None)
    assert origin_allowed([], "https://circle.example.org")


# --- the wrong-token brake ------------------------------------------------------------------


def test_the_brake_holds_an_address_past_its_failures_for_the_rest_of_the_minute() -> None:
    brake = WrongTokenBrake(per_minute=5)
    for i in range(5):
        assert brake.wait("a", 100.0 + i) is None
        brake.failed("a", 100.0 + i)
    assert brake.wait("a", 105.0) == pytest.approx(55.0)  # until the first failure ages out
    assert brake.wait("b", 105.0) is None  # another address is not affected
    assert brake.wait("a", 159.9) == pytest.approx(0.1)
    assert brake.wait("a", 160.0) is None  # one more guess, then held again
    brake.failed("a", 160.0)
    assert brake.wait("a", 160.0) == pytest.approx(1.0)


def test_the_brake_forgets_idle_addresses() -> None:
    brake = WrongTokenBrake(per_minute=5)
    for n in range(100):
        brake.failed(f"10.0.0.{n}", 0.0)
    assert brake.tracked() == 100
    assert brake.wait("10.0.0.1", 61.0) is None
    assert brake.tracked() == 0
