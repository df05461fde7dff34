"""Identifiers of the domain, as distinct types so a member id is never mistaken for a turn id."""

from __future__ import annotations

from typing import NewType

MemberId = NewType("MemberId", str)
RoomId = NewType("RoomId", str)
TurnId = NewType("TurnId", str)
