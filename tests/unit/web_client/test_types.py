"""The web client's JSDoc types, checked by TypeScript (`checkJs`, web_client/jsconfig.json).

TypeScript is not vendored: `npx` fetches it from the npm registry once and keeps it in its
cache. When it cannot be had (no node, no registry, no cache), the check is skipped with the
reason, never failed; when it runs, any type error fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NPX = ["npx", "--yes", "--prefer-offline", "-p", "typescript@5", "tsc"]
FETCH_SECONDS = 180
CHECK_SECONDS = 120


def test_the_web_client_type_checks() -> None:
    if shutil.which("npx") is None:
        pytest.skip("npx (node) is not installed")
    try:
        probe = subprocess.run(
            [*NPX, "--version"], capture_output=True, text=True, timeout=FETCH_SECONDS, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        pytest.skip("fetching TypeScript through npx took too long")
    if probe.returncode != 0 or not probe.stdout.startswith("Version 5"):
        pytest.skip(f"TypeScript 5 is not available through npx: {probe.stderr.strip()[-300:]}")
    check = subprocess.run(
        [*NPX, "-p", "web_client/jsconfig.json", "--noEmit"],
        capture_output=True,
        text=True,
        timeout=CHECK_SECONDS,
        cwd=ROOT,
    )
    assert check.returncode == 0, check.stdout + check.stderr
