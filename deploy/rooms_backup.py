"""Back up, and restore, Hearth's room definitions kept in Redis (several nodes), nothing else.

    HEARTH_REDIS_URL=redis://127.0.0.1:6379/0 python3 rooms_backup.py export > rooms.json
    HEARTH_REDIS_URL=redis://127.0.0.1:6379/0 python3 rooms_backup.py import < rooms.json

With compose, the script need not be in the image: `python -c "$(cat rooms_backup.py)" ...`
inside a node container (docs/hosting.md, "Backups"). One node on its own keeps its rooms in
one SQLite file instead, and needs no script.

Rules of this script:
- It reads and writes only the definition keys: `hearth:defs` (the index, a sorted set of
  room ids by creation time) and `hearth:def:<id>` (one hash per room). Meeting state (the
  `hearth:{<room>}...` keys, `hearth:rooms`, `hearth:nodes`) is never read: it is not
  something Hearth lets anyone keep.
- The file holds each room's name, guidelines, crisis text, share time and the HASHES of its
  invite and facilitator tokens, never a token: links made before the backup work again after
  a restore. Names and guidelines are in clear, so keep the file as private as the server.
- `import` never overwrites: a room whose id is already there is left alone and counted.
- It prints counts to stderr, never a name or a field.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, cast

import redis

INDEX = "hearth:defs"
PREFIX = "hearth:def:"
FORMAT = "hearth-rooms/1"
TIMEOUT_SECONDS = 5.0


def connect() -> redis.Redis:
    url = os.environ.get("HEARTH_REDIS_URL", "")
    if not url:
        sys.exit("rooms_backup: set HEARTH_REDIS_URL (the nodes' Redis)")
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
    )


def export(client: redis.Redis) -> dict[str, Any]:
    rooms = []
    # redis-py's sync and async methods share annotations; these calls are the sync ones.
    index = cast(list[tuple[str, float]], client.zrange(INDEX, 0, -1, withscores=True))
    for room_id, created in index:
        fields = cast(dict[str, str], client.hgetall(PREFIX + room_id))
        if fields:  # an index entry whose room was deleted meanwhile
            rooms.append({"id": room_id, "created": created, "fields": fields})
    return {"format": FORMAT, "rooms": rooms}


def restore(client: redis.Redis, backup: dict[str, Any]) -> tuple[int, int]:
    """(restored, already there)."""
    if backup.get("format") != FORMAT:
        sys.exit(f"rooms_backup: not a {FORMAT} file")
    restored = present = 0
    for room in backup["rooms"]:
        key = PREFIX + room["id"]
        if client.exists(key):
            present += 1
            continue
        with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=room["fields"])
            pipe.zadd(INDEX, {room["id"]: room["created"]})
            pipe.execute()
        restored += 1
    return restored, present


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("export", "import"):
        print(__doc__, file=sys.stderr)
        return 2
    client = connect()
    if argv[0] == "export":
        backup = export(client)
        json.dump(backup, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        print(f"rooms_backup: exported {len(backup['rooms'])} rooms", file=sys.stderr)
    else:
        restored, present = restore(client, json.load(sys.stdin))
        print(f"rooms_backup: restored {restored}, already there {present}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
