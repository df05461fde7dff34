"""Who may see an event.

Every event names its audience; delivery (live fan-out and history replay alike) asks
`may_see` for each viewer and drops what the viewer may not see. People waiting in the lobby
see only what concerns them: they must not learn who sits in the circle before they are let
in. Support notes and lobby arrivals reach facilitators only.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms.ids import MemberId
from rooms.state import Role, RoomState


@dataclass(frozen=True, slots=True)
class Audience:
    admitted: bool = False  # everyone admitted to the circle, facilitators included
    facilitators: bool = False
    lobby: bool = False  # everyone waiting in the lobby
    members: frozenset[MemberId] = frozenset()  # these people, whatever their place

    def including(self, member: MemberId) -> Audience:
        return Audience(self.admitted, self.facilitators, self.lobby, self.members | {member})


EVERYONE = Audience(admitted=True)
FACILITATORS = Audience(facilitators=True)
LOBBY_AND_FACILITATORS = Audience(facilitators=True, lobby=True)
EVERYONE_AND_LOBBY = Audience(admitted=True, lobby=True)


def only(member: MemberId) -> Audience:
    return Audience(members=frozenset({member}))


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person a delivery is for, as they stood when the event happened."""

    id: MemberId
    role: Role
    waiting: bool


def viewer_of(state: RoomState, member: MemberId) -> Viewer | None:
    p = state.person(member)
    return None if p is None else Viewer(p.id, p.role, p.waiting)


def may_see(viewer: Viewer, audience: Audience) -> bool:
    if viewer.id in audience.members:
        return True
    if viewer.waiting:
        return audience.lobby
    if audience.admitted:
        return True
    return audience.facilitators and viewer.role is Role.FACILITATOR
