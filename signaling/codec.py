"""Frames in and out: msgpack at the edge, with every inbound frame validated before use.

Rules of this module:
- Size first: a frame past `frame_bytes` is refused before it is unpacked (the transport
  already closes with 1009 past the hard limit; this is the same bound, checked again).
- msgpack's own length limits are set, ext types are refused, map keys must be strings.
- Schemas are closed: unknown fields in a frame or in `cmd.args` are refused, so a typo never
  silently does something else. Every failure raises a `SignalingError` with its code; the
  caller answers with an `error` frame and the connection stays open.
- Commands are built from `rooms.commands` dataclasses by their own field types, so the
  engine's command definitions are the one schema of `cmd.args`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from rooms import commands as c
from signaling.errors import BadFrame, InvalidFrame, TooLarge, UnknownType
from signaling.limits import Limits

MAX_ID = 2**53 - 1  # request ids stay exact in JavaScript numbers
MAX_REF = 128  # room ids, member ids, tokens, keys


@dataclass(frozen=True, slots=True)
class Hello:
    room: str
    token: str
    name: str
    accept: bool
    key: str


@dataclass(frozen=True, slots=True)
class ResumeHello:
    resume: str
    seq: int


@dataclass(frozen=True, slots=True)
class Cmd:
    id: int
    op: str
    command: c.AnyCommand


@dataclass(frozen=True, slots=True)
class Signal:
    to: str
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    text: str | None
    box: bytes | None


@dataclass(frozen=True, slots=True)
class React:
    emoji: str


@dataclass(frozen=True, slots=True)
class Ping:
    id: int


Inbound = Hello | ResumeHello | Cmd | Signal | Chat | React | Ping


class _Fields:
    """Typed reads from one decoded map, each raising `InvalidFrame`/`TooLarge` by name."""

    __slots__ = ("_m", "_seen")

    def __init__(self, m: dict[str, object]) -> None:
        self._m = m
        self._seen = {"t"}

    def has(self, name: str) -> bool:
        return name in self._m

    def _get(self, name: str) -> object:
        self._seen.add(name)
        return self._m.get(name)

    def text(self, name: str, limit: int) -> str:
        v = self.opt_text(name, limit)
        if v is None:
            raise InvalidFrame(f"`{name}` is missing.")
        return v

    def opt_text(self, name: str, limit: int) -> str | None:
        v = self._get(name)
        if v is None:
            return None
        if not isinstance(v, str):
            raise InvalidFrame(f"`{name}` must be text.")
        if len(v) > limit:
            raise TooLarge(f"`{name}`", len(v), limit)
        return v

    def integer(self, name: str) -> int:
        v = self._get(name)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_ID:
            raise InvalidFrame(f"`{name}` must be a whole number from 0 to 2^53-1.")
        return v

    def flag(self, name: str, default: bool) -> bool:
        v = self._get(name)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise InvalidFrame(f"`{name}` must be true or false.")
        return v

    def mapping(self, name: str, *, required: bool = True) -> dict[str, object]:
        v = self._get(name)
        if v is None and not required:
            return {}
        if not isinstance(v, dict):
            raise InvalidFrame(f"`{name}` must be a map.")
        return v

    def binary(self, name: str, limit: int) -> bytes | None:
        v = self._get(name)
        if v is None:
            return None
        if not isinstance(v, bytes):
            raise InvalidFrame(f"`{name}` must be binary.")
        if len(v) > limit:
            raise TooLarge(f"`{name}`", len(v), limit)
        return v

    def closed(self) -> None:
        extra = self._m.keys() - self._seen
        if extra:
            raise InvalidFrame(f"Unknown field `{sorted(extra)[0][:32]}`.")


class Codec:
    """Decodes and validates inbound frames and encodes outbound ones, for one node."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._args = _ArgParsers(limits)
        self._packer = msgpack.Packer(use_bin_type=True)

    # --- inbound ------------------------------------------------------------------------

    def unpack(self, data: bytes | str) -> dict[str, object]:
        if isinstance(data, str):
            raise BadFrame("Text frames are not part of this protocol; send binary msgpack.")
        if len(data) > self.limits.frame_bytes:
            raise TooLarge("The frame", len(data), self.limits.frame_bytes)
        try:
            m = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                max_str_len=self.limits.frame_bytes,
                max_bin_len=self.limits.frame_bytes,
                max_array_len=1024,
                max_map_len=256,
                max_ext_len=0,
                ext_hook=_refuse_ext,  # max_ext_len=0 still lets a zero-length ext through
                object_pairs_hook=_str_keys,  # strict_map_key alone lets bytes keys through
            )
        except (ValueError, TypeError) as exc:
            raise BadFrame() from exc
        if not isinstance(m, dict):
            raise BadFrame("A frame must be a msgpack map with a type `t`.")
        return m

    def decode(self, data: bytes | str) -> Inbound:
        return self.parse(self.unpack(data))

    def parse(self, m: dict[str, object]) -> Inbound:
        t = m.get("t")
        if not isinstance(t, str):
            raise InvalidFrame("`t` (the frame type) is missing.")
        parse = _PARSERS.get(t)
        if parse is None:
            raise UnknownType(f"Unknown frame type `{t[:32]}`.")
        f = _Fields(m)
        frame = parse(self, f)
        f.closed()
        return frame

    def _hello(self, f: _Fields) -> Hello | ResumeHello:
        if f.has("resume"):
            return ResumeHello(f.text("resume", 4 * MAX_REF), f.integer("seq"))
        return Hello(
            room=f.text("room", MAX_REF),
            token=f.text("token", MAX_REF),
            name=f.text("name", self.limits.name_chars),
            accept=f.flag("accept", False),
            key=f.opt_text("key", MAX_REF) or "",
        )

    def _cmd(self, f: _Fields) -> Cmd:
        cmd_id = f.integer("id")
        op = f.text("op", 32)
        args = f.mapping("args", required=False)
        if op not in c.OPS:
            raise InvalidFrame(f"Unknown op `{op}`.")
        return Cmd(cmd_id, op, self._args.build(op, args))

    def _signal(self, f: _Fields) -> Signal:
        return Signal(f.text("to", MAX_REF), f.mapping("data"))

    def _chat(self, f: _Fields) -> Chat:
        chat_id = f.integer("id")
        text = f.opt_text("text", self.limits.chat_chars)
        # A ciphertext box is a little larger than its text: nonce and tag.
        box = f.binary("box", self.limits.chat_chars * 4 + 64)
        if (text is None) == (box is None):
            raise InvalidFrame("A chat frame has exactly one of `text` and `box`.")
        return Chat(chat_id, text, box)

    def _react(self, f: _Fields) -> React:
        return React(f.text("emoji", 16))

    def _ping(self, f: _Fields) -> Ping:
        return Ping(f.integer("id"))

    # --- outbound -----------------------------------------------------------------------

    def pack(self, frame: dict[str, object]) -> bytes:
        return typing.cast(bytes, self._packer.pack(frame))


