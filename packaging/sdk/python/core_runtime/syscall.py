"""The original system's ``core_runtime.syscall``: the network SDK under its older name.

Re-exports, from ``rumi_syscall``, the constants, ``SyscallError``, ``http_request``,
``request``, ``get``, ``post`` and ``post_json`` (the same objects, not copies).
"""

from __future__ import annotations

from rumi_syscall import (
    DEFAULT_SOCKET_PATH,
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_SIZE,
    MAX_TIMEOUT,
    SOCKET_PATH,
    SyscallError,
    get,
    http_request,
    post,
    post_json,
    request,
)

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "SOCKET_PATH",
    "MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "SyscallError",
    "http_request",
    "request",
    "get",
    "post",
    "post_json",
]
