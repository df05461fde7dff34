"""deploy/ checked by the tools that will run it, so a host never meets a typo first.

Caddy validates the Caddyfile, nginx tests its site inside a minimal nginx.conf, systemd
verifies the units, coturn starts on the shipped turnserver.conf and answers STUN, Redis
starts on deploy/redis.conf append-only, the compose files pass the Compose Specification's
JSON schema, the image's HEALTHCHECK command asks a real node, and the settings written in
deploy/ are settings a node really has and accepts.

Rules of this file:
- A missing tool skips its test on a developer's machine and FAILS it in CI (CI=true), where
  `make test` installs caddy, nginx, coturn and systemd.
- Everything started listens on loopback, in a temporary directory, and is stopped by the
  test; every wait is bounded.
- Placeholders (the domain, the secrets) are filled with throwaway test values.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
import yaml
from aioice import stun, turn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server import settings as settings_module
from server.settings import OPTIONS, Settings, ice_servers, load_settings
from signaling.client import Client
from signaling.limits import Limits
from tests.integration.nodes import Node, NodeFactory, clean_env, free_port
from tests.redis_server import RedisServer
from tests.redis_server import available as redis_server_available
from tests.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILES = (DEPLOY / "compose.yaml", DEPLOY / "compose.single.yaml")
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec.json"
TOOL_SECONDS = 60.0
START_SECONDS = 10.0
DOMAIN = "meet.example.org"
# Settings other engineers are adding to server/settings.py at the same time as deploy/;
# once OPTIONS has them this allowance is simply unused.
BEING_ADDED = frozenset(
    {"HEARTH_PUBLIC_URL", "HEARTH_TRUSTED_PROXIES", "HEARTH_ICE_POLICY", "HEARTH_DRAIN_SECONDS"}
)
_STUN_MAGIC = 0x2112A442


def need(tool: str) -> str:
    """The path of `tool`; skip without it locally, fail without it in CI."""
    path = tool if os.path.isabs(tool) else shutil.which(tool)
    if path is not None and os.access(path, os.X_OK):
        return path
    missing_tool(f"{tool} is not installed (make test installs it)")


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    if "input" not in kwargs:
        kwargs["stdin"] = subprocess.DEVNULL
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TOOL_SECONDS, check=False, **kwargs
    )


def host_values() -> dict[str, str]:
    """What a host puts in deploy/.env, as throwaway values."""
    return {
        "DOMAIN": DOMAIN,
        "HEARTH_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "HEARTH_TURN_SECRET": secrets.token_urlsafe(32),
        "PUBLIC_IP": "203.0.113.10",
    }


# --- Caddy ---------------------------------------------------------------------------------


def caddy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Caddy's HOME and XDG directories in tmp_path, so it writes nothing elsewhere."""
    env = {k: v for k, v in clean_env().items() if k not in ("DOMAIN", "UPSTREAMS")}
    env.update(HOME=str(tmp_path), DOMAIN=DOMAIN)
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.update(extra)
    return env


def caddy_json(caddy: str, env: Mapping[str, str]) -> dict[str, Any]:
    adapted = run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
    )
    assert adapted.returncode == 0, adapted.stderr
    config: dict[str, Any] = json.loads(adapted.stdout)
    return config


