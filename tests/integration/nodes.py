"""Real Hearth nodes as subprocesses, for integration tests and benchmarks.

A node is `python -m server serve` on 127.0.0.1 with its own data directory, a random admin
token, and stdout/stderr captured to files, so a test can read its logs afterwards. Every
wait is bounded; nothing listens beyond loopback.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The test process's environment without any HEARTH_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["PYTHONUNBUFFERED"] = "1"  # printed links reach the capture file at once
    env.update(extra)
    return env


# No proxy: these requests must go to the loopback node, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 0.5) -> int | None:
    """The status of a GET, or None if nothing answered."""
    try:
        with _OPENER.open(url, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


@dataclass
class Node:
    port: int
    data_dir: Path
    admin_token: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    _files: list[object] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def log_text(self) -> str:
        """Everything the node logged so far (JSON lines on stderr)."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """Terminate (SIGTERM: graceful), wait up to 5 s, then kill. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_SECONDS)
        for f in self._files:
            f.close()  # type: ignore[attr-defined]
        self._files.clear()
        return int(self.proc.returncode)


def start_node(
    workdir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] = {},
    data_dir: Path | None = None,
    admin_token: str | None = None,
    name: str = "node",
    port: int | None = None,
) -> Node:
    """Start a node and return once its /healthz answers 200 (at most 10 s).

    `args` are appended to `serve` (e.g. ["--demo"], ["--grace-seconds", "1"]); `env` is
    added to a clean environment (e.g. {"HEARTH_FRAME_BYTES": "4096"}); `port` (with the same
    `data_dir` and `admin_token`) starts a node again where a stopped one was, as a restart
    does. Raises RuntimeError with the node's output if it exits or never becomes healthy.
    """
    port = free_port() if port is None else port
    data = data_dir if data_dir is not None else workdir / f"{name}-data"
    token = admin_token if admin_token is not None else secrets.token_urlsafe(24)
    stdout_path = workdir / f"{name}-{port}.stdout"
    stderr_path = workdir / f"{name}-{port}.stderr"
    stdout, stderr = stdout_path.open("wb"), stderr_path.open("wb")
    command = [
        sys.executable, "-m", "server", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data), "--log-format", "json",
        *args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=clean_env({"HEARTH_ADMIN_TOKEN": token, **env}),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )
    node = Node(port, data, token, proc, stdout_path, stderr_path, [stdout, stderr])
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if http_status(f"{node.url}/healthz") == 200:
            return node
        time.sleep(POLL_SECONDS)
    node.stop()
    raise RuntimeError(
        f"node on port {port} did not become healthy (exit {proc.returncode}):\n"
        f"--- stdout ---\n{node.stdout_text()}\n--- stderr ---\n{node.log_text()}"
    )


class NodeFactory(Protocol):
    """The `node_factory` fixture: start one more node; all stop at teardown."""

    def __call__(
        self,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        admin_token: str | None = None,
    ) -> Node: ...
