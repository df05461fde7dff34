"""Fixtures for tests against real nodes: `free_port`, `node_factory` and `node`.

    def test_x(node):                      # one node, default settings
        httpx.get(f"{node.url}/healthz")

    def test_y(node_factory):              # several, or with settings of their own
        a = node_factory(env={"HEARTH_GRACE_SECONDS": "1"}, args=["--frame-bytes", "4096"])

Each node has `.url`, `.ws_url`, `.admin_token`, `.auth` (the header), `.proc`, `.port`,
`.data_dir`, `.log_text()` (its JSON log lines) and `.stdout_text()`; all are stopped at
teardown. The helpers live in `tests/integration/nodes.py` for tools that are not tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.integration.nodes import Node, NodeFactory, free_port, start_node


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """Call it for a loopback port that was free a moment ago."""
    return free_port


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[NodeFactory]:
    started: list[Node] = []

    def factory(
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        admin_token: str | None = None,
    ) -> Node:
        node = start_node(
            tmp_path,
            args=args,
            env=env or {},
            data_dir=data_dir,
            admin_token=admin_token,
            name=f"node{len(started)}",
        )
        started.append(node)
        return node

    yield factory
    for node in reversed(started):
        node.stop()


@pytest.fixture
def node(node_factory: NodeFactory) -> Node:
    return node_factory()
