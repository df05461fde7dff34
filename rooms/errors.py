"""Refusals of the room engine.

`decide` raises one of these and changes nothing; the signaling layer maps each `code` to a
wire error. The message is written for the person who tried: plain words, no internals.

    RoomError
    ├── NotAllowed   (code "not_allowed")  the actor may not do this
    │   └── RoomLocked (code "room_locked") a new arrival at a locked room
    └── Invalid      (code "invalid")      the request makes no sense in this state
"""

from __future__ import annotations


class RoomError(Exception):
    code = "room_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(RoomError):
    code = "not_allowed"


class RoomLocked(NotAllowed):
    code = "room_locked"


class Invalid(RoomError):
    code = "invalid"
