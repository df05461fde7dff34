"""`RedisRoomStore`: room definitions as plain Redis keys, for several nodes on one Redis.

Rules of this module (beyond the RoomStore contract in server/room_store.py):
- One hash per room, `hearth:def:<id>`: the fields of `RoomDef` and the two token HASHES;
  `hearth:defs` is a sorted set of room ids by creation time, for `list`. Every change to a
  room's hash is one single-key script, so each stays atomic and Cluster-friendly; the index
  is updated beside it and `list` skips ids whose hash is gone.
- A schedule is the hash's `schedule` field, its JSON (server/schedule.py `stored`); ""
  or no field means none, so hashes written before schedules existed read as unscheduled.
- Definitions have no TTL: they are durable by design, unlike meeting state.
- A Redis failure raises `RoomStoreUnavailable`, which callers answer with "unavailable";
  every call is bounded by the client's short timeouts.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

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

INDEX = "hearth:defs"
ID_ATTEMPTS = 5
TIMEOUT_SECONDS = 2.0

# Create the hash only if absent: KEYS[1] the room's hash; ARGV field/value pairs.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
# Change fields of an existing hash: KEYS[1]; ARGV field/value pairs; returns the hash.
_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])
"""

_FIELDS = ("name", "guidelines", "crisis", "share_seconds", "created_at")


class RoomStoreUnavailable(RuntimeError):
    """Redis could not be reached or did not answer in time."""


def _key(room_id: str) -> str:
    return f"hearth:def:{room_id}"


def _decode(raw: Any) -> dict[str, str]:
    # HGETALL answers a dict; from a script it is a flat [field, value, ...] list.
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    items = list(pairs)
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in items
    }


def _room(room_id: str, h: dict[str, str]) -> RoomDef:
    return RoomDef(
        id=room_id,
        name=h["name"],
        guidelines=h.get("guidelines", ""),
        crisis=h.get("crisis", ""),
        share_seconds=int(h.get("share_seconds", DEFAULT_SHARE_SECONDS)),
        created_at=float(h.get("created_at", 0.0)),
        schedule=from_stored(h.get("schedule")),
    )


class RedisRoomStore:
    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            decode_responses=False,
            # After Redis restarts, each idle pooled connection fails its next command
            # ("closed by server") though Redis is back: try once more on a fresh one, or
            # the next hello or resume is refused `unavailable`. Connection errors only,
            # never a timeout. A write cut off mid-reply and repeated does no harm here: a
            # create takes another id, a delete says "not found", the rest set values again.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._clock = clock
        self._create = self._redis.register_script(_CREATE)
        self._change = self._redis.register_script(_CHANGE)

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except (RedisError, OSError) as exc:
            raise RoomStoreUnavailable("the room store (Redis) did not answer") from exc

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
        for _ in range(ID_ATTEMPTS):
            room = RoomDef(
                id=new_room_id(),
                name=checked.name or name,
                guidelines=checked.guidelines or "",
                crisis=checked.crisis or "",
                share_seconds=checked.share_seconds or share_seconds,
                created_at=self._clock(),
                schedule=checked.schedule,
            )
            pairs = [
                "name", room.name, "guidelines", room.guidelines, "crisis", room.crisis,
                "share_seconds", str(room.share_seconds), "created_at", repr(room.created_at),
                "invite_hash", token_hash(tokens.invite),
                "facilitator_hash", token_hash(tokens.facilitator),
                "schedule", stored(room.schedule),
            ]  # fmt: skip
            if await self._call(self._create(keys=[_key(room.id)], args=pairs)):
                await self._call(self._redis.zadd(INDEX, {room.id: room.created_at}))
                return room, tokens
        raise RoomStoreUnavailable("could not find a free room id")  # pragma: no cover

    async def get(self, room_id: str) -> RoomDef | None:
        h = _decode(await self._call(self._redis.hgetall(_key(room_id))))
        return _room(room_id, h) if "name" in h else None

    async def list(self) -> builtins.list[RoomDef]:
        ids = [i.decode() for i in await self._call(self._redis.zrange(INDEX, 0, -1))]
        pipe = self._redis.pipeline(transaction=False)
        for room_id in ids:
            pipe.hgetall(_key(room_id))
        hashes = await self._call(pipe.execute()) if ids else []
        return [
            _room(room_id, h)
            for room_id, h in zip(ids, map(_decode, hashes), strict=True)
            if "name" in h
        ]

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
        pairs: list[str] = []
        for field in _FIELDS[:4]:
            value = getattr(checked, field)
            if value is not None:
                pairs += [field, str(value)]
        if checked.schedule is not None or checked.clear_schedule:
            pairs += ["schedule", stored(checked.schedule)]
        raw = await self._call(self._change(keys=[_key(room_id)], args=pairs))
        return None if raw is None else _room(room_id, _decode(raw))

    async def delete(self, room_id: str) -> bool:
        deleted = await self._call(self._redis.delete(_key(room_id)))
        await self._call(self._redis.zrem(INDEX, room_id))
        return bool(deleted)

    async def rotate(self, room_id: str) -> tuple[RoomDef, IssuedTokens] | None:
        tokens = new_tokens()
        pairs = [
            "invite_hash", token_hash(tokens.invite),
            "facilitator_hash", token_hash(tokens.facilitator),
        ]  # fmt: skip
        raw = await self._call(self._change(keys=[_key(room_id)], args=pairs))
        return None if raw is None else (_room(room_id, _decode(raw)), tokens)

    async def enter(self, room_id: str, token: str) -> tuple[RoomDef, Role] | None:
        h = _decode(await self._call(self._redis.hgetall(_key(room_id))))
        role = match_token(token, h.get("invite_hash"), h.get("facilitator_hash"))
        return None if role is None or "name" not in h else (_room(room_id, h), role)

    async def close(self) -> None:
        await self._redis.aclose()
