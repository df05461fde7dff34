"""Server frames as maps, named as in docs/protocol.md; `Codec.pack` turns them into bytes."""

from __future__ import annotations

from rooms import fields_of
from signaling.broker import Sequenced


def event_frame(epoch: str, sq: Sequenced) -> dict[str, object]:
    frame: dict[str, object] = {"t": "event", "seq": sq.seq, "epoch": epoch}
    frame.update(fields_of(sq.event))
    return frame


def ack(request_id: int) -> dict[str, object]:
    return {"t": "ack", "id": request_id}


def error(request_id: int | None, code: str, message: str) -> dict[str, object]:
    return {"t": "error", "id": request_id, "code": code, "message": message}


def pong(request_id: int, now: float) -> dict[str, object]:
    return {"t": "pong", "id": request_id, "now": now}


def signal(sender: str, data: dict[str, object]) -> dict[str, object]:
    return {"t": "signal", "from": sender, "data": data}
