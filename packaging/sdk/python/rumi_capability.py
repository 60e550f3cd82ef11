"""Capabilities for pack code (secrets, stores, other packs, approved handlers), through
rumi-capd.

Each call goes over the principal's own Unix socket; rumi-capd checks the grant::

    import rumi_capability
    r = rumi_capability.call("store.get", {"store_id": "notes", "key": "k"})
    if r["success"] and r["output"].get("success"):
        print(r["output"]["value"])

Every answer has the five keys ``success``, ``output``, ``error``, ``error_type`` and
``latency_ms``. On success ``output`` is the capability's result (a built-in's is an object
with ``"success": True``). When rumi-capd refuses or a capability fails, ``output`` carries
the failure as the original system's built-ins answered it,
``{"success": False, "error", "error_type"}``, so ``r["output"]["error"]`` works in both
branches. When the SDK itself cannot get an answer (``socket_not_found``,
``permission_denied``, ``connection_refused``, ``timeout``, ``capability_error``,
``json_decode_error`` or a Python exception name) ``output`` is ``None`` and ``latency_ms`` 0.
Nothing here raises for a Rumi failure. Denials read only "Permission denied"; the reason is in
the operator's audit log.

The socket is ``socket_path`` when given, else ``SOCKET_PATH``: ``RUMI_CAPABILITY_SOCKET`` as
it was when this module was imported, else ``DEFAULT_SOCKET_PATH``.
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
    "CapabilityError",
    "call",
    "get_secret",
]

#: The capability socket inside a block container.
DEFAULT_SOCKET_PATH = "/run/rumi/capability.sock"
#: The socket used when a call names none: ``RUMI_CAPABILITY_SOCKET`` (read at import), else the default.
SOCKET_PATH = os.environ.get("RUMI_CAPABILITY_SOCKET") or DEFAULT_SOCKET_PATH
#: Largest answer accepted (4 MiB); a larger one is a ``capability_error``.
MAX_RESPONSE_SIZE = _rumi_framing.MAX_RESPONSE_SIZE
#: Default ``timeout_seconds``.
DEFAULT_TIMEOUT = _rumi_framing.DEFAULT_TIMEOUT
#: Largest ``timeout_seconds``; larger values are cut to it.
MAX_TIMEOUT = _rumi_framing.MAX_TIMEOUT

# Kept for code written against earlier Rumi SDKs.
DEFAULT_SOCKET = DEFAULT_SOCKET_PATH

#: The keys every answer has.
ENVELOPE_KEYS = ("success", "output", "error", "error_type", "latency_ms")


class CapabilityError(Exception):
    """A broken exchange with rumi-capd (closed early, or an oversized frame).

    Never raised to the caller: it becomes a failure dict with ``error_type``
    ``"capability_error"``.
    """


def _client_failure(error: str, error_type: str) -> Dict[str, Any]:
    """A failure the SDK detected itself: no answer, so no output and no latency."""
    return {"success": False, "output": None, "error": error, "error_type": error_type, "latency_ms": 0}


def _complete(answer: Dict[str, Any]) -> Dict[str, Any]:
    """Gives an answer of rumi-capd all five keys; a failure without an ``output`` gets
    ``{"success": False, "error", "error_type"}`` as its output."""
    out = dict(answer)
    out["success"] = bool(out.get("success"))
    for key in ENVELOPE_KEYS:
        out.setdefault(key, 0 if key == "latency_ms" else None)
    if not out["success"] and out["output"] is None:
        out["output"] = {"success": False, "error": out["error"], "error_type": out["error_type"]}
    return out


def call(
    permission_id: str,
    args: Optional[Dict[str, Any]] = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    socket_path: Optional[str] = None,
    request_id: Optional[str] = None,
) -> Dict[str, Any]:
    """Calls one capability and returns the answer.

    Args:
        permission_id: the permission, for example ``"store.get"`` or ``"secrets.get"``.
        args: the capability's arguments (an object).
        timeout_seconds: how long to wait, cut to ``MAX_TIMEOUT``; ``0``/``None`` mean
            ``DEFAULT_TIMEOUT``. The SDK waits 5 s longer. A handler's own limit comes from
            ``args["timeout_seconds"]``.
        socket_path: the capability socket; normally left out (``SOCKET_PATH``).
        request_id: recorded in the operator's audit line (at most 128 characters kept).

    Returns:
        ``{success, output, error, error_type, latency_ms}``. Never raises.
    """
    path = socket_path or SOCKET_PATH
    timeout = _rumi_framing.clamp_timeout(timeout_seconds)
    req: Dict[str, Any] = {"permission_id": permission_id, "args": dict(args or {}), "timeout_seconds": timeout}
    if request_id is not None:
        req["request_id"] = str(request_id)
    # socket is imported when a block first calls out, not at every runner start.
    import socket

    try:
        answer = _rumi_framing.exchange(path, req, timeout, MAX_RESPONSE_SIZE, CapabilityError)
    except FileNotFoundError:
        return _client_failure("Capability proxy socket not found: %s" % path, "socket_not_found")
    except PermissionError:
        return _client_failure("Permission denied to capability proxy socket: %s" % path, "permission_denied")
    except ConnectionRefusedError:
        return _client_failure("Connection refused to capability proxy: %s" % path, "connection_refused")
    except socket.timeout:
        return _client_failure("Request timed out after %ss" % timeout, "timeout")
    except CapabilityError as e:
        return _client_failure(str(e), "capability_error")
    except _rumi_json.decode_error() as e:
        return _client_failure("Invalid JSON response: %s" % e, "json_decode_error")
    except Exception as e:  # the SDK never raises
        return _client_failure(str(e), type(e).__name__)
    if not isinstance(answer, dict):
        return _client_failure("Invalid JSON response: not an object", "json_decode_error")
    return _complete(answer)


def get_secret(key: str, timeout_seconds: float = DEFAULT_TIMEOUT) -> Optional[str]:
    """Returns the value of the secret ``key``, or ``None`` when it is denied, missing or
    anything failed (``secrets.get``; the operator must grant the key in ``allowed_keys``)."""
    r = call("secrets.get", {"key": key}, timeout_seconds=timeout_seconds)
    if not r.get("success"):
        return None
    out = r.get("output")
    if isinstance(out, dict):
        value = out.get("value")
        return value if isinstance(value, str) else None
    return out if isinstance(out, str) else None
