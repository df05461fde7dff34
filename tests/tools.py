"""What tests do when a system tool they need is missing.

`make test` installs every tool the suite uses (redis-server, chromium, caddy, coturn, nginx,
...), so in CI (CI=true) a missing tool is a broken install step and fails the test; on a
developer's machine it skips the test, with the package to install in the reason.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_tool(reason: str) -> NoReturn:
    """Skip the calling test, or fail it in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI: make test should have installed it)")
    pytest.skip(reason)
