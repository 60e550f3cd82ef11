"""Network access for pack code, through Rumi's egress helper.

Pack code has no network of its own (its container runs with --network=none). Every request
goes over the pack's own Unix socket to rumi-egressd, which checks the pack's network grant,
refuses internal addresses, and makes the request::

    import rumi_syscall
    r = rumi_syscall.get("https://api.example.com/v1/items", headers={"Accept": "application/json"})
    if r["success"]:
        print(r["status_code"], r["body"])
    else:
        print(r["error_type"], r["error"])

Responses are dicts: ``success``, ``status_code``, ``headers``, ``body`` (text; base64 when the
``X-Proxy-Body-Encoding: base64`` header is present), ``latency_ms``, ``redirect_hops``,
``bytes_read``, ``final_url``; on failure ``error`` and ``error_type``.

The socket path comes from ``RUMI_EGRESS_SOCKET`` (default ``/run/rumi/egress.sock``).
"""

import json
import os

import _rumi_framing

DEFAULT_SOCKET = "/run/rumi/egress.sock"


def _socket_path():
    return os.environ.get("RUMI_EGRESS_SOCKET") or DEFAULT_SOCKET


def http_request(method, url, headers=None, body=None, timeout_seconds=30.0):
    """Sends one HTTP request through the egress helper and returns the response dict."""
    request = {
        "method": str(method).upper(),
        "url": url,
        "headers": dict(headers or {}),
        "body": body,
        "timeout_seconds": timeout_seconds,
    }
    return _rumi_framing.call(_socket_path(), request, timeout_seconds, "syscall")


request = http_request


def get(url, headers=None, timeout_seconds=30.0):
    return http_request("GET", url, headers=headers, timeout_seconds=timeout_seconds)


def head(url, headers=None, timeout_seconds=30.0):
    return http_request("HEAD", url, headers=headers, timeout_seconds=timeout_seconds)


def delete(url, headers=None, timeout_seconds=30.0):
    return http_request("DELETE", url, headers=headers, timeout_seconds=timeout_seconds)


def post(url, body=None, headers=None, timeout_seconds=30.0):
    return http_request("POST", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def put(url, body=None, headers=None, timeout_seconds=30.0):
    return http_request("PUT", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def patch(url, body=None, headers=None, timeout_seconds=30.0):
    return http_request("PATCH", url, headers=headers, body=body, timeout_seconds=timeout_seconds)


def post_json(url, data, headers=None, timeout_seconds=30.0):
    """POSTs ``data`` serialised as JSON with ``Content-Type: application/json``."""
    merged = {"Content-Type": "application/json"}
    merged.update(headers or {})
    return post(url, body=json.dumps(data), headers=merged, timeout_seconds=timeout_seconds)
