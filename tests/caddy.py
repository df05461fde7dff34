"""A real Caddy for tests: TLS on a free loopback port, in front of Hearth nodes.

The production shape (deploy/) puts Caddy in front of the nodes; this starts Debian's
/usr/bin/caddy the same way on 127.0.0.1: `tls internal` (Caddy's own CA, never installed
in any trust store), round-robin over the upstreams, active health checks on /readyz and
passive ones, `flush_interval -1`, WebSockets passed through (Caddy's default). Everything
Caddy writes (certificates, autosave, locks) stays in the given directory: HOME and the XDG
directories point into it. The admin API listens on its own free loopback port so a test
can ask how Caddy sees its upstreams. Every wait is bounded.

Nodes behind it need to know its address before they start (links, the Origin check), so
pick the port first when that matters:

    port = free_port()
    a = node_factory(env=node_env(public_url(port)))
    with Caddy.launch(tmp_path / "caddy", [a.url], port=port) as caddy:
        ...  # caddy.url is https://127.0.0.1:PORT; caddy.ssl_context() trusts its root
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.redis_server import free_port
from tests.tools import stop_process

BINARY = shutil.which("caddy") or "/usr/bin/caddy"
START_SECONDS = 15.0
STOP_SECONDS = 10.0
POLL_SECONDS = 0.05
HEALTH_INTERVAL = "250ms"  # how soon Caddy notices a node that stops being ready

__all__ = ["Caddy", "available", "free_port", "node_env", "public_url"]

# No proxy: these requests go to loopback, whatever the environment says.
_OPENER_HANDLERS: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]


def available() -> bool:
    return os.access(BINARY, os.X_OK)


def public_url(port: int) -> str:
    """The https address a Caddy on `port` serves; what nodes behind it call their own."""
    return f"https://127.0.0.1:{port}"


def node_env(url: str) -> dict[str, str]:
    """Environment for a node behind Caddy at `url`: trust Caddy's X-Forwarded-For (it
    connects from 127.0.0.1) and build links and the /ws Origin check from `url`."""
    return {"HEARTH_TRUSTED_PROXIES": "127.0.0.1", "HEARTH_PUBLIC_URL": url}


def _caddyfile(
    directory: Path, port: int, admin_port: int, upstreams: list[str], extra: str
) -> str:
    hosts = " ".join(u.removeprefix("http://").rstrip("/") for u in upstreams)
    extra = "".join(f"\t{line}\n" for line in extra.strip().splitlines())
    return f"""{{
	admin 127.0.0.1:{admin_port}
	local_certs
	skip_install_trust
	auto_https disable_redirects
	http_port {free_port()}
	storage file_system {{
		root {directory / "storage"}
	}}
	log {{
		output stderr
		format json
		level INFO
	}}
}}

https://127.0.0.1:{port} {{
	bind 127.0.0.1
	tls internal
	reverse_proxy {hosts} {{
		lb_policy round_robin
		lb_try_duration 3s
		lb_try_interval 100ms
		health_uri /readyz
		health_interval {HEALTH_INTERVAL}
		health_timeout 1s
		health_status 200
		fail_duration 2s
		max_fails 1
		unhealthy_latency 5s
		flush_interval -1
	}}
{extra}}}
"""


class Caddy:
    def __init__(
        self, directory: Path, port: int, admin_port: int, process: subprocess.Popen[bytes]
    ) -> None:
        self.directory = directory
        self.port = port
        self.admin_port = admin_port
        self.process: subprocess.Popen[bytes] | None = process

    @classmethod
    def launch(
        cls, directory: Path, upstreams: list[str], *, extra: str = "", port: int | None = None
    ) -> Caddy:
        """Start Caddy serving https://127.0.0.1:`port` (a free one if None) in front of
        `upstreams` (http://host:port each); `extra` is pasted into the site block. Returns
        once it answers over TLS (any status: the upstreams may not be ready yet); raises
        RuntimeError with Caddy's log if it exits or never answers within 15 s."""
        directory.mkdir(parents=True, exist_ok=True)
        port = port if port is not None else free_port()
        admin_port = free_port()
        config = directory / "Caddyfile"
        config.write_text(_caddyfile(directory, port, admin_port, upstreams, extra))
        home = directory / "home"
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        log = (directory / "caddy.log").open("wb")
        try:
            process = subprocess.Popen(
                [BINARY, "run", "--config", str(config), "--adapter", "caddyfile"],
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()  # the child holds its own descriptor
        caddy = cls(directory, port, admin_port, process)
        deadline = time.monotonic() + START_SECONDS
        while caddy.status("/healthz") is None:
            if process.poll() is not None or time.monotonic() > deadline:
                caddy.stop()
                raise RuntimeError(f"caddy did not serve in time:\n{caddy.log_text()}")
            time.sleep(POLL_SECONDS)
        return caddy

    @property
    def url(self) -> str:
        return public_url(self.port)

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ws"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def root_cert(self) -> Path:
        """Caddy's internal root CA certificate, once it has issued the site's certificate."""
        return self.directory / "storage" / "pki" / "authorities" / "local" / "root.crt"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only Caddy's internal root, with hostname checks on."""
        return ssl.create_default_context(cafile=str(self.root_cert))

    def status(self, path: str = "/", timeout: float = 1.0) -> int | None:
        """The status of a GET through Caddy over verified TLS, or None if nothing answered."""
        if not self.root_cert.exists():
            return None
        handlers = [*_OPENER_HANDLERS, urllib.request.HTTPSHandler(context=self.ssl_context())]
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(self.url + path, timeout=timeout) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, ssl.SSLError):
            return None

    def upstreams(self) -> list[dict[str, Any]]:
        """Caddy's own view of its upstreams (admin API `/reverse_proxy/upstreams`): each has
        `address`, `num_requests` and `fails`. Unhealthy-by-active-check ones are not marked
        here in Caddy 2.6; use `status()` through the proxy to see the effect."""
        opener = urllib.request.build_opener(*_OPENER_HANDLERS)
        with opener.open(self.admin_url + "/reverse_proxy/upstreams", timeout=2.0) as answer:
            data: list[dict[str, Any]] = json.loads(answer.read())
            return data

    def log_text(self) -> str:
        """Caddy's log so far (JSON lines)."""
        path = self.directory / "caddy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (Caddy closes its listeners and proxied WebSockets), then kill at 10 s."""
        process, self.process = self.process, None
        stop_process(process, STOP_SECONDS)

    def __enter__(self) -> Caddy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
