"""The Lua scripts of the Redis broker: every write that must be atomic is one of these.

Rules:
- A script touches only the keys of one room (one hash tag), passed in KEYS, so it runs on
  Redis Cluster too. Channels are not keys; the scripts publish freely.
- A script never fails halfway: Redis does not roll a script back, so every check comes
  before the first write.
- The compare-and-set: `commit` and `mark` check the room's `epoch` (and, for a commit
  that changes the state, its version `v`) against what the caller read; on a mismatch
  they answer CONFLICT and the caller reads again and re-decides. `append` (the fast path
  for events that change no state) checks both against the node's mirror and answers
  STALE, and the caller takes the full path.
- Time is an argument (the broker's clock), never `TIME` inside a script: dedupe windows
  and history ages are judged on the same clock the engine saw.
- A room's messages go to every node in its set of serving nodes, each on the room's
  channel for that node (`tell`); a commit skips the node that made it.
- Scripts are sent by SHA, through the courier (signaling/redis_courier.py); after a
  Redis restart the cache is empty, and `Scripts.run` loads the source again once.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from redis.exceptions import NoScriptError

from signaling.redis_courier import Courier

# Upkeep that need not run on every commit: trim the log by count and by age, prune expired
# dedupe keys and renew every key's safety TTL. `commit` runs it on every commit that
# changes the state and, like `append`, otherwise once per MAINTAIN_EVERY seqs, at the first
# commit of an epoch, and when MAINTAIN_SECONDS have passed since it last ran (field `m` of
# the room's hash). So the log is never longer than its bound by more than MAINTAIN_EVERY
# events (readers enforce the exact bounds, see RedisBroker.history), and the TTL, a 24 h
# safety net, is renewed at least once a minute while the room is written.
# The dedupe set keeps a sentinel member '' (score +inf) so that it never empties and
# vanishes: a set made again by a later ZADD would have no TTL until the next upkeep.
# A caller of `maintain` passes KEYS state, log, dedupe, seats, where, nodes as 1..6.
MAINTAIN_EVERY: Final = 64
MAINTAIN_SECONDS: Final = 60
_MAINTAIN: Final = f"""
local function due(first, last, now, previous)
  if first == 1 or not previous then return true end
  if math.floor((first - 1) / {MAINTAIN_EVERY}) ~= math.floor(last / {MAINTAIN_EVERY}) then
    return true
  end
  return tonumber(now) - tonumber(previous) >= {MAINTAIN_SECONDS}
end
local function maintain(now, maxlen, oldest_arg, ttl)
  redis.call('XTRIM', KEYS[2], 'MAXLEN', maxlen)
  local oldest = tonumber(oldest_arg)
  local batch = 1
  for _ = 1, 64 do
    local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', batch)
    if #head == 0 then break end
    local keep = nil
    for _, entry in ipairs(head) do
      if tonumber(entry[2][2]) >= oldest then keep = entry[1]; break end
    end
    if keep then
      redis.call('XTRIM', KEYS[2], 'MINID', keep)
      break
    end
    local last = tonumber(string.match(head[#head][1], '^(%d+)'))
    redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', last + 1))
    batch = 100
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], 'inf', '')
  for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
"""

# Publish `msg` on the room's channel of every node serving it but `skip`. Channels are
# not keys: a Cluster broadcasts them all the same.
_TELL: Final = """
local function tell(nodes, to, skip, msg)
  for _, node in ipairs(redis.call('SMEMBERS', nodes)) do
    if node ~= skip then redis.call('PUBLISH', to .. node, msg) end
  end
end
"""

# KEYS: state, log, dedupe, seats, where, nodes, reap, gone (RoomKeys.all())
# ARGV: 1 mode ('s': the state changes / 'n': it doesn't), 2 expected epoch ('' = none yet),
#   3 expected v, 4 epoch to create, 5 now, 6 dedupe key ('' = none), 7 its expiry,
#   8 new state, 9 drop ('1': the meeting is over or empty), 10 history events,
#   11 oldest time kept, 12 ttl ms, 13 the room's channel prefix, 14 message body, 15 the
#   dedupe key as published ('' = not published), 16 the committing node as published,
#   17... events
# The set of serving nodes outlives a drop and a new epoch: nodes leave it themselves.
# Returns {'OK', epoch, first seq, top seq, v, stored state if it moved meanwhile ('')},
#   {'CONFLICT'} or {'DUP'}. A dedupe key counts while its expiry is after `now`.
COMMIT: Final = (
    _MAINTAIN
    + _TELL
    + r"""
local h = redis.call('HMGET', KEYS[1], 'epoch', 'v', 'seq', 'm')
local epoch = h[1] or ''
if epoch ~= ARGV[2] then return {'CONFLICT'} end
local v = tonumber(h[2] or '0')
local expected_v = tonumber(ARGV[3])
if ARGV[1] == 's' and v ~= expected_v then return {'CONFLICT'} end
if ARGV[6] ~= '' then
  local expiry = redis.call('ZSCORE', KEYS[3], ARGV[6])
  if expiry and tonumber(expiry) > tonumber(ARGV[5]) then return {'DUP'} end
end
local seq = tonumber(h[3] or '0')
local previous = h[4]
local fields = {}
if epoch == '' then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7])
  fields = {'epoch', epoch}
  v, seq, previous = 0, 0, false
