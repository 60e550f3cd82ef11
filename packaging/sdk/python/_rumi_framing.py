"""Frame format of Rumi pack sockets: a 4-byte big-endian length, then that many bytes of
UTF-8 JSON (one object).

One request frame and one response frame per connection. Shared by ``rumi_syscall`` and
``rumi_capability``, which turn every exception raised here into a failure dict; not part of
the public SDK.
"""

from __future__ import annotations

import struct

import _rumi_json
# typing is for annotations only (strings here): not imported at run time, where every
# millisecond of the runner's start is paid by each block call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any, Dict, Optional, Type

#: Largest response frame either client accepts (4 MiB).
MAX_RESPONSE_SIZE = 4 * 1024 * 1024
#: ``timeout_seconds`` when the caller gives none (or 0).
DEFAULT_TIMEOUT = 30.0
#: Upper bound of ``timeout_seconds``; larger values are cut to it.
MAX_TIMEOUT = 120.0
#: Extra seconds the client waits beyond ``timeout_seconds`` for the helper's answer, so a
#: helper-side timeout arrives as an answer rather than as a client-side one.
ANSWER_GRACE_SECONDS = 5.0


def clamp_timeout(timeout_seconds: Optional[float]) -> float:
    """``timeout_seconds`` as a float in (0, MAX_TIMEOUT]; ``None`` or 0 mean the default."""
    value = float(timeout_seconds or DEFAULT_TIMEOUT)
    return min(max(value, 0.001), MAX_TIMEOUT)


def encode(obj: Dict[str, Any]) -> bytes:
    """One frame holding ``obj`` as JSON (non-ASCII kept as UTF-8).

    Raises ``TypeError``/``ValueError`` when ``obj`` is not JSON-serialisable.
    """
    payload = _rumi_json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int, error: Type[Exception], what: str) -> bytes:
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise error(what)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, max_size: int, error: Type[Exception]) -> Any:
    """Reads one frame and returns its decoded JSON (``{}`` for an empty frame).

    Raises ``error`` when the connection closes early or the frame is larger than
    ``max_size``, and ``json.JSONDecodeError`` (a ``ValueError``) when it is not JSON.
    """
    header = _recv_exact(sock, 4, error, "Connection closed by proxy")
    (length,) = struct.unpack(">I", header)
    if length > max_size:
        raise error("Response too large: %d > %d" % (length, max_size))
    if length == 0:
        return {}
    body = _recv_exact(sock, length, error, "Connection closed while reading response")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _rumi_json.decode_failure("response is not UTF-8: %s" % e, "", 0) from e
    return _rumi_json.loads(text)


def exchange(
    socket_path: str,
    request: Dict[str, Any],
    timeout: float,
    max_size: int,
    error: Type[Exception],
) -> Any:
    """Connects to ``socket_path``, sends ``request`` and returns the decoded answer.

    Waits at most ``timeout + ANSWER_GRACE_SECONDS`` for each socket operation. Raises
    ``FileNotFoundError``, ``PermissionError``, ``ConnectionRefusedError`` (from connect),
    ``socket.timeout``, ``error`` (a broken or oversized frame), ``json.JSONDecodeError``,
    and ``TypeError``/``ValueError`` for a request that is not JSON-serialisable.
    """
    # Imported here, when a block first calls out, not at every runner start (about 6 ms).
    import socket

    frame = encode(request)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout + ANSWER_GRACE_SECONDS)
        sock.connect(socket_path)
        sock.sendall(frame)
        return read_frame(sock, max_size, error)
    finally:
        sock.close()