def reverse_proxy(config: Mapping[str, Any]) -> dict[str, Any]:
    """The reverse_proxy handler of the site's route (depth-first through subroutes)."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("handler") == "reverse_proxy":
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    found = list(walk(config))
    assert len(found) == 1, found
    return found[0]


def test_caddyfile_validates_with_two_nodes_and_no_warning(tmp_path: Path) -> None:
    caddy = need("caddy")
    env = caddy_env(tmp_path, UPSTREAMS="127.0.0.1:8001 127.0.0.1:8002")
    checked = run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Valid configuration" in checked.stdout + checked.stderr
    assert '"level":"warn"' not in checked.stderr, checked.stderr
    assert '"level":"error"' not in checked.stderr, checked.stderr

    config = caddy_json(caddy, env)
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["read_header_timeout"] > 0
    assert 0 < server["max_header_bytes"] <= 64 * 1024
    assert server["routes"][0]["match"] == [{"host": [DOMAIN]}]
    proxy = reverse_proxy(config)
    assert [u["dial"] for u in proxy["upstreams"]] == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert proxy["health_checks"]["active"]["uri"] == "/readyz"
    assert proxy["health_checks"]["active"]["expect_status"] == 200
    assert proxy["load_balancing"]["try_duration"] > 0  # a refused node is retried elsewhere
    assert proxy["flush_interval"] == -1
    # No trusted_proxies: Caddy replaces a client's X-Forwarded-For with the TCP peer.
    assert "trusted_proxies" not in proxy
    assert "X-Forwarded-For" not in json.dumps(proxy.get("headers", {}))
    hsts = json.dumps(config)
    assert "Strict-Transport-Security" in hsts
    assert "max-age=31536000" in hsts


def test_caddyfile_defaults_to_one_local_node(tmp_path: Path) -> None:
    caddy = need("caddy")
    proxy = reverse_proxy(caddy_json(caddy, caddy_env(tmp_path)))
    assert [u["dial"] for u in proxy["upstreams"]] == ["127.0.0.1:8000"]


# --- nginx ---------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for DOMAIN, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match is not None, value
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    return int(match.group(1)) * scale


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = need("/usr/sbin/nginx")
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "hearth.conf").read_text()
    live = f"/etc/letsencrypt/live/{DOMAIN}/"
    assert site.count(live) == 2
    (tmp_path / "hearth.conf").write_text(
        site.replace(live + "fullchain.pem", str(cert)).replace(live + "privkey.pem", str(key))
    )
    temp_paths = (
        " ".join(
            f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi")
        )
        + f" uwsgi_temp_path {tmp_path / 'uwsgi'}; scgi_temp_path {tmp_path / 'scgi'};"
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; {temp_paths}\n"
        f"  include {tmp_path / 'hearth.conf'};\n}}\n"
    )
    checked = run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)]
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "test is successful" in output
    assert "[warn]" not in output, output
    assert "[emerg]" not in output, output

    # WebSockets: upgraded, unbuffered, and not cut between two of the node's pings.
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_http_version 1.1;" in site
    assert "proxy_buffering off;" in site
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    read_timeout = re.search(r"proxy_read_timeout (\S+);", site)
    assert read_timeout is not None
    assert seconds(read_timeout.group(1)) > Limits().ping_interval_seconds
    for bound in ("client_header_timeout", "client_body_timeout", "large_client_header_buffers"):
        assert re.search(rf"^\s*{bound} ", site, re.MULTILINE), bound
    assert 'Strict-Transport-Security "max-age=31536000" always;' in site
    upstreams = re.findall(r"^\s*server (127\.0\.0\.1:\d+) max_fails=", site, re.MULTILINE)
    assert len(upstreams) == 2


# --- systemd -------------------------------------------------------------------------------

UNITS = ("hearth.service", "hearth@.service")
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
    "KillSignal=SIGTERM",
    "Restart=on-failure",
    "EnvironmentFile=/etc/hearth/hearth.env",
    "CapabilityBoundingSet=",
)


def unit_values(text: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", text, re.MULTILINE)


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    # `verify` checks that ExecStart's program exists; /opt/hearth is not installed here, so
    # the copies point at a stand-in executable and the units are otherwise unchanged.
    fake = tmp_path / "bin" / "hearth"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        assert unit_values(text, "ExecStart") == ["/opt/hearth/.venv/bin/hearth serve"]
        (tmp_path / unit).write_text(text.replace("/opt/hearth/.venv/bin/hearth", str(fake)))
    checked = run(
        [
            analyze,
            "verify",
            str(tmp_path / "hearth.service"),
            str(tmp_path / "hearth@8001.service"),
        ],
        cwd=tmp_path,
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    # Unknown keys and bad values are only warnings to systemd: none may name our units.
    complaints = [line for line in output.splitlines() if "hearth" in line]
    assert complaints == []


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_unit_is_hardened_and_outlasts_the_drain(unit: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text()
    lines = set(text.splitlines())
    missing = [line for line in HARDENING if line not in lines]
    assert missing == []
    assert unit_values(text, "StateDirectory")
    assert unit_values(text, "User") == ["hearth"]
    (stop,) = unit_values(text, "TimeoutStopSec")
    drain = env_file_values(DEPLOY / "systemd" / "hearth.env.example")["HEARTH_DRAIN_SECONDS"]
    assert seconds(stop) > float(drain)
    assert seconds(stop) > getattr(Settings(), "drain_seconds", 0.0)  # the default drain


def test_template_unit_takes_its_port_from_the_instance() -> None:
    text = (DEPLOY / "systemd" / "hearth@.service").read_text()
    assert "HEARTH_PORT=%i" in text
    assert unit_values(text, "StateDirectory") == ["hearth/%i"]


# --- coturn --------------------------------------------------------------------------------


def turn_lines() -> list[tuple[str, str | None]]:
    """(option, value) for every line of deploy/turnserver.conf that is not a comment."""
    found: list[tuple[str, str | None]] = []
    for raw in (DEPLOY / "turnserver.conf").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        found.append((name.strip(), value.strip() if sep else None))
    return found


def test_turnserver_conf_names_only_options_coturn_knows() -> None:
    turnserver = need("turnserver")
    # coturn has no config-check mode; its help lists every long option it takes.
    helped = run([turnserver, "-h"])
    known = set(re.findall(r"--([a-z][a-z0-9-_]*)", helped.stdout + helped.stderr))
    assert {"use-auth-secret", "denied-peer-ip", "no-cli"} <= known  # the help was read
    unknown = [name for name, _ in turn_lines() if name not in known]
    assert unknown == []


def test_turnserver_conf_takes_only_hearth_credentials_and_stays_off_private_networks() -> None:
    lines = turn_lines()
    names = {name for name, _ in lines}
    assert {"use-auth-secret", "realm", "no-cli", "no-tlsv1", "no-tlsv1_1"} <= names
    assert {"user-quota", "total-quota", "min-port", "max-port", "no-multicast-peers"} <= names
    assert not names & {"no-auth", "allow-loopback-peers", "web-admin", "lt-cred-mech"}
    values = dict(lines)
    low, high = int(values["min-port"] or 0), int(values["max-port"] or 0)
    assert 60999 < low < high <= 65535  # above Linux's ephemeral ports
    assert int(values["total-quota"] or 0) <= high - low + 1  # one relay port each
    denied = []
    for name, value in lines:
        if name == "denied-peer-ip":
            assert value is not None
            first, _, last = value.partition("-")
            denied.append((ipaddress.ip_address(first), ipaddress.ip_address(last or first)))
    must_not_reach = [
        "127.0.0.1", "10.1.2.3", "172.17.0.2", "172.30.53.2", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1",
        "224.0.0.1", "255.255.255.255", "ff02::1",
    ]  # fmt: skip
    for text in must_not_reach:
        address = ipaddress.ip_address(text)
        assert any(
            a.version == address.version and a <= address <= b  # type: ignore[operator]
            for a, b in denied
        ), text
    for public in ("8.8.8.8", "2001:4860:4860::8888", "203.0.114.1"):
        address = ipaddress.ip_address(public)
        assert not any(
            a.version == address.version and a <= address <= b  # type: ignore[operator]
            for a, b in denied
        ), public


def free_tcp_udp_port() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free TCP+UDP port on 127.0.0.1")


def stun_binding_answered(port: int) -> bool:
    txn = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, _STUN_MAGIC) + txn
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(request, ("127.0.0.1", port))
            data = s.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == txn


@contextlib.contextmanager
def coturn_on_shipped_conf(tmp_path: Path, secret: str) -> Iterator[tuple[int, Path]]:
    """coturn on deploy/turnserver.conf, answering STUN on 127.0.0.1: (port, its log).

    Only where it listens and writes, and the secret, are given on the command line, as
    deploy/compose.yaml does; every other line is the shipped file's."""
    turnserver = need("turnserver")
    port = free_tcp_udp_port()
    log = tmp_path / "turnserver.log"
    command = [
        turnserver, "-c", str(DEPLOY / "turnserver.conf"),
        "--listening-ip=127.0.0.1", f"--listening-port={port}",
        "--min-port=61990", "--max-port=61999",
        f"--static-auth-secret={secret}",
        "--log-file=stdout", f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--userdb={tmp_path / 'turndb'}",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not stun_binding_answered(port):
                output = log.read_text(errors="replace")
                assert proc.poll() is None, f"coturn exited:\n{output}"
                assert time.monotonic() < deadline, f"coturn never answered STUN:\n{output}"
                time.sleep(0.1)
            yield port, log
        finally:
            proc.terminate()
            try:
                proc.wait(START_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(START_SECONDS)


def test_turnserver_starts_on_the_shipped_conf(tmp_path: Path) -> None:
    with coturn_on_shipped_conf(tmp_path, secrets.token_hex(16)) as (_port, log):
        pass
    output = log.read_text(errors="replace")
    assert "Bad configuration format" not in output, output
    assert "CONFIG ERROR" not in output.upper(), output
    assert "Black listing: 10.0.0.0-10.255.255.255" in output  # the denials took effect


class TurnClient:
    """Just enough of a TURN client over UDP (RFC 5766 with long-term credentials) to
    allocate and ask for permissions; aioice's STUN codec builds and reads the messages."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)
        self.sock.connect(("127.0.0.1", port))
        self.username, self.password = username, password
        self.realm = ""
        self.nonce = b""

    def close(self) -> None:
        self.sock.close()

    def ask(self, method: stun.Method, attributes: Mapping[str, Any]) -> stun.Message:
        """Send one request, signed once the server has told us its realm and nonce."""
        request = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
        request.attributes.update(attributes)
        if self.realm:
            request.attributes.update(USERNAME=self.username, REALM=self.realm, NONCE=self.nonce)
            request.add_message_integrity(
                turn.make_integrity_key(self.username, self.realm, self.password)
            )
        self.sock.send(bytes(request))
        answer = stun.parse_message(self.sock.recv(4096))
        assert answer.transaction_id == request.transaction_id
        return answer

    def allocate(self) -> stun.Message:
        attributes = {"REQUESTED-TRANSPORT": turn.UDP_TRANSPORT, "LIFETIME": 60}
        answer = self.ask(stun.Method.ALLOCATE, attributes)
        if answer.message_class == stun.Class.ERROR and not self.realm:
            assert answer.attributes["ERROR-CODE"][0] == 401  # the challenge
            self.realm = answer.attributes["REALM"]
            self.nonce = answer.attributes["NONCE"]
            answer = self.ask(stun.Method.ALLOCATE, attributes)
        return answer

    def permit(self, address: str) -> stun.Message:
        return self.ask(stun.Method.CREATE_PERMISSION, {"XOR-PEER-ADDRESS": (address, 9)})


def test_turn_allocates_with_hearths_credentials_and_refuses_private_peers(
    tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(32)
    with coturn_on_shipped_conf(tmp_path, secret) as (port, _log):
        url = f"turn:127.0.0.1:{port}?transport=udp"
        settings = Settings(turn_urls=(url,), turn_secret=secret)
        (server,) = ice_servers(settings, time.time(), "member-1")
        client = TurnClient(port, str(server["username"]), str(server["credential"]))
        forger = TurnClient(port, str(server["username"]), "not-the-credential")
        try:
            allocated = client.allocate()
            assert allocated.message_class == stun.Class.RESPONSE, allocated.attributes
            assert client.realm == DOMAIN  # the shipped realm
            assert "XOR-RELAYED-ADDRESS" in allocated.attributes
            # The relay reaches the internet (a permission sends nothing anywhere) ...
            public = client.permit("8.8.8.8")
            assert public.message_class == stun.Class.RESPONSE, public.attributes
            # ... and never this machine's networks or the cloud's metadata service.
            for private in ("10.0.0.1", "172.17.0.2", "192.168.1.1", "169.254.169.254"):
                refused = client.permit(private)
                assert refused.message_class == stun.Class.ERROR, private
                assert refused.attributes["ERROR-CODE"][0] == 403, private
            # A credential not signed with the shared secret gets nothing.
            forged = forger.allocate()
            assert forged.message_class == stun.Class.ERROR
            assert forged.attributes["ERROR-CODE"][0] == 401
        finally:
            client.close()
            forger.close()


# --- Redis ---------------------------------------------------------------------------------


def test_redis_starts_append_only_on_the_shipped_conf(tmp_path: Path) -> None:
    redis_server = need("redis-server")
    port = free_port()
    command = [
        redis_server, str(DEPLOY / "redis.conf"),
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1.0, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, "redis exited"
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("save") == {"save": ""}
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(START_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(START_SECONDS)


# --- Compose -------------------------------------------------------------------------------


def compose(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_matches_the_compose_specification(path: Path) -> None:
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose(path))]
    assert errors == []
    # The schema does catch mistakes: a misspelt service key is one.
    broken = compose(path)
    next(iter(broken["services"].values()))["restart_policy"] = "always"
    assert not validator.is_valid(broken)


def env_file_values(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, raw
            found[name.strip()] = value.strip()
    return found


def interpolated(path: Path) -> set[str]:
    """The variables a compose file takes from deploy/.env (`${NAME}`, `${NAME:?...}`)."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", path.read_text()))


