"""Type names shared by pack code, as the original system's ``core_runtime.types``.

Identifiers are ``NewType``\\ s of ``str`` (no run-time check), JSON values have recursive
aliases, and ``Result`` carries a success flag with a value or an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Generic, List, NewType, Optional, TypeVar, Union

__all__ = [
    "PackId",
    "FlowId",
    "CapabilityName",
    "HandlerKey",
    "StoreKey",
    "JsonValue",
    "JsonDict",
    "SyncCallback",
    "AsyncCallback",
    "Result",
    "Severity",
    "T",
]

PackId = NewType("PackId", str)
"""A pack id."""
FlowId = NewType("FlowId", str)
"""A flow id."""
CapabilityName = NewType("CapabilityName", str)
"""A capability (permission) name, for example ``store.get``."""
HandlerKey = NewType("HandlerKey", str)
"""A handler key, for example ``kernel:ctx.set``."""
StoreKey = NewType("StoreKey", str)
"""A key in a store."""

JsonValue = Union[str, int, float, bool, None, List["JsonValue"], Dict[str, "JsonValue"]]
"""Any value JSON can represent."""
JsonDict = Dict[str, JsonValue]
"""A JSON object."""

SyncCallback = Callable[..., Any]
"""A plain callback."""
AsyncCallback = Callable[..., Awaitable[Any]]
"""A callback returning an awaitable."""

T = TypeVar("T")


@dataclass
class Result(Generic[T]):
    """The outcome of an operation: ``Result(success=True, value=v)`` or
    ``Result(success=False, error="why")``."""

    success: bool
    value: Optional[T] = None
    error: Optional[str] = None


class Severity(str, enum.Enum):
    """A log severity; a ``str``, so ``Severity.INFO == "INFO"``."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"