def _refuse_ext(code: int, data: bytes) -> object:
    raise ValueError("ext types are not part of this protocol")


def _str_keys(pairs: list[tuple[object, object]]) -> dict[str, object]:
    m: dict[str, object] = {}
    for k, v in pairs:
        if not isinstance(k, str):
            raise ValueError("map keys must be text")
        m[k] = v
    return m


_PARSERS: dict[str, Callable[[Codec, _Fields], Inbound]] = {
    "hello": Codec._hello,
    "cmd": Codec._cmd,
    "signal": Codec._signal,
    "chat": Codec._chat,
    "react": Codec._react,
    "ping": Codec._ping,
}

# Text limits of `cmd.args` fields, by (op, field), as Limits attribute names.
_TEXT_LIMITS = {
    ("support", "text"): "support_chars",
    ("set_topic", "text"): "topic_chars",
    ("lobby_message", "text"): "lobby_message_chars",
}

# Command fields the node fills in itself (a shuffle's seed is drawn by the node, so no
# client can choose the order it "shuffles" to): not part of `cmd.args`.
_NODE_FIELDS = frozenset({("start_round", "seed")})

_ArgParser = Callable[[str, object], object]


class _ArgParsers:
    """For each op, a parser per `cmd.args` field, derived from the command's dataclass."""

    def __init__(self, limits: Limits) -> None:
        self._ops: dict[str, tuple[type[c.AnyCommand], dict[str, tuple[_ArgParser, bool]]]] = {}
        for op, cls in c.OPS.items():
            hints = typing.get_type_hints(cls)
            spec: dict[str, tuple[_ArgParser, bool]] = {}
            for fld in dataclasses.fields(cls):
                if (op, fld.name) in _NODE_FIELDS:
                    continue
                limit = getattr(limits, _TEXT_LIMITS.get((op, fld.name), ""), MAX_REF)
                required = (
                    fld.default is dataclasses.MISSING
                    and fld.default_factory is dataclasses.MISSING
                )
                spec[fld.name] = (_parser_for(hints[fld.name], limit), required)
            self._ops[op] = (cls, spec)

    def build(self, op: str, args: dict[str, object]) -> c.AnyCommand:
        cls, spec = self._ops[op]
        for name in args:
            if name not in spec:
                raise InvalidFrame(f"`{op}` takes no argument `{name}`.")
        kwargs: dict[str, object] = {}
        for name, (parse, required) in spec.items():
            if name in args:
                kwargs[name] = parse(name, args[name])
            elif required:
                raise InvalidFrame(f"`{op}` needs the argument `{name}`.")
        return cls(**kwargs)  # type: ignore[arg-type]


def _parser_for(hint: object, limit: int) -> _ArgParser:
    """A parser for one annotated field type: str (and NewTypes of it), int, bool, enums,
    tuples of str, and `X | None`."""
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:
        return _parser_for(supertype, limit)
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = _parser_for(next(a for a in args if a is not type(None)), limit)
        return lambda name, v: None if v is None else inner(name, v)
    if typing.get_origin(hint) is tuple:
        item = _parser_for(args[0], limit)

        def parse_tuple(name: str, v: object) -> object:
            if not isinstance(v, list) or len(v) > 256:
                raise InvalidFrame(f"`{name}` must be a list (at most 256 items).")
            return tuple(item(name, x) for x in v)

        return parse_tuple
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        enum_type = hint
        allowed = ", ".join(str(m.value) for m in enum_type)

        def parse_enum(name: str, v: object) -> object:
            try:
                return enum_type(v)
            except ValueError:
                raise InvalidFrame(f"`{name}` must be one of: {allowed}.") from None

        return parse_enum
    if hint is bool:
        return _check(lambda v: isinstance(v, bool), "true or false")
    if hint is int:
        return _check(
            lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_ID,
            "a whole number",
        )
    if hint is str:

        def parse_str(name: str, v: object) -> object:
            if not isinstance(v, str):
                raise InvalidFrame(f"`{name}` must be text.")
            if len(v) > limit:
                raise TooLarge(f"`{name}`", len(v), limit)
            return v

        return parse_str
    raise TypeError(f"no wire parser for {hint!r}")  # a new field type needs one here


def _check(ok: Callable[[object], bool], what: str) -> _ArgParser:
    def parse(name: str, v: object) -> object:
        if not ok(v):
            raise InvalidFrame(f"`{name}` must be {what}.")
        return v

    return parse
