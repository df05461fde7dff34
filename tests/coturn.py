"""A real coturn (`/usr/bin/turnserver`) for tests: on 127.0.0.1, a free port, its own directory.

It runs the way Hearth's hosts run it (the TURN REST scheme: `use-auth-secret` with a static
secret, realm "hearth"), and allows loopback peers so two peers on this machine can relay
through it. No DTLS, no CLI, no web admin, no syslog; its log, pid file and user database
all live in its directory, and relay ports come from a small range found free at launch.
Every wait is bounded; `stop()` (or leaving the `with`) ends the process.

TLS is opt-in (`tls=True`): the fixture then makes a throwaway CA and a certificate for
127.0.0.1 and localhost (the `cryptography` package, RSA 2048, one day), writes them into its
directory, and coturn listens for TURN over TLS on a second free port (`url_tls`). Nothing
trusts that CA unless a test loads `ca_path` (or points SSL_CERT_FILE at it).

    with Coturn.launch(tmp_path / "coturn", "s3cret") as turn:
        settings = Settings(turn_urls=(turn.url_udp,), turn_secret=turn.secret)
    with Coturn.launch(tmp_path / "coturn", "s3cret", tls=True) as turn:
        context = ssl.create_default_context(cafile=turn.ca_path)  # turn.url_tls
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import random
import secrets
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.tools import stop_process

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


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def make_ca(directory: Path, common_name: str) -> tuple[Path, rsa.RSAPrivateKey, x509.Certificate]:
    """A throwaway certificate authority valid for one day: `<directory>/ca.pem` (the
    certificate a client trusts), its key and certificate for signing."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def _make_server_certificate(
    directory: Path, ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate
) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost signed by the CA: (cert path, key path)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "turn-cert.pem", directory / "turn-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


class Coturn:
    def __init__(
        self,
        directory: Path,
        port: int,
        secret: str,
        extra: tuple[str, ...],
        *,
        tls_port: int | None = None,
    ) -> None:
        self.directory = directory
        self.port = port
        self.secret = secret
        self.extra = extra
        self.tls_port = tls_port
        self.min_relay_port = _free_udp_range(RELAY_PORTS, port)
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_path: Path | None = None
        self._cert_paths: tuple[Path, Path] | None = None
        if tls_port is not None:
            self.ca_path, ca_key, ca_cert = make_ca(directory / "ca", "Hearth test TURN CA")
            self._cert_paths = _make_server_certificate(directory, ca_key, ca_cert)

    @classmethod
    def launch(cls, directory: Path, secret: str, *extra: str, tls: bool = False) -> Coturn:
        """Start coturn and return once it answers on UDP and TCP, and on its TLS port when
        `tls` (or raise RuntimeError)."""
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        tls_port = None
        for _ in range(10 if tls else 0):
            tls_port = free_port()
            if tls_port != port:
                break
        if tls and tls_port in (None, port):
            raise RuntimeError("no second free port for TURN over TLS")
        server = cls(directory, port, secret, extra, tls_port=tls_port)
        server.start()
        return server

    @property
    def url_udp(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    @property
    def url_tcp(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=tcp"

    @property
    def url_tls(self) -> str:
        """TURN over TLS ("turns:"), the certificate names 127.0.0.1 itself."""
        assert self.tls_port is not None, "launch(..., tls=True) for TLS"
        return f"turns:127.0.0.1:{self.tls_port}?transport=tcp"

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
        if self._cert_paths is None:
            # Without it coturn would listen for TLS and DTLS on 5349, shared by every test.
            tls_lines = ["no-tls"]
        else:
            cert, key = self._cert_paths
            tls_lines = [f"tls-listening-port={self.tls_port}", f"cert={cert}", f"pkey={key}"]
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
            *tls_lines,
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
        while not (
            _stun_binding_answered(self.port, 0.2)
            and _tcp_accepts(self.port, 0.2)
            and (self.tls_port is None or _tcp_accepts(self.tls_port, 0.2))
        ):
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
        stop_process(process, STOP_SECONDS)

    def __enter__(self) -> Coturn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
