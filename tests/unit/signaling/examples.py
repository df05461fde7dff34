"""Example values built from the engine's own definitions, for tests that go over them all.

`example_event(cls)` fills every field of an event class from its annotation, so a new event
type is covered the day it is added; `key` gets a value that must never reach the wire.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from rooms import events as e

SECRET_KEY = "browser-key-never-on-the-wire"


def example_value(name: str, hint: object) -> object:
    """A plausible, non-default value for a field annotated `hint`."""
    if name == "key":
        return SECRET_KEY
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # MemberId, TurnId: NewTypes of str
        return f"{name}-id"
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return example_value(name, next(a for a in args if a is not type(None)))
    if typing.get_origin(hint) is tuple:
        return ("a1", "b2")
    if hint is bool:
        return True
    if hint is int:
        return 3
    if hint is float:
        return 1000.5
    if hint is bytes:
        return b"\x00\x01sealed"
    if hint is str:
        return f"{name}-text"
    raise TypeError(f"no example for {name}: {hint!r}")  # a new field type needs one here


def example_event(cls: type[e.AnyEvent]) -> e.AnyEvent:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: example_value(f.name, hints[f.name]) for f in dataclasses.fields(cls)}
    return cls(**kwargs)  # type: ignore[arg-type]


EVENTS: tuple[e.AnyEvent, ...] = tuple(example_event(cls) for cls in e.EVENT_TYPES.values())