def test_env_example_names_exactly_what_compose_uses() -> None:
    example = set(env_file_values(DEPLOY / ".env.example"))
    used = set().union(*(interpolated(path) for path in COMPOSE_FILES))
    assert example == used
    for path in COMPOSE_FILES:
        assert interpolated(path) <= example, path.name


def test_every_hearth_variable_in_deploy_is_a_real_setting() -> None:
    real = {option.env for option in OPTIONS}
    allowed = real | BEING_ADDED
    seen: dict[str, list[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in re.findall(r"\bHEARTH_[A-Z][A-Z0-9_]*", path.read_text(errors="replace")):
            seen.setdefault(name, []).append(path.name)
    unknown = {name: files for name, files in seen.items() if name not in allowed}
    assert unknown == {}
    assert "HEARTH_ADMIN_TOKEN" in seen  # the scan read the files


def dockerfile_env() -> dict[str, str]:
    """The ENV the image sets (one ENV instruction of KEY=value pairs per line)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                name, _, value = pair.partition("=")
                found[name] = value
    return found


def node_services(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in document["services"].items()
        if service.get("image") == "hearth:local"
    }


def fill(text: str, values: Mapping[str, str]) -> str:
    """Compose's interpolation, for the forms deploy/ uses."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::\?[^}]*)?\}", lambda m: values[m.group(1)], text
    )


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_nodes_get_settings_a_node_accepts(path: Path) -> None:
    values = host_values()
    document = compose(path)
    nodes = node_services(document)
    assert nodes
    proxy = document["services"]["caddy"]
    caddy_address = proxy["networks"]["front"]["ipv4_address"]
    upstreams = proxy["environment"]["UPSTREAMS"].split()
    assert sorted(upstreams) == sorted(f"{name}:8000" for name in nodes)
    image_env = {k: v for k, v in dockerfile_env().items() if k.startswith("HEARTH_")}
    assert image_env["HEARTH_HOST"] == "0.0.0.0"
    for name, service in nodes.items():
        env = {**image_env, **{k: fill(str(v), values) for k, v in service["environment"].items()}}
        settings = load_settings({}, env)
        assert settings.host == "0.0.0.0", name
        assert settings.public_url == f"https://{DOMAIN}"
        assert settings.admin_token == values["HEARTH_ADMIN_TOKEN"]
        assert settings.turn_secret == values["HEARTH_TURN_SECRET"]
        assert settings.redis_url == (
            "redis://redis:6379/0" if "redis" in document["services"] else None
        )
        validate = getattr(settings_module, "validate_for_serve", None)
        if validate is not None:
            validate(settings)
        trusted = getattr(settings, "trusted_proxies", None)
        if trusted is not None:
            assert trusted == (f"{caddy_address}/32",)
        grace = seconds(service["stop_grace_period"])
        assert grace > float(env["HEARTH_DRAIN_SECONDS"])
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "ports" not in service  # only Caddy faces the internet
    if "redis" in document["services"]:
        redis_service = document["services"]["redis"]
        assert "ports" not in redis_service
        assert document["networks"][redis_service["networks"][0]].get("internal") is True
        assert "./redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis_service["volumes"]


def test_systemd_env_example_gives_settings_a_node_accepts() -> None:
    env = env_file_values(DEPLOY / "systemd" / "hearth.env.example")
    env.update(HEARTH_ADMIN_TOKEN=secrets.token_urlsafe(32), HEARTH_TURN_SECRET="x" * 32)
    settings = load_settings({}, {k: v for k, v in env.items() if v})
    assert settings.public_url == f"https://{DOMAIN}"
    assert settings.redis_url is None  # one node until the host sets it


# --- the image -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def healthcheck_command() -> list[str]:
    (check,) = [rest for keyword, rest in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    command: list[str] = json.loads(check[check.index("CMD ") + 4 :])
    return command


def test_dockerfile_runs_hearth_serve_unprivileged_with_the_web_client() -> None:
    instructions = dockerfile_instructions()
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    keywords = dict(final)
    assert keywords["USER"] not in ("root", "0", "root:root")
    assert json.loads(keywords["ENTRYPOINT"]) == ["hearth"]
    assert json.loads(keywords["CMD"]) == ["serve"]
    assert "/healthz" in keywords["HEALTHCHECK"]
    assert "curl" not in keywords["HEALTHCHECK"]
    assert "wget" not in keywords["HEALTHCHECK"]
    # The packages and the web client are copied side by side (server/app.py's WEB_DIR).
    copied = {
        rest.split()[0]
        for keyword, rest in instructions
        if keyword == "COPY" and "--from" not in rest
    }
    assert {"rooms", "signaling", "server", "web_client", "pyproject.toml"} <= copied
    allowed = {
        line[1:]
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source in allowed, f"{source} is left out of the build context by .dockerignore"


def test_image_healthcheck_asks_a_real_node(node: Node) -> None:
    command = healthcheck_command()
    assert command[0] == "python"
    program = [sys.executable, *command[1:]]
    healthy = run(program, env=clean_env({"HEARTH_PORT": str(node.port)}))
    assert healthy.returncode == 0, healthy.stderr
    nobody = run(program, env=clean_env({"HEARTH_PORT": str(free_port())}))
    assert nobody.returncode != 0


# --- backups of room definitions (several nodes) ------------------------------------------


def hearth_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "server", *args], cwd=ROOT, env=clean_env(env))


async def test_rooms_backup_restores_rooms_whose_links_still_work(
    tmp_path: Path, node_factory: NodeFactory
) -> None:
    if not redis_server_available():
        need("redis-server")
    with RedisServer.launch(tmp_path / "redis") as server:
        env = {"HEARTH_REDIS_URL": server.url, "HEARTH_DATA_DIR": str(tmp_path / "data")}
        created = hearth_cli("room", "create", "Tuesday circle", "--guidelines", "Be kind", env=env)
        assert created.returncode == 0, created.stderr
        link = re.search(r"Facilitator link: \S+/r/(\w[\w-]*)#([^.\s]+)", created.stdout)
        assert link is not None, created.stdout
        room_id, token = link.group(1), link.group(2)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            client.set("hearth:{" + room_id + "}", "meeting state, never backed up")
            # As docs/hosting.md runs it inside a container: the script's text as `-c`.
            script = (DEPLOY / "rooms_backup.py").read_text()
            exported = run([sys.executable, "-c", script, "export"], env=clean_env(env))
            assert exported.returncode == 0, exported.stderr
            assert "exported 1 rooms" in exported.stderr
            assert "Tuesday circle" not in exported.stderr  # counts only
            backup = json.loads(exported.stdout)
            assert [room["id"] for room in backup["rooms"]] == [room_id]
            assert token not in exported.stdout  # hashes, never tokens
            assert "meeting state" not in exported.stdout
            before = client.hgetall(f"hearth:def:{room_id}")

            client.flushall()
            restored = run(
                [sys.executable, "-c", script, "import"], env=clean_env(env), input=exported.stdout
            )
            assert restored.returncode == 0, restored.stderr
            assert "restored 1, already there 0" in restored.stderr
            assert client.hgetall(f"hearth:def:{room_id}") == before
            assert client.exists("hearth:{" + room_id + "}") == 0
            again = run(
                [sys.executable, "-c", script, "import"], env=clean_env(env), input=exported.stdout
            )
            assert "restored 0, already there 1" in again.stderr
        finally:
            client.close()

        listed = hearth_cli("room", "list", env=env)
        assert room_id in listed.stdout
        # The link made before the backup still lets its facilitator in.
        node = node_factory(env={"HEARTH_REDIS_URL": server.url})
        facilitator = await Client.join(node.ws_url, room_id, token, "Fay")
        await facilitator.close()