end
local first = seq + 1
local firsts = string.format('%d', first)
for i = 17, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], string.format('%d-0', seq), 't', ARGV[5], 'c', firsts, 'e', ARGV[i])
end
local seqs = string.format('%d', seq)
table.insert(fields, 'seq')
table.insert(fields, seqs)
if ARGV[1] == 's' then
  v = v + 1
  table.insert(fields, 'v')
  table.insert(fields, string.format('%d', v))
  table.insert(fields, 'state')
  table.insert(fields, ARGV[8])
end
local upkeep = ARGV[9] ~= '1' and (ARGV[1] == 's' or due(first, seq, ARGV[5], previous))
if upkeep then
  table.insert(fields, 'm')
  table.insert(fields, ARGV[5])
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) end
if upkeep then maintain(ARGV[5], ARGV[10], ARGV[11], ARGV[12]) end
local head = 'c ' .. epoch .. ' ' .. firsts .. ' ' .. ARGV[9] .. ' ' .. string.format('%d', v)
  .. ' ' .. seqs .. ' ' .. ARGV[16]
if ARGV[15] ~= '' then head = head .. ' ' .. ARGV[15] end
tell(KEYS[6], ARGV[13], ARGV[16], head .. '\n' .. ARGV[14])
local moved = ''
if ARGV[1] == 'n' and v ~= expected_v then moved = redis.call('HGET', KEYS[1], 'state') end
if ARGV[9] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7])
  redis.call('SET', KEYS[8], epoch, 'PX', ARGV[12])
end
return {'OK', epoch, first, seq, v, moved}
"""
)

# The fast path (RedisBroker's transact, see redis_transact): events that leave the state
# as it is, decided on this node's mirror of the room, appended in one round trip if the
# room is still at the epoch and state version `v` the mirror is at; else STALE and the
# caller takes the full path. No state write, no `v` change, never a drop.
# KEYS: state, log, dedupe, seats, where, nodes.
# ARGV: 1 epoch, 2 v, 3 now, 4 dedupe key ('' = none), 5 its expiry, 6 the dedupe key as
#   published ('' = not published), 7 history events, 8 oldest time kept, 9 ttl ms,
#   10 the room's channel prefix, 11 message body, 12 the committing node as published,
#   13... events
# Returns {'OK', first seq, top seq}, {'STALE'} or {'DUP'}.
APPEND: Final = (
    _MAINTAIN
    + _TELL
    + r"""
local h = redis.call('HMGET', KEYS[1], 'epoch', 'v', 'seq', 'm')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return {'STALE'} end
if ARGV[4] ~= '' then
  local expiry = redis.call('ZSCORE', KEYS[3], ARGV[4])
  if expiry and tonumber(expiry) > tonumber(ARGV[3]) then return {'DUP'} end
end
local seq = tonumber(h[3])
local first = seq + 1
local firsts = string.format('%d', first)
for i = 13, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], string.format('%d-0', seq), 't', ARGV[3], 'c', firsts, 'e', ARGV[i])
end
local seqs = string.format('%d', seq)
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4]) end
if due(first, seq, ARGV[3], h[4]) then
  redis.call('HSET', KEYS[1], 'seq', seqs, 'm', ARGV[3])
  maintain(ARGV[3], ARGV[7], ARGV[8], ARGV[9])
else
  redis.call('HSET', KEYS[1], 'seq', seqs)
end
local head = 'c ' .. ARGV[1] .. ' ' .. firsts .. ' 0 ' .. ARGV[2] .. ' ' .. seqs .. ' ' .. ARGV[12]
if ARGV[6] ~= '' then head = head .. ' ' .. ARGV[6] end
tell(KEYS[6], ARGV[10], ARGV[12], head .. '\n' .. ARGV[11])
return {'OK', first, seq}
"""
)

# A decision without events, with a dedupe key, in a room that exists: keep the key.
# KEYS: state, dedupe. ARGV: expected epoch, key, expiry, now, ttl ms.
MARK: Final = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or epoch ~= ARGV[1] then return 'CONFLICT' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 'DUP' end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 'OK'
"""

RESTORED_V: Final = 1  # the state version a restored room starts at (see RESTORE)

# The room's keys were lost (or its history rolled back): start a new epoch from a node's
# mirror of the state. The first node wins; a dropped epoch is never brought back.
# KEYS: state, log, dedupe, gone, nodes. ARGV: expected epoch ('' = none), expected seq,
#   previous epoch, new epoch, state, ttl ms, the room's channel prefix, this node (which
#   joins the serving nodes: their set may have gone with the rest).
RESTORE: Final = (
    _TELL
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch') or ''
if epoch ~= ARGV[1] then return 'CONFLICT' end
if epoch ~= '' and redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return 'CONFLICT' end
if redis.call('GET', KEYS[4]) == ARGV[3] then return 'GONE' end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', ARGV[4], 'seq', '0', 'v', '1', 'state', ARGV[5],
  'from', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[5], ARGV[8])
redis.call('PEXPIRE', KEYS[5], ARGV[6])
tell(KEYS[5], ARGV[7], '', 'r ' .. ARGV[4] .. ' ' .. ARGV[3])
return 'OK'
"""
)

# End the meeting state now. KEYS: RoomKeys.all(). ARGV: ttl ms, the room's channel prefix.
DROP: Final = (
    _TELL
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return false end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7])
redis.call('SET', KEYS[8], epoch, 'PX', ARGV[1])
tell(KEYS[6], ARGV[2], '', 'd ' .. epoch)
return epoch
"""
)

# Store a seat, only while the room has meeting state. KEYS: state, seats.
# ARGV: member, hash, ttl ms.
SEAT: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

# This node holds the member's connection now; kick the node that held it before.
# KEYS: where. ARGV: member, this node, ttl ms, node channel prefix, kick message.
CLAIM: Final = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if old and old ~= ARGV[2] then
  redis.call('PUBLISH', ARGV[4] .. old, ARGV[5])
  return old
end
return false
"""

# Route a signal to the node holding the member: 'local' (this node), 'node' (published to
# its channel) or 'room' (holder unknown: published to every node serving the room, for
# whichever holds the member). KEYS: where, nodes. ARGV: member, this node, the room's
# channel prefix, node channel prefix, message.
DIRECT: Final = (
    _TELL
    + """
local node = redis.call('HGET', KEYS[1], ARGV[1])
if not node then
  tell(KEYS[2], ARGV[3], '', ARGV[5])
  return 'room'
end
if node == ARGV[2] then return 'local' end
redis.call('PUBLISH', ARGV[4] .. node, ARGV[5])
return 'node'
"""
)

SOURCES: Final = {
    "commit": COMMIT,
    "append": APPEND,
    "mark": MARK,
    "restore": RESTORE,
    "drop": DROP,
    "seat": SEAT,
    "claim": CLAIM,
    "direct": DIRECT,
}


class Scripts:
    """Runs the scripts by SHA, loading one again if Redis has forgotten it (a restart)."""

    def __init__(self, courier: Courier) -> None:
        self._courier = courier
        self._sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in SOURCES.items()}

    async def load(self) -> None:
        for src in SOURCES.values():
            await self._courier.call("SCRIPT", "LOAD", src)

    async def run(self, name: str, keys: list[str], args: list[str | bytes | int | float]) -> Any:
        sha = self._sha[name]
        call = self._courier.call
        try:
            return await call("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            await call("SCRIPT", "LOAD", SOURCES[name])
            return await call("EVALSHA", sha, len(keys), *keys, *args)
