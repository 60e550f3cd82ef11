"""Shared fixtures of the SDK's tests: the SDK directory on ``sys.path`` (as the runner has it)
and a small Unix-socket server speaking Rumi's frame format (4-byte big-endian length + JSON).

Run with ``python3 -m pytest packaging/sdk/python/tests`` (``scripts/test`` does).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Union

import pytest

SDK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if SDK_DIR not in sys.path:
    sys.path.insert(0, SDK_DIR)

import _rumi_framing  # noqa: E402

#: What a handler returns: a dict (sent as one frame) or raw bytes (sent as they are).
Reply = Union[Dict[str, Any], bytes, None]


def frame(obj: Any) -> bytes:
    body = json.dumps(obj).encode("utf-8")
    return struct.pack(">I", len(body)) + body


class FrameServer:
    """Accepts connections on ``path``; for each, reads one request frame, records it in
    ``requests`` and sends back what ``handler(request)`` returns (``None``: no answer, the
    connection stays open until the server stops)."""

    def __init__(self, path: str, handler: Callable[[Dict[str, Any]], Reply]) -> None:
        self.path = path
        self.handler = handler
        self.requests: List[Dict[str, Any]] = []
        self.raw: List[bytes] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._open: List[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._open.append(conn)
            conn.settimeout(5)
            header = self._read(conn, 4)
            if len(header) < 4:  # the client gave up before sending
                conn.close()
                continue
            (length,) = struct.unpack(">I", header)
            body = self._read(conn, length)
            self.raw.append(body)
            request = json.loads(body.decode("utf-8"))
            self.requests.append(request)
            reply = self.handler(request)
            if reply is None:
                continue
            conn.sendall(reply if isinstance(reply, bytes) else frame(reply))
            conn.close()

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        self._stop.set()
        for conn in self._open:
            conn.close()
        self._sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def short_tmp(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory with a short path (a Unix socket path must fit in 108 bytes)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="rumi-sdk-", dir="/tmp")
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def frame_server(short_tmp: str) -> Callable[..., FrameServer]:
    """``frame_server(handler)`` starts a :class:`FrameServer` on a fresh socket path."""
    servers: List[FrameServer] = []

    def start(handler: Callable[[Dict[str, Any]], Reply], name: str = "s.sock") -> FrameServer:
        server = FrameServer(os.path.join(short_tmp, name), handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients wait exactly ``timeout_seconds`` (not 5 s longer), so timeout tests are quick."""
    monkeypatch.setattr(_rumi_framing, "ANSWER_GRACE_SECONDS", 0.0)


def load_fresh(name: str, env: Dict[str, Optional[str]]) -> Any:
    """A new copy of module ``name`` imported under ``env`` (``None`` removes a variable), so
    its import-time constants can be checked; ``sys.modules`` and the environment are left as
    they were."""
    import importlib

    saved_env = {k: os.environ.get(k) for k in env}
    saved_module = sys.modules.pop(name, None)
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        return importlib.import_module(name)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if saved_module is not None:
            sys.modules[name] = saved_module
        else:
            sys.modules.pop(name, None)
