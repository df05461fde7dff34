"""The limits a node enforces on every connection, in one frozen object.

Each limit is a number a host may change (flag or `HEARTH_*` variable); the defaults are
chosen for this protocol, not taken from a library. The memory arithmetic that bounds a
node lives beside each value so a host can size a machine:

- `frame_bytes` (32 KiB): the largest inbound frame. An SDP offer with many candidates is
  ~6-12 KiB; nothing else comes close. A reader buffers at most one frame per connection,
  so 5,000 connections cost at most 160 MiB in the worst instant, never more.
- `outbound_bytes` (256 KiB): bytes waiting to be written to one slow client before it is
  dropped and left to resume (about 1,500 chat frames). It bounds a stalled reader's cost.
- `history_events` / `history_seconds`: each room keeps at most this much history for
  resuming members (~300 B an event, so ~300 KiB a busy room); `history_seconds` is never
  shorter than the grace period. `replay_events` caps one resume's replay: past it, a
  snapshot is cheaper and is sent instead.
- `rate_per_second` / `rate_burst`: a token bucket per connection; a member typing and a
  browser negotiating media (ICE candidates arrive in bursts of ~20) stay far below it.
- `connections_per_ip` (50) / `hello_per_minute` (120): per address. A whole group may join
  from one community centre's network, each person's page saying hello (and asking for the
  room's preview) once; tokens carry 192 random bits, so the hello limit is a brake on
  floods rather than the thing that makes guessing hopeless.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Limits:
    frame_bytes: int = 32 * 1024
    rate_per_second: float = 20.0
    rate_burst: int = 60
    chat_chars: int = 2000
    name_chars: int = 40
    support_chars: int = 1000
    topic_chars: int = 200
    lobby_message_chars: int = 300
    connections_per_ip: int = 50
    hello_per_minute: int = 120
    outbound_bytes: int = 256 * 1024
    hello_timeout_seconds: float = 10.0
    ping_interval_seconds: float = 20.0
    ping_timeout_seconds: float = 20.0
    dedupe_window_seconds: float = 300.0
    history_events: int = 1000
    history_seconds: float = 3600.0
    replay_events: int = 500

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, which are also the suffixes of the `HEARTH_*` variables."""
        return tuple(f.name for f in fields(cls))
