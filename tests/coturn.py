"""A real coturn (`/usr/bin/turnserver`) for tests: on 127.0.0.1, a free port, its own directory.

It runs the way Hearth's hosts run it (the TURN REST scheme: `use-auth-secret` with a static
secret, realm "hearth"), and allows loopback peers so two peers on this machine can relay
through it. No TLS/DTLS, no CLI, no web admin, no syslog; its log, pid file and user database
all live in its directory, and relay ports come from a small range found free at launch.
Every wait is bounded; `stop()` (or leaving the `with`) ends the process.

    with Coturn.launch(tmp_path / "coturn", "s3cret") as turn:
        settings = Settings(turn_urls=(turn.url_udp,), turn_secret=turn.secret)
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

BINARY = shutil.which("turnserver") or "/usr/bin/turnserver"
START_SECONDS = 10.0
STOP_SECONDS = 10.0
# Each allocation takes one (two with even-port). Chromium allocates one per network
# interface for each RTCPeerConnection, and two pages with the join check overlapping the
# mesh held up to 21 at once (measured in tests/integration/field/).
RELAY_PORTS = 64
REALM = "hearth"

_STUN_MAGIC = 0x2112A442
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101


def available() -> bool:
    """True when coturn is installed, so a test can use it (or skip/fail with a reason)."""
    return os.access(BINARY, os.X_OK)


def _free_on_both(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free for both TCP and UDP on loopback (TURN listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if _free_on_both(port):
            return port
    raise RuntimeError("no free TCP+UDP port on 127.0.0.1")


def _free_udp_range(count: int, avoid: int) -> int:
    """The first port of `count` consecutive UDP ports free now, outside the ephemeral range's
    busiest part; bounded in attempts."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(20000, 30000 - count)
        if low <= avoid < low + count:
            continue
        if all(_free_on_both(p) for p in range(low, low + count)):
            return low
    raise RuntimeError("no free UDP range for TURN relays")


def _stun_binding_answered(port: int, timeout: float) -> bool:
    """Send one STUN Binding request over UDP; True when a success response comes back."""
    txn = secrets.token_bytes(12)
    request = struct.pack("!HHI", _BINDING_REQUEST, 0, _STUN_MAGIC) + txn
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request, ("127.0.0.1", port))
            data = s.recv(2048)
        except OSError:
            return False
    return (
        len(data) >= 20
        and struct.unpack("!H", data[:2])[0] == _BINDING_SUCCESS
        and (data[8:20] == txn)
    )


def _tcp_accepts(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Coturn:
    def __init__(self, directory: Path, port: int, secret: str, extra: tuple[str, ...]) -> None:
        self.directory = directory
        self.port = port
        self.secret = secret
        self.extra = extra
        self.min_relay_port = _free_udp_range(RELAY_PORTS, port)
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(cls, directory: Path, secret: str, *extra: str) -> Coturn:
        """Start coturn and return once it answers on UDP and TCP (or raise RuntimeError)."""
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(directory, free_port(), secret, extra)
        server.start()
        return server

    @property
    def url_udp(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    @property
    def url_tcp(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=tcp"

    @property
    def log_path(self) -> Path:
        return self.directory / "turnserver.log"

    def auth_lines(self) -> list[str]:
        """The TURN REST scheme Hearth relies on; a test subclass may open it (`no-auth`)
        to show what a misconfigured server looks like."""
        return ["use-auth-secret", f"static-auth-secret={self.secret}"]

    def start(self) -> None:
        assert self.process is None, "already running"
        # Our own config file: without `-c`, coturn reads /etc/turnserver.conf, which on Debian
        # says `syslog`. The file also keeps the secret out of `ps`.
        config = self.directory / "turnserver.conf"
        lines = [
            "listening-ip=127.0.0.1",
            "relay-ip=127.0.0.1",
            f"listening-port={self.port}",
            f"min-port={self.min_relay_port}",
            f"max-port={self.min_relay_port + RELAY_PORTS - 1}",
            *self.auth_lines(),
            f"realm={REALM}",
            "allow-loopback-peers",
            "no-cli",
            "no-tls",
            "no-dtls",
            "no-multicast-peers",
            "fingerprint",
            f"log-file={self.log_path}",
            "simple-log",
            "no-stdout-log",
            f"pidfile={self.directory / 'turnserver.pid'}",
            f"userdb={self.directory / 'turndb'}",
        ]
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        self.process = subprocess.Popen(
            [BINARY, "-c", str(config), *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
        )
        deadline = time.monotonic() + START_SECONDS
        while not (_stun_binding_answered(self.port, 0.2) and _tcp_accepts(self.port, 0.2)):
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"turnserver exited with {code}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("turnserver did not answer in time")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)

    def __enter__(self) -> Coturn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
