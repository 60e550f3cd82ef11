"""Structured logging for pack code, as the original system's ``core_runtime.logging_utils``.

``get_structured_logger(name)`` returns a cached ``StructuredLogger`` that attaches keyword
context to each record; ``StructuredFormatter`` renders records as one JSON object per line
(``timestamp``, ``level``, ``module``, ``message``, ``correlation_id`` and the context), or as
text with ``RUMI_LOG_FORMAT=text``; ``configure_logging`` installs it on the ``rumi`` logger::

    from core_runtime.logging_utils import CorrelationContext, configure_logging, get_structured_logger
    configure_logging(level="INFO")
    log = get_structured_logger("rumi.pack.weather").bind(pack_id="weather")
    with CorrelationContext("req-1"):
        log.info("looked up", city="Oslo")

In a block, stderr is where the output goes (stdout carries the result); a block's stderr is
shown only in the error message of a failed step.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

__all__ = [
    "CorrelationContext",
    "StructuredFormatter",
    "StructuredLogger",
    "clear_correlation_id",
    "configure_logging",
    "get_correlation_id",
    "get_structured_logger",
    "is_configured",
    "reset_configuration",
    "reset_logger_cache",
    "set_correlation_id",
]

#: Read by ``StructuredFormatter()`` when it is given no format: ``json`` (default) or ``text``.
ENV_LOG_FORMAT = "RUMI_LOG_FORMAT"

_local = threading.local()


def _stack() -> List[str]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = []
        _local.stack = stack
    return stack


def get_correlation_id() -> Optional[str]:
    """This thread's current correlation id, or ``None``."""
    stack = _stack()
    return stack[-1] if stack else None


def set_correlation_id(correlation_id: str) -> None:
    """Makes ``correlation_id`` this thread's current one (pushed on its stack)."""
    _stack().append(correlation_id)


def clear_correlation_id() -> None:
    """Forgets every correlation id of this thread."""
    _local.stack = []


class CorrelationContext:
    """A ``with`` block during which ``correlation_id`` (default: a new uuid4) is this
    thread's current one; blocks nest, and leaving one restores the outer id."""

    def __init__(self, correlation_id: Optional[str] = None) -> None:
        self._correlation_id = correlation_id or str(uuid.uuid4())

    @property
    def correlation_id(self) -> str:
        return self._correlation_id

    def __enter__(self) -> "CorrelationContext":
        _stack().append(self._correlation_id)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stack = _stack()
        if stack:
            stack.pop()


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class StructuredFormatter(logging.Formatter):
    """Formats records as JSON (the default) or text.

    JSON: ``{"timestamp", "level", "module", "message", "correlation_id", <context>…}``
    (context keys never replace those five; ``exception`` and ``stack_info`` when present).
    Text: ``<timestamp> [LEVEL] <logger> - <message> (correlation_id=…) [k=v …]``.
    ``fmt_type`` ``None`` reads ``RUMI_LOG_FORMAT`` (default ``json``).
    """

    def __init__(self, fmt_type: Optional[str] = None) -> None:
        super().__init__()
        self._fmt_type = (fmt_type if fmt_type is not None else os.environ.get(ENV_LOG_FORMAT, "json")).lower()

    @property
    def fmt_type(self) -> str:
        return self._fmt_type

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        context = getattr(record, "context_data", None)
        context = context if isinstance(context, dict) else {}
        if self._fmt_type == "text":
            return self._text(record, context)
        return self._json(record, context)

    def _json(self, record: logging.LogRecord, context: Dict[str, Any]) -> str:
        entry: Dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "module": record.name,
            "message": record.message,
            "correlation_id": get_correlation_id(),
        }
        for key, value in context.items():
            entry.setdefault(key, value)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)

    def _text(self, record: logging.LogRecord, context: Dict[str, Any]) -> str:
        parts = [_timestamp(record), "[%s]" % record.levelname, record.name, "-", record.message]
        correlation_id = get_correlation_id()
        if correlation_id:
            parts.append("(correlation_id=%s)" % correlation_id)
        if context:
            parts.append("[%s]" % " ".join("%s=%s" % kv for kv in context.items()))
        text = " ".join(parts)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        return text


