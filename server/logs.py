"""Logging: quiet, structured, and private by construction.

Rules of this module (and of every log call in Hearth):
- A log line is a fixed event string written in code ("connection opened", "room created")
  plus ids and counts. Never a name, chat text, a support note, a token, a payload, an
  address or a request path. No processor can tell a fixed string from an interpolated one,
  so this rule is on the caller: never build the event text with f-strings or `%`.
- What can be enforced is enforced here: only keys in `ALLOWED_KEYS` keep their value, and
  only if it is a plain scalar; any other key is kept with its value replaced by
  "[redacted]", so a mistake shows up in review instead of in someone's log archive.
- Exceptions never reach the output as text: exception messages routinely embed the data
  being processed. `format_exc_info` is deliberately absent; the chain records only the
  exception's type name under `exc_type`. Use `log.exception("fixed text")` as usual.
- Records from the standard library (uvicorn) go through the same chain. For them we log
  the message TEMPLATE, filled in only when every argument is a number: text arguments are
  where uvicorn puts client addresses and paths. Its per-connection WebSocket lines are
  dropped altogether.
- JSON lines on stderr in production; structlog's console renderer on a TTY. stdout is left
  to the CLI's human output (links), which is never logged.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Final, Literal, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

ALLOWED_KEYS: Final = frozenset(
    {
        "event", "level", "timestamp", "logger", "room", "member", "conn", "node", "code",
        "op", "seq", "epoch", "count", "members", "waiting", "rooms", "connections",
        "duration_ms", "reason", "status", "port", "host", "path_kind", "outcome", "version",
        "mode", "error_type", "exc_type",
    }
)  # fmt: skip
REDACTED: Final = "[redacted]"

_SCALARS = (str, int, float, bool, type(None))


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Keep allowlisted keys with scalar values; replace every other value with REDACTED."""
    return {
        key: value if key in ALLOWED_KEYS and isinstance(value, _SCALARS) else REDACTED
        for key, value in event_dict.items()
    }


def exception_type_only(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace `exc_info` (and stack info) with the exception's type name; drop the text."""
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    event_dict.pop("stack_info", None)
    if exc_info:
        exc: BaseException | None = None
        if isinstance(exc_info, BaseException):
            exc = exc_info
        elif isinstance(exc_info, tuple) and len(exc_info) == 3:
            exc = exc_info[1]
        else:  # exc_info=True: the exception being handled right now
            exc = sys.exc_info()[1]
        if exc is not None:
            event_dict["exc_type"] = type(exc).__name__
    return event_dict


def foreign_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """For a stdlib record: fill the template's arguments only when all are numbers (a pid,
    a count); otherwise keep the bare template, since text arguments are where libraries
    put addresses, paths and exception messages."""
    args = event_dict.pop("positional_args", ())
    template = event_dict.get("event")
    if (
        isinstance(template, str)
        and isinstance(args, tuple)
        and args
        and all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
    ):
        # A template that does not fit its arguments stays a bare template.
        with contextlib.suppress(TypeError, ValueError):
            event_dict["event"] = template % args
    return event_dict


class _DropPerConnectionLines(logging.Filter):
    """uvicorn logs every WebSocket handshake with the client's address and path on
    `uvicorn.error`; those are access-log lines in disguise, and nobody's business. The
    websockets library, on the same logger, adds "connection open" and "connection closed"
    for every connection, with nothing to tell one from another: our own "connection
    closed" says it once, with the connection's id and counts. Formatting and writing those
    two took about 8 % of a node's CPU while 5,000 members joined.

    It also drops uvicorn's "Uvicorn running on %s://%s:%d", which `foreign_message` could
    only show as that bare template (its arguments are text): the node's own "node started"
    line says the host and port."""

    ANONYMOUS = frozenset({"connection open", "connection closed"})

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if not isinstance(msg, str):
            return True
        if msg in self.ANONYMOUS or msg.startswith("Uvicorn running on "):
            return False
        return '"WebSocket ' not in msg


def _renderer(fmt: str, stream: TextIO) -> Processor:
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer()


def configure_logging(
    fmt: Literal["auto", "json", "console"] | str, *, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging (uvicorn included) through one private chain.
    `fmt` is "json", "console" or "auto" (console on a TTY, else JSON). Safe to call again,
    e.g. from tests with their own `stream`."""
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        exception_type_only,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[foreign_message, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            _renderer(fmt, out),
        ],
        # The template, not the formatted message, and the arguments beside it for
        # `foreign_message` to judge: see the module docstring.
        use_get_message=False,
        pass_foreign_args=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.filters.clear()
        lib.addFilter(_DropPerConnectionLines())
    # No access log, ever: which address opened which support group's page, and when, is
    # exactly what a member trusts us not to keep. `serve` also passes access_log=False.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # aioice (the echo peer's ICE) logs each candidate pair's state change at INFO: a dozen
    # lines a connection check, with nothing a host needs. Its warnings still come through.
    logging.getLogger("aioice").setLevel(logging.WARNING)

    structlog.configure(
        # A line below the logger's level is dropped before any processor runs on it.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so calling configure_logging again (tests) reaches existing loggers.
        cache_logger_on_first_use=False,
    )
