"""STUN/TURN URL parsing and forged credentials (server/turn_probe.py).

The allocation itself is tried against a real coturn in tests/unit/server/test_host_check.py
and tests/integration/test_turn.py.
"""

from __future__ import annotations

import base64

import pytest

from server.turn_probe import IceUrl, forged_credential, parse_ice_url


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("stun:stun.example.org", IceUrl("stun", "stun.example.org", 3478, None)),
        ("stun:[2001:db8::1]:19302", IceUrl("stun", "2001:db8::1", 19302, None)),
        ("turn:t.example.org", IceUrl("turn", "t.example.org", 3478, "udp")),
        ("turn:t.example.org:80?transport=tcp", IceUrl("turn", "t.example.org", 80, "tcp")),
        ("turns:t.example.org", IceUrl("turns", "t.example.org", 5349, "tcp")),
        ("turns:t.example.org:443?transport=udp", IceUrl("turns", "t.example.org", 443, "udp")),
    ],
)
def test_urls_browsers_accept_parse(url: str, parsed: IceUrl) -> None:
    assert parse_ice_url(url) == parsed


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://t.example.org", "must start with"),
        ("stun://t.example.org", "//"),
        ("turn:t.example.org:0", "port"),
        ("turn:t.example.org:http", "port"),
        ("turn:t.example.org?transport=sctp", "transport"),
        ("turn:t.example.org?transport=udp&x=1", "transport"),
        ("stun:t.example.org?transport=udp", "STUN"),
        ("turn:", "host"),
        ("turn:user@t.example.org", "host"),
        ("turn:[::1", "IPv6"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_ice_url(url)


def test_a_forged_credential_has_the_right_shape_and_differs_each_time() -> None:
    one, two = forged_credential("1700000000:m"), forged_credential("1700000000:m")
    assert len(base64.b64decode(one)) == 20  # an HMAC-SHA1, like a real one
    assert one != two
