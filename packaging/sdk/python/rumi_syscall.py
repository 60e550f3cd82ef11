"""Network access for pack code, through Rumi's egress helper (rumi-egressd).

Pack code has no network of its own (its container runs with ``--network=none``). Every request
goes over the pack's own Unix socket to rumi-egressd, which checks the pack's network grant,
refuses internal addresses, and makes the request::

    import rumi_syscall
    r = rumi_syscall.get("https://api.example.com/v1/items", headers={"Accept": "application/json"})
    if r["success"]:
        print(r["status_code"], r["body"])
    else:
        print(r["error_type"], r["error"])

Answers are dicts: ``success``, ``status_code``, ``headers``, ``body`` (text; base64 when the
``X-Proxy-Body-Encoding: base64`` header is present), ``error``, ``error_type``,
``latency_ms``, ``redirect_hops``, ``bytes_read``, ``final_url``. Nothing here raises for a
Rumi or network failure: a failure the SDK detects itself is ``{success: False, error,
error_type}`` with ``error_type`` one of ``socket_not_found``, ``permission_denied``,
``connection_refused``, ``timeout``, ``syscall_error``, ``json_decode_error`` or a Python
exception name.

The socket is ``socket_path`` when given, else ``SOCKET_PATH``: ``RUMI_EGRESS_SOCKET`` as it
was when this module was imported, else ``DEFAULT_SOCKET_PATH``. The same names as the original
system's ``rumi_syscall`` are offered; ``core_runtime.syscall`` re-exports them.
"""

from __future__ import annotations

import os
# typing is for annotations only (strings here): not imported at run time, where every
# millisecond of the runner's start is paid by each block call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

import _rumi_framing
import _rumi_json

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
    "head",
    "delete",
    "post",
    "put",
    "patch",
    "post_json",
]

#: The egress socket inside a block container.
DEFAULT_SOCKET_PATH = "/run/rumi/egress.sock"
#: The socket used when a call names none: ``RUMI_EGRESS_SOCKET`` (read at import), else the default.
SOCKET_PATH = os.environ.get("RUMI_EGRESS_SOCKET") or DEFAULT_SOCKET_PATH
#: Largest answer accepted (4 MiB); a larger one is a ``syscall_error``.
MAX_RESPONSE_SIZE = _rumi_framing.MAX_RESPONSE_SIZE
#: Default ``timeout_seconds``.
DEFAULT_TIMEOUT = _rumi_framing.DEFAULT_TIMEOUT
#: Largest ``timeout_seconds``; larger values are cut to it.
MAX_TIMEOUT = _rumi_framing.MAX_TIMEOUT

# Kept for code written against earlier Rumi SDKs.
DEFAULT_SOCKET = DEFAULT_SOCKET_PATH


class SyscallError(Exception):
    """A broken exchange with the egress helper (closed early, or an oversized frame).

    Never raised to the caller: it becomes a failure dict with ``error_type``
    ``"syscall_error"``.
    """


def _failure(error: str, error_type: str) -> Dict[str, Any]:
    return {"success": False, "error": error, "error_type": error_type}


def http_request(
    method: str,
    url: str,
    headers: Optional[Dict[str, str]] = None,
    body: Optional[str] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    socket_path: Optional[str] = None,
) -> Dict[str, Any]:
    """Sends one HTTP request through the egress helper and returns its answer.

    Args:
        method: ``GET``, ``HEAD``, ``POST``, ``PUT``, ``DELETE`` or ``PATCH`` (any case).
        url: an ``http`` or ``https`` URL.
        headers: request headers (names and values are strings).
        body: the request body as text, or ``None``.
        timeout_seconds: bound of the whole exchange, cut to ``MAX_TIMEOUT``; ``0``/``None``
            mean ``DEFAULT_TIMEOUT``. The SDK waits 5 s longer for the answer.
        socket_path: the egress socket; normally left out (``SOCKET_PATH``).

    Returns:
        The helper's answer, or a failure dict ``{success, error, error_type}``. Never raises.
    """
    path = socket_path or SOCKET_PATH
    timeout = _rumi_framing.clamp_timeout(timeout_seconds)
    req = {
        "method": str(method).upper(),
        "url": url,
        "headers": dict(headers or {}),
        "body": body,
        "timeout_seconds": timeout,
    }
    # socket is imported when a block first calls out, not at every runner start.
    import socket

    try:
        answer = _rumi_framing.exchange(path, req, timeout, MAX_RESPONSE_SIZE, SyscallError)
    except FileNotFoundError:
        return _failure("Egress proxy socket not found: %s" % path, "socket_not_found")
    except PermissionError:
        return _failure("Permission denied to egress proxy socket: %s" % path, "permission_denied")
    except ConnectionRefusedError:
        return _failure("Connection refused to egress proxy: %s" % path, "connection_refused")
    except socket.timeout:
        return _failure("Request timed out after %ss" % timeout, "timeout")
    except SyscallError as e:
        return _failure(str(e), "syscall_error")
    except _rumi_json.decode_error() as e:
        return _failure("Invalid JSON response: %s" % e, "json_decode_error")
    except Exception as e:  # the SDK never raises (for example TypeError for a bytes body)
        return _failure(str(e), type(e).__name__)
    if not isinstance(answer, dict):
        return _failure("Invalid JSON response: not an object", "json_decode_error")
    return answer


#: Another name of :func:`http_request`.
request = http_request


def get(url: str, headers: Optional[Dict[str, str]] = None, timeout_seconds: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """``GET url``; see :func:`http_request`."""
    return http_request("GET", url, headers=headers, timeout_seconds=timeout_seconds)


def head(url: str, headers: Optional[Dict[str, str]] = None, timeout_seconds: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """``HEAD url``; see :func:`http_request`."""
    return http_request("HEAD", url, headers=headers, timeout_seconds=timeout_seconds)


def delete(url: str, headers: Optional[Dict[str, str]] = None, timeout_seconds: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """``DELETE url``; see :func:`http_request`."""
    return http_request("DELETE", url, headers=headers, timeout_seconds=timeout_seconds)


def post(
    url: str,
    body: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
) -> Dict[str, Any]:
    """``POST url`` with ``body``; see :func:`http_request`."""
    return http_request("POST", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def put(
    url: str,
    body: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
) -> Dict[str, Any]:
    """``PUT url`` with ``body``; see :func:`http_request`."""
    return http_request("PUT", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def patch(
    url: str,
    body: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
) -> Dict[str, Any]:
    """``PATCH url`` with ``body``; see :func:`http_request`."""
    return http_request("PATCH", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def post_json(
    url: str,
    data: Any,
    headers: Optional[Dict[str, str]] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
) -> Dict[str, Any]:
    """``POST url`` with ``data`` as JSON.

    The body is ``json.dumps(data, ensure_ascii=False)`` (non-ASCII text is sent as UTF-8, not
    as ``\\u`` escapes) and ``Content-Type`` is always ``application/json``: a Content-Type in
    ``headers``, in any case, is replaced. Data that JSON cannot encode gives a failure dict
    whose ``error_type`` is the exception's name (``TypeError``).
    """
    merged = {k: v for k, v in dict(headers or {}).items() if str(k).lower() != "content-type"}
    merged["Content-Type"] = "application/json"
    try:
        body = _rumi_json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        return _failure(str(e), type(e).__name__)
    return http_request("POST", url, headers=merged, body=body, timeout_seconds=timeout_seconds)
