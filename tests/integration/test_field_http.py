"""A real node's own HTTP and WebSocket hardening for the field (issue 16): the public URL
beyond loopback, the /ws Origin check, security headers on every answer, X-Forwarded-For only
from trusted proxies, bounded request heads, the admin API's brake on wrong tokens.

Everything stays on loopback: "another address" is 127.0.0.2, and the one test that asks for
a non-loopback bind names 192.0.2.1 (TEST-NET-1, on no interface), so even a node that failed
to refuse could not listen beyond this machine. Every wait is bounded.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from server.app import SECURITY_HEADERS
from server.settings import MAKE_A_TOKEN
from tests.integration.nodes import ROOT, Node, NodeFactory, clean_env, free_port
from tests.integration.rawws import create_room

WAIT = 5.0
NO_SUCH_HOST = "192.0.2.1"  # TEST-NET-1: documentation only, bound by no interface


def run_cli(*args: str, env: Mapping[str, str] = {}) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def open_ws(
    node: Node,
    *,
    origin: str | None = None,
    forwarded_for: str | None = None,
    source: str | None = None,
) -> ClientConnection:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    options = {} if source is None else {"local_addr": (source, 0)}
    return await connect(
        node.ws_url,
        origin=origin,  # type: ignore[arg-type]  # websockets' Origin is a str NewType
        additional_headers=headers,
        open_timeout=WAIT,
        close_timeout=1,
        compression=None,
        **options,  # type: ignore[arg-type]
    )


async def refused_status(node: Node, **options: str) -> int | None:
    """The HTTP status a refused handshake got, or None when it was accepted (and closed)."""
    try:
        ws = await open_ws(node, **options)
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    await ws.close()
    return None


def client(node: Node, source: str | None = None) -> httpx.AsyncClient:
    """An HTTP client of `node` from loopback address `source` (default 127.0.0.1)."""
    transport = httpx.AsyncHTTPTransport(local_address=source) if source else None
    return httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=WAIT, transport=transport)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raw_socket(node: Node, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", node.port), timeout=WAIT, source_address=(source, 0)
    )
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the node sends until it closes (or resets) the socket, and how long that
    took; fails if it is still open after `limit` seconds."""
    started, received = time.monotonic(), b""
    sock.settimeout(limit)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {limit} s; got {received[:80]!r}") from None
    return received, time.monotonic() - started


# --- 1. the public URL, and admin tokens worth the name -------------------------------------


