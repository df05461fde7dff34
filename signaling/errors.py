"""The wire's errors: one tree, each with its code, mapped to frames in one place.

    SignalingError
    ├── BadFrame        bad_frame       not msgpack, not a map, text instead of binary
    ├── TooLarge        too_large       a field or frame past its limit (frames past the
    │                                   hard limit are closed with 1009 by the transport)
    ├── UnknownType     unknown_type    `t` names no frame type
    ├── InvalidFrame    invalid         a field missing or of the wrong type, an unknown op
    ├── Forbidden       not_allowed     e.g. a signal to someone outside the circle
    ├── RateLimited     rate_limited    past the connection's token bucket
    ├── BadToken        bad_token       unknown room, wrong, rotated or revoked token
    ├── ResumeExpired   resume_expired  forged, reused or expired resume token; seat ended
    └── Unavailable     unavailable     the broker (Redis) can't be reached right now

The room engine's own refusals (`rooms.RoomError`: not_allowed, invalid, room_locked) pass
through `describe` too. Anything else is a bug: it becomes `internal` with a fixed message,
and its text never reaches a client.
"""

from __future__ import annotations

from rooms import RoomError


class SignalingError(Exception):
    code = "internal"
    default = "Something went wrong on our side."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default
        super().__init__(self.message)


class BadFrame(SignalingError):
    code = "bad_frame"
    default = "That frame could not be read: send one binary msgpack map."


class TooLarge(SignalingError):
    code = "too_large"

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what, self.size, self.limit = what, size, limit
        super().__init__(f"{what} is too long ({size} > {limit}).")


class UnknownType(SignalingError):
    code = "unknown_type"
    default = "Unknown frame type."


class InvalidFrame(SignalingError):
    code = "invalid"
    default = "That request is not valid."


class Forbidden(SignalingError):
    code = "not_allowed"
    default = "You can't do that."


class RateLimited(SignalingError):
    code = "rate_limited"
    default = "Slow down a little: too many messages."


class BadToken(SignalingError):
    code = "bad_token"
    default = "This link doesn't open a room. Ask your facilitator for a fresh one."


class ResumeExpired(SignalingError):
    code = "resume_expired"
    default = "Your seat could not be kept. Please join again."


class Unavailable(SignalingError):
    code = "unavailable"
    default = "The server can't reach its store right now. Please try again in a moment."


def describe(exc: BaseException) -> tuple[str, str]:
    """The (code, message) a client is told for `exc`; unknown errors reveal nothing."""
    if isinstance(exc, SignalingError | RoomError):
        return exc.code, exc.message
    return SignalingError.code, SignalingError.default
