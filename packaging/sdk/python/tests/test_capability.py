"""rumi_capability: the original's names, the five-key envelope on every answer, the failure
``output`` that built-in failures carry, and client-side failures with ``output: None`` and
``latency_ms: 0``."""

from __future__ import annotations

import os
import struct

import rumi_capability
from conftest import load_fresh

ENVELOPE = {"success", "output", "error", "error_type", "latency_ms"}


def ok(output):
    return {"success": True, "output": output, "error": None, "error_type": None, "latency_ms": 1.5}


def test_constants_and_error_class_have_the_original_names_and_values() -> None:
    assert rumi_capability.DEFAULT_SOCKET_PATH == "/run/rumi/capability.sock"
    assert rumi_capability.MAX_RESPONSE_SIZE == 4 * 1024 * 1024
    assert (rumi_capability.DEFAULT_TIMEOUT, rumi_capability.MAX_TIMEOUT) == (30.0, 120.0)
    assert issubclass(rumi_capability.CapabilityError, Exception)
    m = load_fresh("rumi_capability", {"RUMI_CAPABILITY_SOCKET": "/tmp/y/cap.sock"})
    assert m.SOCKET_PATH == "/tmp/y/cap.sock"


def test_call_sends_permission_args_timeout_and_request_id(frame_server) -> None:
    server = frame_server(lambda req: ok({"success": True, "value": 1}))
    r = rumi_capability.call(
        "store.get", {"store_id": "s", "key": "k"}, timeout_seconds=999, socket_path=server.path, request_id=42
    )
    assert r == ok({"success": True, "value": 1})
    assert server.requests == [
        {"permission_id": "store.get", "args": {"store_id": "s", "key": "k"}, "timeout_seconds": 120.0, "request_id": "42"}
    ]


def test_the_module_socket_path_is_the_default_target(frame_server, monkeypatch) -> None:
    server = frame_server(lambda req: ok(None))
    monkeypatch.setattr(rumi_capability, "SOCKET_PATH", server.path)
    assert rumi_capability.call("x.y")["success"] is True
    assert server.requests[0]["args"] == {} and "request_id" not in server.requests[0]


def test_a_failure_answer_carries_the_error_in_output(frame_server) -> None:
    # rumi-capd's refusal: output null. The SDK gives it the built-ins' failure shape, so the
    # guides' `result["output"]["error"]` in the else branch works.
    server = frame_server(
        lambda req: {"success": False, "output": None, "error": "Access denied or secret not found",
                     "error_type": "access_denied", "latency_ms": 0.2}
    )
    r = rumi_capability.call("secrets.get", {"key": "K"}, socket_path=server.path)
    assert r["success"] is False
    assert r["output"] == {"success": False, "error": "Access denied or secret not found", "error_type": "access_denied"}
    assert (r["error"], r["error_type"], r["latency_ms"]) == ("Access denied or secret not found", "access_denied", 0.2)


def test_a_failure_output_from_the_helper_is_kept(frame_server) -> None:
    out = {"success": False, "error": "Value mismatch (conflict)", "error_type": "conflict", "current_value": 1}
    server = frame_server(lambda req: {"success": False, "output": out, "error": "x", "error_type": "conflict", "latency_ms": 1})
    assert rumi_capability.call("store.cas", socket_path=server.path)["output"] == out


def test_an_answer_missing_keys_gets_all_five(frame_server) -> None:
    # rumi-capd's answer to a broken request frame has no output.
    server = frame_server(lambda req: {"success": False, "error": "Invalid request", "error_type": "protocol_error"})
    r = rumi_capability.call("x", socket_path=server.path)
    assert set(r) == ENVELOPE
    assert r["latency_ms"] == 0
    assert r["output"]["error_type"] == "protocol_error"


def test_client_side_failures_have_output_none_and_latency_zero(short_tmp, frame_server, no_grace) -> None:
    missing = rumi_capability.call("x", socket_path=os.path.join(short_tmp, "none.sock"))
    silent = frame_server(lambda req: None, name="silent.sock")
    timeout = rumi_capability.call("x", timeout_seconds=0.2, socket_path=silent.path)
    broken = frame_server(lambda req: struct.pack(">I", 9) + b"{", name="broken.sock")
    short = rumi_capability.call("x", socket_path=broken.path)
    garbage = frame_server(lambda req: struct.pack(">I", 1) + b"{", name="garbage.sock")
    bad_json = rumi_capability.call("x", socket_path=garbage.path)
    unencodable = rumi_capability.call("x", {"v": object()}, socket_path=garbage.path)
    for r, error_type in [
        (missing, "socket_not_found"),
        (timeout, "timeout"),
        (short, "capability_error"),
        (bad_json, "json_decode_error"),
        (unencodable, "TypeError"),
    ]:
        assert set(r) == ENVELOPE, r
        assert (r["success"], r["error_type"], r["output"], r["latency_ms"]) == (False, error_type, None, 0), r


def test_get_secret_returns_the_value_or_none(frame_server, monkeypatch) -> None:
    answers = iter([ok({"success": True, "value": "sk-1"}),
                    {"success": False, "output": None, "error": "d", "error_type": "access_denied", "latency_ms": 0}])
    server = frame_server(lambda req: next(answers))
    monkeypatch.setattr(rumi_capability, "SOCKET_PATH", server.path)
    assert rumi_capability.get_secret("API_KEY") == "sk-1"
    assert rumi_capability.get_secret("API_KEY") is None
    assert server.requests[0] == {"permission_id": "secrets.get", "args": {"key": "API_KEY"}, "timeout_seconds": 30.0}
    monkeypatch.setattr(rumi_capability, "SOCKET_PATH", "/nonexistent/cap.sock")
    assert rumi_capability.get_secret("API_KEY") is None
