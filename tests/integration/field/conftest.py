"""The production shape on loopback: Caddy (TLS) in front of two nodes on one Redis, coturn.

    def test_x(browser, site):
        room = site.room()                      # made through Caddy's https address
        fay = open_https(browser, room.facilitator_url, "Fay")

`site` starts, in the test's temporary directory and on free loopback ports: a redis-server
(tests/redis_server.py), coturn with the TURN REST secret (tests/coturn.py), two Hearth nodes
on that Redis with one admin token, TURN configured and `HEARTH_ICE_POLICY=relay`, and Caddy
(tests/caddy.py) serving https://127.0.0.1:PORT round-robin over both. The nodes are told
that address (`HEARTH_PUBLIC_URL`: links, the /ws Origin check) and to trust Caddy's
X-Forwarded-For. At teardown Caddy stops first, then the nodes, coturn, Redis.

`browser` is the browser tests' Chromium (tests/integration/browser/conftest.py); pages here
come from `open_https`, whose context accepts the certificate of Caddy's internal CA, which
no trust store on the machine knows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests import caddy as caddy_module
from tests import coturn as coturn_module
from tests import redis_server
from tests.caddy import Caddy
from tests.coturn import Coturn
from tests.integration.browser.conftest import browser  # the browser tests' Chromium
from tests.integration.browser.people import Person, Room, open_link
from tests.integration.meeting import LOOSE_LIMITS
from tests.integration.nodes import Node, NodeFactory
from tests.redis_server import RedisServer
from tests.tools import missing_tool

__all__ = ["Site", "browser", "open_https", "site"]

NODES = 2


@dataclass
class Site:
    caddy: Caddy
    nodes: list[Node]
    redis: RedisServer
    turn: Coturn
    admin_token: str

    def room(self, name: str = "Tuesday evening circle") -> Room:
        """A room made through Caddy (verified TLS, trusting only Caddy's root); its links
        are the ones the node printed, with `?test` added (see web_client/app.js)."""
        answer = httpx.post(
            f"{self.caddy.url}/api/rooms",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            json={"name": name, "guidelines": "We listen without fixing."},
            verify=self.caddy.ssl_context(),
            trust_env=False,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        made = answer.json()
        for link in ("invite_url", "facilitator_url"):
            assert made[link].startswith(f"{self.caddy.url}/r/"), made[link]

        def test_link(url: str) -> str:
            path, fragment = url.split("#", 1)
            return f"{path}?test#{fragment}"

        return Room(made["id"], test_link(made["invite_url"]), test_link(made["facilitator_url"]))


@pytest.fixture
def site(tmp_path: Path, node_factory: NodeFactory) -> Iterator[Site]:
    for module in (redis_server, coturn_module, caddy_module):
        if not module.available():
            missing_tool(f"{module.BINARY} is not installed (make test installs it)")
    port = caddy_module.free_port()
    token = secrets.token_urlsafe(24)
    with (
        RedisServer.launch(tmp_path / "redis") as redis,
        Coturn.launch(tmp_path / "coturn", secrets.token_urlsafe(16)) as turn,
    ):
        env = {
            **LOOSE_LIMITS,
            **caddy_module.node_env(caddy_module.public_url(port)),
            "HEARTH_REDIS_URL": redis.url,
            "HEARTH_TURN_URLS": f"{turn.url_udp},{turn.url_tcp}",
            "HEARTH_TURN_SECRET": turn.secret,
            "HEARTH_ICE_POLICY": "relay",
            # The connection check's aiortc peer would gather the machine's own addresses.
            "HEARTH_CHECK_PEERS": "0",
        }
        nodes = [node_factory(env=env, admin_token=token) for _ in range(NODES)]
        try:
            with Caddy.launch(tmp_path / "caddy", [n.url for n in nodes], port=port) as caddy:
                yield Site(caddy, nodes, redis, turn, token)
        finally:
            for node in nodes:  # before Redis and coturn go; node_factory's stop is then a no-op
                node.stop()


def open_https(browser: Browser, url: str, name: str) -> Person:
    """`people.open_link` for a page behind Caddy: the context accepts its certificate."""
    return open_link(browser, url, name, ignore_https_errors=True)
