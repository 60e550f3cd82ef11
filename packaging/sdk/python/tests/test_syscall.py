"""rumi_syscall: the original's names, the request it sends, and a failure dict (never an
exception) for everything that can go wrong on the client side."""

from __future__ import annotations

import json
import os
import socket
import struct

import pytest

import _rumi_framing
import rumi_syscall
from conftest import frame, load_fresh

OK = {"success": True, "status_code": 200, "headers": {}, "body": "hi", "error": None, "error_type": None}


def test_constants_and_error_class_have_the_original_names_and_values() -> None:
    assert rumi_syscall.DEFAULT_SOCKET_PATH == "/run/rumi/egress.sock"
    assert rumi_syscall.MAX_RESPONSE_SIZE == 4 * 1024 * 1024
    assert rumi_syscall.DEFAULT_TIMEOUT == 30.0
    assert rumi_syscall.MAX_TIMEOUT == 120.0
    assert issubclass(rumi_syscall.SyscallError, Exception)
    assert rumi_syscall.request is rumi_syscall.http_request


def test_socket_path_is_read_from_the_environment_at_import() -> None:
    m = load_fresh("rumi_syscall", {"RUMI_EGRESS_SOCKET": "/tmp/x/egress.sock"})
    assert m.SOCKET_PATH == "/tmp/x/egress.sock"
    m = load_fresh("rumi_syscall", {"RUMI_EGRESS_SOCKET": None})
    assert m.SOCKET_PATH == m.DEFAULT_SOCKET_PATH


def test_http_request_sends_one_frame_to_socket_path_and_returns_the_answer(frame_server) -> None:
    server = frame_server(lambda req: OK)
    r = rumi_syscall.http_request(
        "get", "https://example.com/a", headers={"Accept": "x"}, timeout_seconds=500, socket_path=server.path
    )
    assert r == OK
    assert server.requests == [
        {"method": "GET", "url": "https://example.com/a", "headers": {"Accept": "x"}, "body": None, "timeout_seconds": 120.0}
    ]


def test_the_module_socket_path_is_the_default_target(frame_server, monkeypatch) -> None:
    server = frame_server(lambda req: OK)
    monkeypatch.setattr(rumi_syscall, "SOCKET_PATH", server.path)
    assert rumi_syscall.get("https://example.com/")["success"] is True
    assert rumi_syscall.put("https://example.com/", "b")["success"] is True
    assert [r["method"] for r in server.requests] == ["GET", "PUT"]
    assert server.requests[1]["body"] == "b"


@pytest.mark.parametrize(
    "call, method, body",
    [
        (lambda u, p: rumi_syscall.get(u), "GET", None),
        (lambda u, p: rumi_syscall.head(u), "HEAD", None),
        (lambda u, p: rumi_syscall.delete(u), "DELETE", None),
        (lambda u, p: rumi_syscall.post(u, "x"), "POST", "x"),
        (lambda u, p: rumi_syscall.put(u, "x"), "PUT", "x"),
        (lambda u, p: rumi_syscall.patch(u, "x"), "PATCH", "x"),
    ],
)
def test_shortcuts_send_their_method_and_body(frame_server, monkeypatch, call, method, body) -> None:
    server = frame_server(lambda req: OK)
    monkeypatch.setattr(rumi_syscall, "SOCKET_PATH", server.path)
    call("https://example.com/", server.path)
    assert (server.requests[0]["method"], server.requests[0]["body"]) == (method, body)


def test_post_json_forces_json_and_keeps_non_ascii(frame_server, monkeypatch) -> None:
    server = frame_server(lambda req: OK)
    monkeypatch.setattr(rumi_syscall, "SOCKET_PATH", server.path)
    rumi_syscall.post_json("https://example.com/", {"city": "東京"}, headers={"content-type": "text/plain", "X-A": "1"})
    sent = server.requests[0]
    assert sent["headers"] == {"X-A": "1", "Content-Type": "application/json"}
    assert sent["body"] == '{"city": "東京"}'
    assert "東京".encode("utf-8") in server.raw[0], "UTF-8 on the wire, not \\u escapes"


def test_post_json_of_data_json_cannot_encode_is_a_failure_dict() -> None:
    r = rumi_syscall.post_json("https://example.com/", {"x": object()}, timeout_seconds=1)
    assert (r["success"], r["error_type"]) == (False, "TypeError")


def test_a_missing_socket_is_socket_not_found(short_tmp) -> None:
    r = rumi_syscall.http_request("GET", "https://example.com/", socket_path=os.path.join(short_tmp, "none.sock"))
    assert set(r) == {"success", "error", "error_type"}
    assert (r["success"], r["error_type"]) == (False, "socket_not_found")


def test_a_socket_nobody_listens_on_is_connection_refused(short_tmp) -> None:
    path = os.path.join(short_tmp, "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    assert rumi_syscall.http_request("GET", "https://example.com/", socket_path=path)["error_type"] == "connection_refused"


def test_a_socket_that_may_not_be_opened_is_permission_denied(monkeypatch) -> None:
    def refuse(self, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert rumi_syscall.http_request("GET", "https://example.com/", socket_path="/x.sock")["error_type"] == "permission_denied"


def test_no_answer_in_time_is_timeout(frame_server, no_grace) -> None:
    server = frame_server(lambda req: None)
    r = rumi_syscall.http_request("GET", "https://example.com/", timeout_seconds=0.2, socket_path=server.path)
    assert (r["success"], r["error_type"]) == (False, "timeout")


@pytest.mark.parametrize(
    "reply, error_type",
    [
        (b"", "syscall_error"),
        (b"\x00\x00", "syscall_error"),
        (struct.pack(">I", 10) + b"{}", "syscall_error"),
        (struct.pack(">I", 4 * 1024 * 1024 + 1), "syscall_error"),
        (struct.pack(">I", 3) + b"{x}", "json_decode_error"),
        (struct.pack(">I", 2) + b"\xff\xfe", "json_decode_error"),
        (frame([1, 2]), "json_decode_error"),
    ],
)
def test_broken_answers_are_failure_dicts(frame_server, reply, error_type) -> None:
    server = frame_server(lambda req: reply)
    r = rumi_syscall.http_request("GET", "https://example.com/", socket_path=server.path)
    assert (r["success"], r["error_type"]) == (False, error_type), r


def test_an_empty_frame_is_an_empty_answer(frame_server) -> None:
    server = frame_server(lambda req: struct.pack(">I", 0))
    assert rumi_syscall.http_request("GET", "https://example.com/", socket_path=server.path) == {}


def test_a_bytes_body_is_a_failure_dict_not_an_exception(frame_server) -> None:
    server = frame_server(lambda req: OK)
    r = rumi_syscall.http_request("POST", "https://example.com/", body=b"raw", socket_path=server.path)
    assert (r["success"], r["error_type"]) == (False, "TypeError")
    assert server.requests == [], "nothing was sent"


def test_timeouts_are_clamped() -> None:
    assert _rumi_framing.clamp_timeout(None) == 30.0
    assert _rumi_framing.clamp_timeout(0) == 30.0
    assert _rumi_framing.clamp_timeout(500) == 120.0
    assert _rumi_framing.clamp_timeout(-3) == 0.001
    assert _rumi_framing.clamp_timeout(7) == 7.0
