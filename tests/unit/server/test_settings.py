"""Settings: flag over environment over default, one-line errors naming the source."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from server.settings import OPTIONS, Settings, SettingsError, ice_servers, load_settings
from signaling.limits import Limits

TOKEN = "a-long-enough-admin-token"


def load(flags: dict[str, str | None] | None = None, **env: str) -> Settings:
    return load_settings(flags or {}, env)


def test_defaults() -> None:
    s = load()
    assert s == Settings()
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, Path(".data"))
    assert s.redis_url is None
    assert s.admin_token is None
    assert s.turn_secret is None
    assert s.grace_seconds == 60.0
    assert s.turn_ttl_seconds == 3600
    assert s.log_format == "auto"
    assert s.stun_urls == ()
    assert s.turn_urls == ()
    assert s.limits == Limits()
    assert s.base_url == "http://127.0.0.1:8000"


def test_environment_sets_values() -> None:
    s = load(
        HEARTH_HOST="0.0.0.0",
        HEARTH_PORT="9000",
        HEARTH_DATA_DIR="/srv/hearth",
        HEARTH_REDIS_URL="redis://localhost:6379/0",
        HEARTH_ADMIN_TOKEN=TOKEN,
        HEARTH_GRACE_SECONDS="2.5",
        HEARTH_PUBLIC_URL="https://circle.example.org/",
        HEARTH_LOG_FORMAT="json",
        HEARTH_STUN_URLS="stun:a.example:3478, stun:b.example:3478",
        HEARTH_TURN_URLS="turns:t.example:5349",
        HEARTH_TURN_SECRET="s3cret",
        HEARTH_TURN_TTL_SECONDS="600",
    )
    assert s.host == "0.0.0.0"
    assert s.port == 9000
    assert s.data_dir == Path("/srv/hearth")
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.admin_token == TOKEN
    assert s.grace_seconds == 2.5
    assert s.log_format == "json"
    assert s.public_url == "https://circle.example.org"  # trailing slash dropped
    assert s.stun_urls == ("stun:a.example:3478", "stun:b.example:3478")
    assert s.turn_urls == ("turns:t.example:5349",)
    assert s.turn_secret == "s3cret"
    assert s.turn_ttl_seconds == 600


def test_flag_wins_over_environment() -> None:
    s = load({"port": "9001", "grace_seconds": "1"}, HEARTH_PORT="9000", HEARTH_GRACE_SECONDS="7")
    assert s.port == 9001
    assert s.grace_seconds == 1.0


def test_empty_values_count_as_absent() -> None:
    s = load({"port": None, "redis_url": ""}, HEARTH_PORT="", HEARTH_REDIS_URL="")
    assert s.port == 8000
    assert s.redis_url is None


def test_every_limit_has_a_flag_and_variable_parsed_with_its_type() -> None:
    limit_options = {o.name: o for o in OPTIONS if o.limit}
    assert set(limit_options) == set(Limits.names())
    assert limit_options["frame_bytes"].flag == "--frame-bytes"
    assert limit_options["frame_bytes"].env == "HEARTH_FRAME_BYTES"
    s = load({"rate_per_second": "5.5"}, HEARTH_FRAME_BYTES="65536", HEARTH_RATE_PER_SECOND="1")
    assert s.limits.frame_bytes == 65536
    assert isinstance(s.limits.frame_bytes, int)
    assert s.limits.rate_per_second == 5.5
    assert isinstance(s.limits.rate_per_second, float)
    assert s.limits.chat_chars == Limits().chat_chars


def test_flags_and_variables_are_unique() -> None:
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    assert len({o.env for o in OPTIONS}) == len(OPTIONS)
    assert all(o.env.startswith("HEARTH_") and o.flag.startswith("--") for o in OPTIONS)


@pytest.mark.parametrize(
    ("flags", "env", "source"),
    [
        ({}, {"HEARTH_PORT": "eighty"}, "HEARTH_PORT"),
        ({"port": "70000"}, {}, "--port"),
        ({}, {"HEARTH_GRACE_SECONDS": "-1"}, "HEARTH_GRACE_SECONDS"),
        ({}, {"HEARTH_GRACE_SECONDS": "nan"}, "HEARTH_GRACE_SECONDS"),
        ({"redis_url": "localhost:6379"}, {}, "--redis"),
        ({}, {"HEARTH_PUBLIC_URL": "circle.example.org"}, "HEARTH_PUBLIC_URL"),
        ({"log_format": "xml"}, {}, "--log-format"),
        ({}, {"HEARTH_STUN_URLS": "http://nope"}, "HEARTH_STUN_URLS"),
        ({}, {"HEARTH_TURN_URLS": "stun:wrong"}, "HEARTH_TURN_URLS"),
        ({}, {"HEARTH_TURN_TTL_SECONDS": "5"}, "HEARTH_TURN_TTL_SECONDS"),
        ({}, {"HEARTH_FRAME_BYTES": "0"}, "HEARTH_FRAME_BYTES"),
        ({"frame_bytes": "1.5"}, {}, "--frame-bytes"),
        ({}, {"HEARTH_PING_TIMEOUT_SECONDS": "0"}, "HEARTH_PING_TIMEOUT_SECONDS"),
        ({}, {"HEARTH_TURN_URLS": "turn:t.example"}, "HEARTH_TURN_URLS"),  # needs a secret
        ({"grace_seconds": "120"}, {"HEARTH_HISTORY_SECONDS": "60"}, "HEARTH_HISTORY_SECONDS"),
        ({}, {"HEARTH_ICE_POLICY": "none"}, "HEARTH_ICE_POLICY"),
        ({"ice_policy": "Relay"}, {}, "--ice-policy"),
        ({}, {"HEARTH_ICE_POLICY": "relay"}, "HEARTH_ICE_POLICY"),  # relay-only needs TURN
    ],
)
def test_bad_values_name_their_source_in_one_line(
    flags: dict[str, str | None], env: dict[str, str], source: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags, env)
    text = str(caught.value)
    assert text.startswith(f"{source}: ")
    assert "\n" not in text


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load(HEARTH_ADMIN_TOKEN="short secret")
    assert str(caught.value).startswith("HEARTH_ADMIN_TOKEN: ")
    assert "short secret" not in str(caught.value)


def test_other_bad_values_are_shown() -> None:
    with pytest.raises(SettingsError, match="'eighty'"):
        load(HEARTH_PORT="eighty")


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_links_carry_the_token_in_the_fragment() -> None:
    assert Settings(port=9000).room_url("abc", "tok") == "http://127.0.0.1:9000/r/abc#tok"
    assert Settings(host="0.0.0.0").base_url == "http://127.0.0.1:8000"
    assert Settings(host="::1").base_url == "http://[::1]:8000"
    public = Settings(public_url="https://c.example")
    assert public.room_url("abc", "tok") == "https://c.example/r/abc#tok"


def test_ice_policy_is_all_unless_the_host_asks_for_relay_with_turn() -> None:
    assert load().ice_policy == "all"
    turn = {"HEARTH_TURN_URLS": "turn:t.example:3478", "HEARTH_TURN_SECRET": "s3cret"}
    assert load(**turn, HEARTH_ICE_POLICY="relay").ice_policy == "relay"
    assert load({"ice_policy": "all"}, **turn, HEARTH_ICE_POLICY="relay").ice_policy == "all"
    assert load({"ice_policy": "relay"}, **turn).ice_policy == "relay"
    with pytest.raises(SettingsError, match="relay needs HEARTH_TURN_URLS"):
        load(HEARTH_STUN_URLS="stun:s.example:3478", HEARTH_ICE_POLICY="relay")


def test_ice_servers_without_configuration_is_empty() -> None:
    assert ice_servers(Settings(), now=1000.0, member="m1") == []


def test_ice_servers_stun_as_is_and_turn_rest_credentials() -> None:
    s = Settings(
        stun_urls=("stun:s.example:3478",),
        turn_urls=("turn:t.example:3478", "turns:t.example:5349"),
        turn_secret="north",
        turn_ttl_seconds=600,
    )
    stun, turn = ice_servers(s, now=1_700_000_000.9, member="m7")
    assert stun == {"urls": ["stun:s.example:3478"]}
    assert turn["urls"] == ["turn:t.example:3478", "turns:t.example:5349"]
    assert turn["username"] == "1700000600:m7"
    expected = base64.b64encode(
        hmac.new(b"north", b"1700000600:m7", hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected
