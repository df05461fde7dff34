"""WebSocket close codes Hearth uses, with the reason a client shows or acts on.

Codes 4000-4999 are the application's own (RFC 6455 §7.4.2). A client resumes after
`MOVING`, `TOO_SLOW`, `GOING_AWAY`, `INTERNAL` and network failures; it does not after the
others. `MOVING` (RFC 6455's 1012, Service Restart) is a draining node's word: the seat is
kept, so resume at once, with no backoff, on another node (or through the load balancer,
which no longer routes here).
"""

from __future__ import annotations

from enum import IntEnum


class Close(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # the node is shutting down: resume elsewhere
    POLICY = 1008  # too many connections from one address, hello flood
    TOO_BIG = 1009
    INTERNAL = 1011
    MOVING = 1012  # the node is draining: resume at once, elsewhere (server/drain.py)
    REMOVED = 4000  # removed or denied by a facilitator
    REPLACED = 4001  # the same seat connected again elsewhere
    TOO_SLOW = 4002  # the outbound queue overflowed: resume to catch up
    HELLO_TIMEOUT = 4003
    ENDED = 4004  # the meeting ended
    LEFT = 4005  # the member left, or their seat ended
    RESUME_FAILED = 4006  # resume refused: join again


RESUMABLE = frozenset({Close.GOING_AWAY, Close.TOO_SLOW, Close.INTERNAL, Close.MOVING})
RESUME_AT_ONCE = frozenset({Close.MOVING})  # the rest of RESUMABLE resume after a backoff
