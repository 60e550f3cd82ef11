"""Marking pack APIs as deprecated, as the original system's ``core_runtime.deprecation``.

``@deprecated(since, removed_in, alternative)`` registers the function in the
``DeprecationRegistry`` when it is applied, and reports each call; ``@deprecated_class`` does
the same for a class, at each instantiation. How a call is reported depends on the environment
variable ``RUMI_DEPRECATION_LEVEL``, read at every call:

- ``silent``: nothing;
- ``error``: ``DeprecationWarning`` is *raised*, so the call fails;
- ``log``: a WARNING record on the ``rumi.deprecation`` logger;
- ``warn`` (the default) or any other value: ``warnings.warn(..., DeprecationWarning)``
  (which Python's default filters hide outside ``__main__``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, TypeVar

__all__ = [
    "DeprecationInfo",
    "DeprecationRegistry",
    "deprecated",
    "deprecated_class",
]

#: The variable that chooses how deprecated calls are reported.
ENV_DEPRECATION_LEVEL = "RUMI_DEPRECATION_LEVEL"

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

_logger = logging.getLogger("rumi.deprecation")


@dataclass(frozen=True)
class DeprecationInfo:
    """What is deprecated (``name``, its ``__qualname__``), since when, when it goes, and
    what to use instead."""

    name: str
    since: str
    removed_in: str
    alternative: Optional[str] = None

    @property
    def message(self) -> str:
        """``"<name> is deprecated since <since>, will be removed in <removed_in>."`` plus
        ``" Use <alternative> instead."`` when there is one."""
        text = "%s is deprecated since %s, will be removed in %s." % (self.name, self.since, self.removed_in)
        if self.alternative:
            text += " Use %s instead." % self.alternative
        return text

    def to_dict(self) -> Dict[str, Any]:
        """``{name, since, removed_in}`` plus ``alternative`` when set."""
        out: Dict[str, Any] = {"name": self.name, "since": self.since, "removed_in": self.removed_in}
        if self.alternative is not None:
            out["alternative"] = self.alternative
        return out


class DeprecationRegistry:
    """Every deprecated API of the process, by name; one shared instance
    (``DeprecationRegistry.get_instance()``), safe to use from several threads."""

    _instance: Optional["DeprecationRegistry"] = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._entries: Dict[str, DeprecationInfo] = {}
        self._lock = threading.Lock()

    @classmethod
    def get_instance(cls) -> "DeprecationRegistry":
        """The shared registry."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def _reset_instance(cls) -> None:
        with cls._instance_lock:
            cls._instance = None

    def register(self, name: str, since: str, removed_in: str, alternative: Optional[str] = None) -> DeprecationInfo:
        """Records (or replaces) the entry for ``name`` and returns it."""
        info = DeprecationInfo(name=name, since=since, removed_in=removed_in, alternative=alternative)
        with self._lock:
            self._entries[name] = info
        return info

    def get_all(self) -> Dict[str, DeprecationInfo]:
        """A copy of every entry, by name."""
        with self._lock:
            return dict(self._entries)

    def _sorted(self) -> List[DeprecationInfo]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda i: i.name)

    def report(self) -> str:
        """A text report: a header with the count, then one ``- name (since=…, removed_in=…)``
        line per entry, sorted by name."""
        entries = self._sorted()
        lines = ["Deprecated API Report (%d items)" % len(entries), "=" * 40]
        if not entries:
            lines.append("No deprecated APIs registered.")
        for info in entries:
            detail = "since=%s, removed_in=%s" % (info.since, info.removed_in)
            if info.alternative:
                detail += ", alternative=%s" % info.alternative
            lines.append("- %s (%s)" % (info.name, detail))
        return "\n".join(lines)

    def report_dict(self) -> List[Dict[str, Any]]:
        """Every entry's ``to_dict()``, sorted by name."""
        return [info.to_dict() for info in self._sorted()]

    def clear(self) -> None:
        """Forgets every entry."""
        with self._lock:
            self._entries.clear()


def _report(info: DeprecationInfo, stacklevel: int) -> None:
    level = os.environ.get(ENV_DEPRECATION_LEVEL, "warn").lower()
    if level == "silent":
        return
    if level == "error":
        raise DeprecationWarning(info.message)
    if level == "log":
        _logger.warning(info.message)
        return
    warnings.warn(info.message, DeprecationWarning, stacklevel=stacklevel + 1)


def deprecated(since: str, removed_in: str, alternative: Optional[str] = None) -> Callable[[F], F]:
    """Decorates a function (``async def`` too) so that each call is reported as deprecated
    (see the module's description) before it runs; registers it when applied."""

    def decorate(func: F) -> F:
        info = DeprecationRegistry.get_instance().register(func.__qualname__, since, removed_in, alternative)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                _report(info, stacklevel=2)
                return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _report(info, stacklevel=2)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def deprecated_class(since: str, removed_in: str, alternative: Optional[str] = None) -> Callable[[C], C]:
    """Decorates a class so that each instantiation is reported as deprecated (in
    ``__init__``); registers it when applied."""

    def decorate(cls: C) -> C:
        info = DeprecationRegistry.get_instance().register(cls.__qualname__, since, removed_in, alternative)
        original_init = cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            _report(info, stacklevel=2)
            original_init(self, *args, **kwargs)

        try:
            __init__ = functools.wraps(original_init)(__init__)
        except (AttributeError, TypeError):
            pass
        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return decorate
