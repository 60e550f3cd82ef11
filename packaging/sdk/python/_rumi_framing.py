"""Frame format of Rumi pack sockets: 4-byte big-endian length, then UTF-8 JSON.

One request frame and one response frame per connection. Shared by rumi_syscall and
rumi_capability; not part of the public SDK.
"""

import json
import socket
import struct

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_TIMEOUT_SECONDS = 120.0
DEFAULT_TIMEOUT_SECONDS = 30.0


class FrameError(Exception):
    """The peer sent something that is not a valid frame."""


def _recv_exact(sock, n):
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise FrameError("connection closed mid-frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def call(socket_path, request, timeout_seconds, error_prefix):
    """Sends one request and returns the decoded response, or an error response dict."""
    timeout = min(max(float(timeout_seconds or DEFAULT_TIMEOUT_SECONDS), 0.001), MAX_TIMEOUT_SECONDS)
    request = dict(request)
    if "timeout_seconds" in request:
        request["timeout_seconds"] = timeout
    payload = json.dumps(request, ensure_ascii=False).encode("utf-8")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout + 5.0)
    try:
        try:
            sock.connect(socket_path)
        except FileNotFoundError:
            return _error("socket not found: %s" % socket_path, "socket_not_found")
        except PermissionError:
            return _error("permission denied on %s" % socket_path, "permission_denied")
        except ConnectionRefusedError:
            return _error("connection refused on %s" % socket_path, "connection_refused")
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        (length,) = struct.unpack(">I", _recv_exact(sock, 4))
        if length > MAX_RESPONSE_BYTES:
            return _error("response of %d bytes is too large" % length, error_prefix + "_error")
        if length == 0:
            return {}
        body = _recv_exact(sock, length)
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return _error("invalid JSON response: %s" % e, "json_decode_error")
    except socket.timeout:
        return _error("timed out after %.1fs" % timeout, "timeout")
    except FrameError as e:
        return _error(str(e), error_prefix + "_error")
    except OSError as e:
        return _error(str(e), type(e).__name__)
    finally:
        sock.close()


def _error(message, error_type):
    return {"success": False, "error": message, "error_type": error_type}
