"""Logs carry ids and counts only: other keys are redacted, exception text never appears."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from server.logs import REDACTED, configure_logging

SECRET = "Alice Secret"
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide logging; put it all back afterwards."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {
        name: (list(lg.handlers), lg.propagate, list(lg.filters), lg.disabled)
        for name in UVICORN
        for lg in [logging.getLogger(name)]
    }
    yield
    root.handlers[:], root.level = saved_root
    for name, (handlers, propagate, filters, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.propagate, lg.filters[:], lg.disabled = (
            handlers,
            propagate,
            filters,
            disabled,
        )
    structlog.reset_defaults()


@pytest.fixture
def json_out(restore_logging: None) -> io.StringIO:
    out = io.StringIO()
    configure_logging("json", stream=out)
    return out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_line_per_event_with_timestamp_and_level(json_out: io.StringIO) -> None:
    structlog.get_logger("hearth.test").info("connection opened", room="r1", conn=7, count=2)
    (line,) = lines(json_out)
    assert line["event"] == "connection opened"
    assert line["level"] == "info"
    assert line["logger"] == "hearth.test"
    assert isinstance(line["timestamp"], str)
    assert line["timestamp"].endswith("Z")
    assert (line["room"], line["conn"], line["count"]) == ("r1", 7, 2)


def test_lines_below_info_are_dropped_before_any_processor(
    json_out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debug lines (a connection opening) cost nothing at the default level: not even the
    time stamp is taken."""
    stamped: list[str] = []
    original = structlog.processors.TimeStamper.__call__

    def counting(self: object, logger: object, name: str, event: dict[str, object]) -> object:
        stamped.append(name)
        return original(self, logger, name, event)  # type: ignore[arg-type]

    monkeypatch.setattr(structlog.processors.TimeStamper, "__call__", counting)
    log = structlog.get_logger("hearth.test")
    log.debug("connection opened", conn=7)
    log.info("connection closed", conn=7)
    assert [line["event"] for line in lines(json_out)] == ["connection closed"]
    assert stamped == ["info"]


def test_keys_outside_the_allowlist_are_redacted(json_out: io.StringIO) -> None:
    log = structlog.get_logger("hearth.test")
    log.info("member joined", room="r1", name=SECRET, token="tok-123", text="chat words")
    log.bind(display_name=SECRET).warning("member left", member="m1")
    assert SECRET not in json_out.getvalue()
    assert "tok-123" not in json_out.getvalue()
    assert "chat words" not in json_out.getvalue()
    first, second = lines(json_out)
    assert first["name"] == first["token"] == first["text"] == REDACTED
    assert first["room"] == "r1"
    assert second["display_name"] == REDACTED
    assert second["member"] == "m1"


def test_allowlisted_keys_keep_only_plain_values(json_out: io.StringIO) -> None:
    structlog.get_logger().info("room updated", room={"name": SECRET}, members=[SECRET])
    (line,) = lines(json_out)
    assert line["room"] == REDACTED
    assert line["members"] == REDACTED
    assert SECRET not in json_out.getvalue()


def test_a_non_text_event_is_redacted(json_out: io.StringIO) -> None:
    structlog.get_logger().info({"name": SECRET})
    assert SECRET not in json_out.getvalue()
    assert lines(json_out)[0]["event"] == REDACTED


def test_exceptions_log_their_type_and_never_their_text(json_out: io.StringIO) -> None:
    log = structlog.get_logger("hearth.test")
    try:
        raise ValueError(f"could not parse {SECRET}'s message")
    except ValueError:
        log.exception("frame rejected", conn=3)
    try:
        raise KeyError(SECRET)
    except KeyError as exc:
        log.error("lookup failed", exc_info=exc)
    out = json_out.getvalue()
    assert SECRET not in out
    assert "Traceback" not in out
    assert "could not parse" not in out
    first, second = lines(json_out)
    assert first["exc_type"] == "ValueError"
    assert first["event"] == "frame rejected"
    assert second["exc_type"] == "KeyError"
    assert "exception" not in first
    assert "exc_info" not in first


def test_uvicorn_lines_pass_without_their_text_arguments(json_out: io.StringIO) -> None:
    error = logging.getLogger("uvicorn.error")
    error.info("Started server process [%d]", 4242)
    error.warning("Invalid HTTP request from %s for %s", "10.1.2.3", f"/r/room#{SECRET}")
    try:
        raise RuntimeError(SECRET)
    except RuntimeError:
        error.exception("Exception in ASGI application\n")
    out = json_out.getvalue()
    assert "10.1.2.3" not in out
    assert SECRET not in out
    assert "Traceback" not in out
    started, invalid, crashed = lines(json_out)
    assert started["event"] == "Started server process [4242]"
    assert started["logger"] == "uvicorn.error"
    assert started["level"] == "info"
    assert invalid["event"] == "Invalid HTTP request from %s for %s"
    assert crashed["exc_type"] == "RuntimeError"
    assert crashed["level"] == "error"


def test_no_access_log_and_no_per_connection_websocket_lines(json_out: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info('%s - "GET %s HTTP/1.1" 200', "10.1.2.3", "/r/x")
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "10.1.2.3:5555", "/ws"
    )
    # websockets' own lines for each connection, on the logger uvicorn hands it.
    logging.getLogger("uvicorn.error").info("connection open")
    logging.getLogger("uvicorn.error").info("connection closed")
    assert json_out.getvalue() == ""


def test_uvicorn_running_on_is_left_to_node_started(json_out: io.StringIO) -> None:
    """Its arguments are text, so it could only show as a bare template; the node's own line
    says where it listens."""
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", "http", "127.0.0.1", 8000
    )
    structlog.get_logger("hearth.node").info("node started", host="127.0.0.1", port=8000)
    (started,) = lines(json_out)
    assert (started["event"], started["host"], started["port"]) == (
        "node started",
        "127.0.0.1",
        8000,
    )


def test_console_format_redacts_too(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("console", stream=out)
    structlog.get_logger().info("member joined", name=SECRET, room="r9")
    text = out.getvalue()
    assert "member joined" in text
    assert "r9" in text
    assert SECRET not in text
    assert REDACTED in text


def test_auto_format_is_json_when_not_a_terminal(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("auto", stream=out)
    structlog.get_logger().info("node started", port=8000)
    assert json.loads(out.getvalue())["port"] == 8000
