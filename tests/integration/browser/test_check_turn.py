"""The join page's connection check in real Chromium, through the host's TURN (a real coturn).

The page gets the host's ICE servers and policy with its preview (POST /api/preview) and hands
them to check.js; with the host's policy "relay" the browser may only use TURN, so a good
verdict means the check went through coturn, and coturn's log shows the page's own
short-lived credential (username "<expiry>:prejoin-check") allocating.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from server.echo import CHECK_PAGE_MEMBER
from tests import coturn
from tests.coturn import Coturn
from tests.integration.browser.people import make_room, open_link
from tests.integration.meeting import LOOSE_LIMITS
from tests.integration.nodes import NodeFactory
from tests.tools import missing_tool

SECRET = "browser-check-turn-secret"


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Coturn]:
    if not coturn.available():
        missing_tool("no /usr/bin/turnserver")
    # --verbose: coturn then logs each allocation's username, which the test looks for.
    with Coturn.launch(tmp_path / "coturn", SECRET, "--verbose") as server:
        yield server


def test_the_check_runs_through_turn_with_the_hosts_relay_policy(
    browser: Browser, node_factory: NodeFactory, turn: Coturn
) -> None:
    node = node_factory(
        env={
            **LOOSE_LIMITS,
            "HEARTH_TURN_URLS": turn.url_udp,
            "HEARTH_TURN_SECRET": SECRET,
            "HEARTH_ICE_POLICY": "relay",
        }
    )
    room = make_room(node.url, node.auth)
    ann = open_link(browser, room.invite_url, "Ann")
    try:
        result = ann.page.locator(".check-result")
        expect(result).to_have_attribute("data-verdict", "good", timeout=30_000)
        log = turn.log_path.read_text(errors="replace")
        assert f":{CHECK_PAGE_MEMBER}>" in log  # the page's own credential allocated
        assert SECRET not in node.log_text()
        assert ann.problems == []
    finally:
        ann.page.context.close()