def test_beyond_loopback_serve_refuses_without_an_https_public_url(tmp_path: Path) -> None:
    base = ["serve", "--host", NO_SUCH_HOST, "--port", str(free_port())]
    base += ["--data-dir", str(tmp_path / "data")]
    for extra in ([], ["--public-url", "http://circle.example.org"]):
        done = run_cli(*base, *extra)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("hearth: error: HEARTH_PUBLIC_URL: ")
        assert "https://" in lines[0]
        assert "camera" in lines[0]
    # `room create` takes the same --host and keeps working without a public URL.
    made = run_cli("room", "create", "Circle", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert "Invite link: http://127.0.0.1:8000/r/" in made.stdout


def test_serve_refuses_an_admin_token_with_little_entropy(tmp_path: Path) -> None:
    weak = "h" * 16
    done = run_cli(
        "serve", "--port", str(free_port()), "--data-dir", str(tmp_path),
        env={"HEARTH_ADMIN_TOKEN": weak},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("hearth: error: HEARTH_ADMIN_TOKEN: ")
    assert MAKE_A_TOKEN in done.stderr
    assert weak not in done.stderr + done.stdout


# --- 2. /ws checks Origin -------------------------------------------------------------------


async def test_ws_refuses_a_foreign_origin_before_accepting(node: Node) -> None:
    assert await refused_status(node, origin="https://evil.example") == 403
    assert await refused_status(node, origin="null") == 403
    assert await refused_status(node, origin=f"http://127.0.0.1:{node.port}") is None
    assert await refused_status(node, origin=f"http://localhost:{node.port}") is None
    assert await refused_status(node) is None  # no Origin: not a browser
    async with client(node) as http:
        metrics = (await http.get("/metrics")).text
    assert 'hearth_errors_total{code="bad_origin"} 2.0' in metrics
    logs = node.log_text()
    assert '"reason": "origin"' in logs
    assert "evil.example" not in logs


async def test_ws_with_a_public_url_takes_only_its_origin(node_factory: NodeFactory) -> None:
    node = node_factory(args=["--public-url", "https://circle.example.org"])
    assert await refused_status(node, origin="https://circle.example.org") is None
    assert await refused_status(node, origin=f"http://127.0.0.1:{node.port}") == 403
    assert await refused_status(node, origin="https://circle.example.org.evil.example") == 403
    assert await refused_status(node) is None


# --- 3. security headers on every answer ----------------------------------------------------


async def test_every_answer_carries_the_security_headers(node: Node) -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "connect-src 'self';" in csp
    assert "ws:" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert re.search(r"https?://", csp) is None  # no third-party origin
    room = await create_room(node)
    requests: list[tuple[str, str, dict[str, str], object, str]] = [
        ("GET", "/", {}, None, "no-store"),
        ("GET", "/r/x", {}, None, "no-store"),
        ("GET", "/host", {}, None, "no-store"),
        ("GET", "/healthz", {}, None, "no-store"),
        ("GET", "/readyz", {}, None, "no-store"),
        ("GET", "/metrics", {}, None, "no-store"),
        ("GET", "/api/rooms", node.auth, None, "no-store"),
        ("GET", "/api/rooms", {}, None, "no-store"),
        ("POST", "/api/preview", {}, {"room": room["id"], "token": room["invite"]}, "no-store"),
        ("POST", "/api/preview", {}, {"room": "x", "token": "y"}, "no-store"),
        ("GET", "/app.js", {}, None, "no-cache"),
        ("GET", "/style.css", {}, None, "no-cache"),
        ("GET", "/no-such-file.js", {}, None, "no-store"),
    ]
    async with client(node) as http:
        for method, path, headers, body, cache in requests:
            answer = await http.request(method, path, headers=headers, json=body)
            where = (method, path, answer.status_code)
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers.get(name) == value, (where, name)
            assert answer.headers.get("cache-control") == cache, where
            assert "strict-transport-security" not in answer.headers, where  # http only
            assert "server" not in answer.headers, where
    assert SECURITY_HEADERS["Permissions-Policy"].startswith("camera=(self), microphone=(self),")


async def test_an_https_public_url_adds_hsts(node_factory: NodeFactory) -> None:
    node = node_factory(args=["--public-url", "https://circle.example.org"])
    async with client(node) as http:
        for path in ("/", "/healthz", "/api/rooms", "/app.js"):
            answer = await http.get(path)
            assert answer.headers["strict-transport-security"] == "max-age=31536000", path


# --- 4. X-Forwarded-For only from trusted proxies -------------------------------------------


CAPPED = {"HEARTH_CONNECTIONS_PER_IP": "3", "HEARTH_HELLO_PER_MINUTE": "2"}


async def test_forged_forwarded_for_does_not_get_past_the_caps(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(env=CAPPED)
    held = [await open_ws(node, forwarded_for=f"203.0.113.{i}") for i in range(3)]
    try:
        assert await refused_status(node, forwarded_for="203.0.113.99") == 403
        assert await refused_status(node, forwarded_for="203.0.113.99", source="127.0.0.2") is None
    finally:
        for ws in held:
            await ws.close()
    # The hello budget (here through the preview) is the TCP peer's too.
    async with client(node) as http:
        codes = [
            (
                await http.post(
                    "/api/preview",
                    json={"room": "r", "token": "t"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
            ).status_code
            for i in range(3)
        ]
    assert codes == [404, 404, 429]


async def test_a_trusted_proxys_forwarded_for_is_honoured(node_factory: NodeFactory) -> None:
    node = node_factory(env={**CAPPED, "HEARTH_TRUSTED_PROXIES": "127.0.0.0/8"})
    held = [await open_ws(node, forwarded_for=f"203.0.113.{i}") for i in range(5)]
    try:
        # Each forwarded address has its own cap; the right-most untrusted one counts.
        same = [await open_ws(node, forwarded_for="198.51.100.7") for _ in range(3)]
        held += same
        assert await refused_status(node, forwarded_for="198.51.100.7") == 403
        assert await refused_status(node, forwarded_for="198.51.100.7, 127.0.0.5") == 403
        assert await refused_status(node, forwarded_for="198.51.100.7, 198.51.100.8") is None
    finally:
        for ws in held:
            await ws.close()


# --- 5. slow and oversized request heads ----------------------------------------------------


def test_an_unfinished_request_head_is_closed_within_the_bound(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(env={"HEARTH_HEAD_TIMEOUT_SECONDS": "1"})
    partial, silent = raw_socket(node), raw_socket(node)
    try:
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer, took = read_until_closed(partial, limit=WAIT)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert 0.5 < took < 4.0, took
        assert read_until_closed(silent, limit=WAIT)[0].startswith(b"HTTP/1.1 408 ")
    finally:
        partial.close()
        silent.close()
    # A kept-alive connection's next head is bounded too.
    with raw_socket(node) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\n")
        answer, took = read_until_closed(sock, limit=WAIT)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"HTTP/1.1 408 " in answer
    assert httpx.get(f"{node.url}/healthz", trust_env=False).status_code == 200


def test_an_oversized_head_is_refused_without_growing_the_node(node: Node) -> None:
    for _ in range(5):  # warm up: the first requests allocate what every later one reuses
        assert httpx.get(f"{node.url}/healthz", trust_env=False).status_code == 200
    before = rss_kib(node.proc.pid)
    socks = [raw_socket(node) for _ in range(3)]
    try:
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * 65536
        for sock in socks:  # 1 MiB of one header each, never ended
            try:
                for _ in range(16):
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused part way: what should happen
        for sock in socks:
            answer, _took = read_until_closed(sock, limit=WAIT)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    finally:
        for sock in socks:
            sock.close()
    grew = rss_kib(node.proc.pid) - before
    assert grew < 4096, f"RSS grew by {grew} KiB"
    # A normal request, with a large-ish (but sane) header, still works.
    cookie = {"Cookie": "c=" + "x" * 8000}
    assert httpx.get(f"{node.url}/healthz", headers=cookie, trust_env=False).status_code == 200


def test_unfinished_heads_count_against_the_address_cap(node_factory: NodeFactory) -> None:
    node = node_factory(env={"HEARTH_CONNECTIONS_PER_IP": "3", "HEARTH_HEAD_TIMEOUT_SECONDS": "30"})
    idle = [raw_socket(node) for _ in range(3)]
    try:
        time.sleep(0.2)  # let the node accept all three
        with raw_socket(node) as fourth:
            answer, took = read_until_closed(fourth, limit=WAIT)
            assert answer == b""
            assert took < 2.0
        with client_sync(node, "127.0.0.2") as http:  # another address is not affected
            assert http.get("/healthz").status_code == 200
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:  # closed sockets free their places
        try:
            if httpx.get(f"{node.url}/healthz", trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        raise AssertionError("the address stayed capped after its sockets closed")


def client_sync(node: Node, source: str) -> httpx.Client:
    return httpx.Client(
        base_url=node.url,
        trust_env=False,
        timeout=WAIT,
        transport=httpx.HTTPTransport(local_address=source),
    )


# --- 6. the admin API's brake on wrong tokens -----------------------------------------------


async def test_repeated_wrong_admin_tokens_are_answered_429(node: Node) -> None:
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    async with client(node) as http:
        refused = [await http.get("/api/rooms", headers=wrong) for _ in range(5)]
        assert {a.status_code for a in refused} == {401}
        assert len({a.content for a in refused}) == 1
        held = await http.get("/api/rooms", headers=wrong)
        assert held.status_code == 429
        assert held.json() == {"error": "rate_limited"}
        assert 1 <= int(held.headers["retry-after"]) <= 60
        assert held.headers["cache-control"] == "no-store"
        # From the braked address even the right token waits: the answer says nothing.
        assert (await http.get("/api/rooms", headers=node.auth)).status_code == 429
    async with client(node, "127.0.0.2") as elsewhere:
        assert (await elsewhere.get("/api/rooms", headers=node.auth)).status_code == 200
        assert (await elsewhere.get("/api/rooms", headers=wrong)).status_code == 401
    # The meeting side never depended on the admin API.
    async with client(node) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_the_brake_is_per_forwarded_address_behind_a_trusted_proxy(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(env={"HEARTH_TRUSTED_PROXIES": "127.0.0.1"})
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    async with client(node) as http:
        guesser = {**wrong, "X-Forwarded-For": "203.0.113.5"}
        codes = [(await http.get("/api/rooms", headers=guesser)).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        admin = {**node.auth, "X-Forwarded-For": "198.51.100.1"}
        assert (await http.get("/api/rooms", headers=admin)).status_code == 200