class StructuredLogger:
    """A ``logging.Logger`` wrapper whose methods take keyword context::

        log = StructuredLogger("rumi.pack.x", pack_id="x")
        log.info("step done", step_id="fetch")     # context: pack_id, step_id

    The context travels as the record's ``context_data`` attribute.
    """

    def __init__(self, name: str, **context: Any) -> None:
        self._name = name
        self._logger = logging.getLogger(name)
        self._context: Dict[str, Any] = dict(context)

    @property
    def name(self) -> str:
        return self._name

    @property
    def logger(self) -> logging.Logger:
        """The wrapped ``logging.Logger``."""
        return self._logger

    def bind(self, **context: Any) -> "StructuredLogger":
        """A new logger of the same name with this one's context plus ``context``."""
        return StructuredLogger(self._name, **{**self._context, **context})

    def _log(self, level: int, msg: str, /, exc_info: Any = None, stack_info: bool = False, **context: Any) -> None:
        if not self._logger.isEnabledFor(level):
            return
        data = {**self._context, **context}
        self._logger.log(level, msg, exc_info=exc_info, stack_info=stack_info, extra={"context_data": data})

    def debug(self, msg: str, **context: Any) -> None:
        self._log(logging.DEBUG, msg, **context)

    def info(self, msg: str, **context: Any) -> None:
        self._log(logging.INFO, msg, **context)

    def warning(self, msg: str, **context: Any) -> None:
        self._log(logging.WARNING, msg, **context)

    def error(self, msg: str, exc_info: Any = None, **context: Any) -> None:
        self._log(logging.ERROR, msg, exc_info=exc_info, **context)

    def critical(self, msg: str, exc_info: Any = None, **context: Any) -> None:
        self._log(logging.CRITICAL, msg, exc_info=exc_info, **context)

    def exception(self, msg: str, **context: Any) -> None:
        """``error`` with the current exception's traceback."""
        self._log(logging.ERROR, msg, exc_info=True, **context)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (the logging module's name)
        return self._logger.isEnabledFor(level)

    def setLevel(self, level: int) -> None:  # noqa: N802
        self._logger.setLevel(level)

    def getEffectiveLevel(self) -> int:  # noqa: N802
        return self._logger.getEffectiveLevel()


_cache: Dict[str, StructuredLogger] = {}
_cache_lock = threading.Lock()


def get_structured_logger(name: str) -> StructuredLogger:
    """The ``StructuredLogger`` for ``name``; the same object on every call."""
    with _cache_lock:
        logger = _cache.get(name)
        if logger is None:
            logger = _cache[name] = StructuredLogger(name)
        return logger


def reset_logger_cache() -> None:
    """Forgets the loggers ``get_structured_logger`` made (for tests)."""
    with _cache_lock:
        _cache.clear()


_configured = False
_configure_lock = threading.Lock()


def _drop_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        try:
            handler.close()
        finally:
            logger.removeHandler(handler)


def configure_logging(level: str = "INFO", fmt: str = "json", output: str = "stderr") -> None:
    """Sends the ``rumi`` logger (and its children) to ``output`` (``"stderr"`` or a file
    path) through a ``StructuredFormatter(fmt)`` at ``level``, replacing its handlers; records
    no longer propagate to the root logger. Raises ``ValueError`` for an unknown level."""
    global _configured
    numeric = getattr(logging, str(level).upper(), None)
    if not isinstance(numeric, int):
        raise ValueError("Invalid log level: %s" % level)
    with _configure_lock:
        handler: logging.Handler
        if output == "stderr":
            handler = logging.StreamHandler(sys.stderr)
        else:
            handler = logging.FileHandler(output, encoding="utf-8")
        handler.setFormatter(StructuredFormatter(fmt_type=fmt.lower()))
        handler.setLevel(numeric)
        rumi = logging.getLogger("rumi")
        _drop_handlers(rumi)
        rumi.addHandler(handler)
        rumi.setLevel(numeric)
        rumi.propagate = False
        _configured = True


def is_configured() -> bool:
    """Whether ``configure_logging`` has run (since the last ``reset_configuration``)."""
    return _configured


def reset_configuration() -> None:
    """Undoes ``configure_logging``: no handlers, level WARNING, propagation on."""
    global _configured
    with _configure_lock:
        rumi = logging.getLogger("rumi")
        _drop_handlers(rumi)
        rumi.setLevel(logging.WARNING)
        rumi.propagate = True
        _configured = False
