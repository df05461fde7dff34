"""Room definitions in one SQLite file, for a node that runs alone.

Rules of this module:
- One file, `rooms.sqlite3` under the data directory; the directory is created 0700 and the
  file 0600 (SQLite gives its -wal and -shm files the same mode). Only token hashes go in.
- One connection, opened on first use and closed by `close()`. Calls run inline on the event
  loop: each is one indexed statement on a tiny table, well under a millisecond, so a thread
  hop would cost more than it saves (docs/decisions/002-room-definitions-in-sqlite.md).
- WAL mode with a short busy timeout, so `hearth room create` in another process can write
  while a node is serving; every operation is a single statement, hence atomic.
- The schema has a version (`PRAGMA user_version`); opening an older file brings it up to
  date in one IMMEDIATE transaction, adding what is missing (version 2: the `schedule`
  column, JSON or NULL), so a file from any earlier Hearth keeps working. A newer file is
  refused rather than guessed at.
- `secure_delete` is on: a deleted room's name and guidelines are overwritten, not left in
  free pages of the file.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.room_store import (
    DEFAULT_SHARE_SECONDS,
    IssuedTokens,
    Role,
    RoomDef,
    check_fields,
    match_token,
    new_room_id,
    new_tokens,
    token_hash,
)
from server.schedule import Schedule, from_stored, stored

FILENAME = "rooms.sqlite3"
SCHEMA_VERSION = 2
# Another process (the CLI) may hold the write lock for a moment; wait that long, no more.
BUSY_TIMEOUT_MS = 1000
# A fresh random id colliding even once is astronomically unlikely; twice means a bug.
ID_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    guidelines TEXT NOT NULL,
    crisis TEXT NOT NULL,
    share_seconds INTEGER NOT NULL,
    created_at REAL NOT NULL,
    invite_hash TEXT NOT NULL,
    facilitator_hash TEXT NOT NULL,
    schedule TEXT
) STRICT
"""
# Columns added after version 1, by the version that added them: (version, column, type).
_ADDED = ((2, "schedule", "TEXT"),)
_COLUMNS = "id, name, guidelines, crisis, share_seconds, created_at, schedule"


class StoreSchemaError(RuntimeError):
    """The file was written by a newer Hearth; refuse rather than guess."""


def _room(row: tuple[Any, ...]) -> RoomDef:
    return RoomDef(
        id=str(row[0]),
        name=str(row[1]),
        guidelines=str(row[2]),
        crisis=str(row[3]),
        share_seconds=int(row[4]),
        created_at=float(row[5]),
        schedule=from_stored(row[6]),
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the table, or add the columns an older file lacks; one transaction, so a
    second process opening the same old file at once waits, then finds nothing to do."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SCHEMA)
        have = {str(row[1]) for row in conn.execute("PRAGMA table_info(rooms)")}
        for _version, column, kind in _ADDED:
            if column not in have:
                conn.execute(f"ALTER TABLE rooms ADD COLUMN {column} {kind}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteRoomStore:
    """`RoomStore` over one SQLite file at `path`."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteRoomStore:
        return cls(data_dir / FILENAME)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file ourselves so it is 0600 from its first byte.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        # isolation_level=None: autocommit; every method is one statement, hence atomic.
        # check_same_thread=False: the event loop serialises all calls, but the thread that
        # opens the store (e.g. a test client's portal) may differ from the one closing it.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA secure_delete = ON")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreSchemaError(f"{self.path} has schema {version}, newer than this Hearth")
            if version < SCHEMA_VERSION:
                _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def create(
        self,
        name: str,
        guidelines: str = "",
        crisis: str = "",
        share_seconds: int = DEFAULT_SHARE_SECONDS,
        schedule: Schedule | None = None,
    ) -> tuple[RoomDef, IssuedTokens]:
        checked = check_fields(
            name=name,
            guidelines=guidelines,
            crisis=crisis,
            share_seconds=share_seconds,
            schedule=schedule,
        )
        tokens = new_tokens()
        db = self._db()
        for attempt in range(ID_ATTEMPTS):
            room = RoomDef(
                id=new_room_id(),
                name=checked.name or name,
                guidelines=checked.guidelines or "",
                crisis=checked.crisis or "",
                share_seconds=checked.share_seconds or share_seconds,
                created_at=self._clock(),
                schedule=checked.schedule,
            )
            try:
                db.execute(
                    f"INSERT INTO rooms ({_COLUMNS}, invite_hash, facilitator_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        room.id,
                        room.name,
                        room.guidelines,
                        room.crisis,
                        room.share_seconds,
                        room.created_at,
                        stored(room.schedule) or None,
                        token_hash(tokens.invite),
                        token_hash(tokens.facilitator),
                    ),
                )
            except sqlite3.IntegrityError:
                if attempt + 1 == ID_ATTEMPTS:
                    raise
                continue
            return room, tokens
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, room_id: str) -> RoomDef | None:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        found = row.fetchone()
        return None if found is None else _room(found)

    async def list(self) -> builtins.list[RoomDef]:
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM rooms ORDER BY created_at, id")
        return [_room(row) for row in rows.fetchall()]

    async def update(
        self,
        room_id: str,
        *,
        name: str | None = None,
        guidelines: str | None = None,
        crisis: str | None = None,
        share_seconds: int | None = None,
        schedule: Schedule | None = None,
        clear_schedule: bool = False,
    ) -> RoomDef | None:
        checked = check_fields(
            name=name,
            guidelines=guidelines,
            crisis=crisis,
            share_seconds=share_seconds,
            schedule=schedule,
            clear_schedule=clear_schedule,
        )
        # "" clears the column (nullif makes it NULL); NULL keeps it.
        new_schedule = "" if checked.clear_schedule else (stored(checked.schedule) or None)
        # coalesce keeps a column when its parameter is NULL, i.e. "not given".
        rows = (
            self._db()
            .execute(
                "UPDATE rooms SET name = coalesce(?, name), guidelines = coalesce(?, guidelines),"
                " crisis = coalesce(?, crisis), share_seconds = coalesce(?, share_seconds),"
                " schedule = nullif(coalesce(?, schedule), '')"
                f" WHERE id = ? RETURNING {_COLUMNS}",
                (
                    checked.name,
                    checked.guidelines,
                    checked.crisis,
                    checked.share_seconds,
                    new_schedule,
                    room_id,
                ),
            )
            .fetchall()
        )
        return _room(rows[0]) if rows else None

    async def delete(self, room_id: str) -> bool:
        cursor = self._db().execute("DELETE FROM rooms WHERE id = ?", (room_id,))
        return cursor.rowcount > 0

    async def rotate(self, room_id: str) -> tuple[RoomDef, IssuedTokens] | None:
        tokens = new_tokens()
        rows = (
            self._db()
            .execute(
                f"UPDATE rooms SET invite_hash = ?, facilitator_hash = ? WHERE id = ?"
                f" RETURNING {_COLUMNS}",
                (token_hash(tokens.invite), token_hash(tokens.facilitator), room_id),
            )
            .fetchall()
        )
        return (_room(rows[0]), tokens) if rows else None

    async def enter(self, room_id: str, token: str) -> tuple[RoomDef, Role] | None:
        found = (
            self._db()
            .execute(
                f"SELECT {_COLUMNS}, invite_hash, facilitator_hash FROM rooms WHERE id = ?",
                (room_id,),
            )
            .fetchone()
        )
        if found is None:
            match_token(token, None, None)  # the same work as for a wrong token
            return None
        role = match_token(token, str(found[-2]), str(found[-1]))
        return None if role is None else (_room(found), role)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
