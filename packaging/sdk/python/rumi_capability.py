"""Capabilities for pack code (secrets, stores, approved handlers), through rumi-capd.

Each call goes over the principal's own Unix socket; rumi-capd checks the grant::

    import rumi_capability
    r = rumi_capability.call("store.get", {"store_id": "notes", "key": "k"})
    if r["success"]:
        print(r["output"])

Responses are dicts: ``success``, ``output``, ``error``, ``error_type``, ``latency_ms``. Denials
read only "Permission denied"; the reason is in the operator's audit log.

The socket path comes from ``RUMI_CAPABILITY_SOCKET`` (default ``/run/rumi/capability.sock``).
"""

import os

import _rumi_framing

DEFAULT_SOCKET = "/run/rumi/capability.sock"


def call(permission_id, args=None, timeout_seconds=30.0, socket_path=None, request_id=None):
    """Calls one capability and returns the response dict."""
    request = {"permission_id": permission_id, "args": dict(args or {}), "timeout_seconds": timeout_seconds}
    if request_id is not None:
        request["request_id"] = str(request_id)
    path = socket_path or os.environ.get("RUMI_CAPABILITY_SOCKET") or DEFAULT_SOCKET
    return _rumi_framing.call(path, request, timeout_seconds, "capability")


def get_secret(key, timeout_seconds=30.0):
    """Returns the secret's value, or None when it is denied or missing."""
    r = call("secrets.get", {"key": key}, timeout_seconds=timeout_seconds)
    if r.get("success"):
        out = r.get("output")
        if isinstance(out, dict):
            return out.get("value")
        return out
    return None
