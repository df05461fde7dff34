"""Browser tests: real headless Chromium (Playwright) against a real Hearth node.

    def test_x(browser, hearth):
        room = make_room(hearth.url, hearth.auth)
        fac, (ann,) = everyone_in(browser, room, "Fay", "Ann")

`browser` is one Chromium per test module (Debian's /usr/bin/chromium); `hearth` is a node
from `node_factory` with the per-address limits raised (every page connects from
127.0.0.1) and the connection check turned off (its aiortc peer would use the machine's
non-loopback address; the page then says plainly that it couldn't test, which is tested
too). Screenshots go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.integration.browser.people import CHROMIUM_ARGS, WAIT_MS
from tests.integration.meeting import LOOSE_LIMITS
from tests.integration.nodes import Node, NodeFactory

CHROMIUM = "/usr/bin/chromium"

# Assertions wait as long as actions do (the default 5 s is short for a loaded 2-core machine).
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def hearth(node_factory: NodeFactory) -> Node:
    return node_factory(env={**LOOSE_LIMITS, "HEARTH_CHECK_PEERS": "0"})
