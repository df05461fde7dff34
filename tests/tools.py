"""What tests do when a system tool they need is missing.

`make test` installs every tool the suite uses (redis-server, chromium, caddy, coturn, nginx,
...), so in CI (CI=true) a missing tool is a broken install step and fails the test; on a
developer's machine it skips the test, with the package to install in the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import NoReturn

import pytest


def missing_tool(reason: str) -> NoReturn:
    """Skip the calling test, or fail it in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI: make test should have installed it)")
    pytest.skip(reason)


def stop_process(process: subprocess.Popen[bytes] | None, seconds: float) -> None:
    """SIGTERM a server the tests started, then kill it if it has not gone within `seconds`."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)
