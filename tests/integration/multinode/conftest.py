"""Fixtures for many Hearth nodes sharing rooms through one real Redis.

    def test_x(redis, cluster):          # redis: this test's own redis-server
        a, b = cluster.start(2)          # the node factory: `hearth serve --redis <it>`

`redis` is a redis-server started for each test on a free loopback port (never 6379) in the
test's temporary directory, with the append-only settings Hearth ships, so a test may kill,
pause, restart or empty it (`tests/redis_server.py`). `cluster` starts nodes on it as real
processes (`tests/integration/nodes.py`) and keeps the people of the test
(`tests/integration/multinode/cluster.py`); at teardown every connection is closed, every
node stopped, then Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.multinode.cluster import Cluster
from tests.redis_server import RedisServer


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer.launch(tmp_path / "redis") as server:
        assert server.port != 6379
        yield server


@pytest.fixture
async def cluster(redis: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    made = Cluster(redis, tmp_path)
    try:
        yield made
    finally:
        await made.close()
