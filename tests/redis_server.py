"""A real redis-server for tests: on a free loopback port, in a temporary directory.

Never the shared 6379. The server runs with the append-only settings Hearth ships
(deploy/redis.conf: `appendonly yes`, `appendfsync everysec`) and no RDB snapshots, so
`kill()` then `start()` on the same port and directory shows what a host gets after a crash
of the Redis process. Every wait is bounded.

    server = RedisServer.launch(tmp_path)
    server.restart(crash=True)             # kill -9, then back with the data
    server.restart(empty=True)             # a clean stop, then back with nothing
    with server.paused(): ...              # SIGSTOP, then SIGCONT
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"
START_SECONDS = 10.0
STOP_SECONDS = 10.0


def available() -> bool:
    return os.access(BINARY, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, directory: Path, port: int, extra: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.port = port
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(cls, directory: Path, *extra: str) -> RedisServer:
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(directory, free_port(), extra)
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, empty: bool = False) -> None:
        """Start (again) on the same port and directory; `empty` throws the data away."""
        assert self.process is None, "already running"
        if empty:
            for entry in self.directory.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                elif entry.name != "redis.log":
                    entry.unlink()
        args = [
            BINARY,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not answer in time")
            time.sleep(0.02)

    def restart(self, *, crash: bool = False, empty: bool = False) -> None:
        """Stop (SIGKILL with `crash`, else SIGTERM) and start again on the same port."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start(empty=empty)

    def ping(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file is flushed."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """A crash of the Redis process (SIGKILL): what was written to the AOF stays."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a paused server can't exit
            process.send_signal(sig)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
