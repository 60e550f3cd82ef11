"""core_runtime: the helper modules the original's guides import in block code."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import warnings

import pytest

import rumi_capability
import rumi_syscall
from core_runtime import deprecation, error_messages, logging_utils, syscall, types


def test_syscall_re_exports_the_originals_names_as_the_same_objects() -> None:
    names = ["DEFAULT_SOCKET_PATH", "SOCKET_PATH", "MAX_RESPONSE_SIZE", "DEFAULT_TIMEOUT", "MAX_TIMEOUT",
             "SyscallError", "http_request", "request", "get", "post", "post_json"]
    assert sorted(syscall.__all__) == sorted(names)
    for name in names:
        assert getattr(syscall, name) is getattr(rumi_syscall, name), name


def test_core_runtime_sdk_modules_are_the_sdk_modules() -> None:
    import core_runtime.rumi_capability
    import core_runtime.rumi_syscall

    assert core_runtime.rumi_syscall is rumi_syscall
    assert core_runtime.rumi_capability is rumi_capability


# === logging_utils ===


@pytest.fixture
def log_capture():
    logging_utils.reset_logger_cache()
    logging_utils.clear_correlation_id()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging_utils.StructuredFormatter("json"))
    logger = logging.getLogger("rumi.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logging_utils.reset_configuration()


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structured_logger_writes_json_with_bound_and_call_context(log_capture) -> None:
    log = logging_utils.get_structured_logger("rumi.test")
    assert logging_utils.get_structured_logger("rumi.test") is log, "cached"
    bound = log.bind(pack_id="weather")
    with logging_utils.CorrelationContext("req-1") as ctx:
        assert ctx.correlation_id == "req-1"
        bound.info("looked up", city="Oslo", level="ignored: the five keys win")
    bound.debug("after")
    first, second = lines(log_capture)
    assert set(first) == {"timestamp", "level", "module", "message", "correlation_id", "pack_id", "city"}
    assert (first["level"], first["module"], first["message"]) == ("INFO", "rumi.test", "looked up")
    assert (first["correlation_id"], first["pack_id"], first["city"]) == ("req-1", "weather", "Oslo")
    assert first["timestamp"].endswith("Z")
    assert (second["correlation_id"], second["level"]) == (None, "DEBUG")


def test_exceptions_and_levels(log_capture) -> None:
    log = logging_utils.StructuredLogger("rumi.test")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", step="x")
    log.setLevel(logging.ERROR)
    assert log.getEffectiveLevel() == logging.ERROR and not log.isEnabledFor(logging.WARNING)
    log.warning("dropped")
    log.critical("kept")
    entries = lines(log_capture)
    assert [e["message"] for e in entries] == ["failed", "kept"]
    assert "ValueError: boom" in entries[0]["exception"]


def test_correlation_contexts_nest_and_are_per_thread() -> None:
    logging_utils.clear_correlation_id()
    with logging_utils.CorrelationContext() as outer:
        assert len(outer.correlation_id) == 36, "a uuid4 by default"
        with logging_utils.CorrelationContext("inner"):
            assert logging_utils.get_correlation_id() == "inner"
            seen = []
            t = threading.Thread(target=lambda: seen.append(logging_utils.get_correlation_id()))
            t.start()
            t.join()
            assert seen == [None]
        assert logging_utils.get_correlation_id() == outer.correlation_id
    logging_utils.set_correlation_id("manual")
    assert logging_utils.get_correlation_id() == "manual"
    logging_utils.clear_correlation_id()
    assert logging_utils.get_correlation_id() is None


def test_text_format_and_the_environment_default(monkeypatch) -> None:
    record = logging.LogRecord("rumi.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.context_data = {"a": 1}
    text = logging_utils.StructuredFormatter("text").format(record)
    assert text.endswith("[WARNING] rumi.x - hello you [a=1]")
    monkeypatch.delenv("RUMI_LOG_FORMAT", raising=False)
    assert logging_utils.StructuredFormatter().fmt_type == "json"
    monkeypatch.setenv("RUMI_LOG_FORMAT", "TEXT")
    assert logging_utils.StructuredFormatter().fmt_type == "text"


def test_configure_logging_installs_one_handler_on_rumi(tmp_path) -> None:
    out = tmp_path / "log.jsonl"
    assert not logging_utils.is_configured()
    with pytest.raises(ValueError):
        logging_utils.configure_logging(level="LOUD")
    logging_utils.configure_logging(level="debug", fmt="json", output=str(out))
    logging_utils.configure_logging(level="INFO", fmt="json", output=str(out))
    rumi = logging.getLogger("rumi")
    assert logging_utils.is_configured() and len(rumi.handlers) == 1 and rumi.propagate is False
    logging_utils.get_structured_logger("rumi.pack").info("hi", n=1)
    logging_utils.reset_configuration()
    assert not logging_utils.is_configured() and rumi.handlers == [] and rumi.propagate is True
    (entry,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (entry["message"], entry["n"], entry["module"]) == ("hi", 1, "rumi.pack")


# === error_messages ===


def test_error_codes_are_numbered_in_the_originals_order() -> None:
    codes = error_messages.get_all_error_codes()
    assert len(codes) == 25
    assert error_messages.AUTH_PERMISSION_DENIED.code == "RUMI-AUTH-003"
    assert error_messages.PACK_CONNECTIVITY_MISSING.code == "RUMI-PACK-004"
    assert error_messages.VAL_BODY_TOO_LARGE.code == "RUMI-VAL-007"
    assert error_messages.SYS_DIRECTORY_NOT_FOUND.code == "RUMI-SYS-003"
    assert all(error_messages.ERROR_CODE_PATTERN.match(c) for c in codes)
    assert error_messages.get_error_code("RUMI-CAP-001") is error_messages.CAP_NOT_FOUND
    assert error_messages.get_error_code("RUMI-XX-999") is None
    assert error_messages.CAP_NOT_FOUND.category is error_messages.ErrorCategory.CAP
    with pytest.raises(ValueError):
        error_messages.ErrorCode("BAD-1", "t")
    with pytest.raises(Exception):
        error_messages.CAP_NOT_FOUND.code = "RUMI-CAP-009"  # frozen


def test_format_error_returns_a_rumi_error() -> None:
    err = error_messages.format_error(error_messages.VAL_EMPTY_VALUE, field_name="city", details={"step": "a"})
    assert isinstance(err, error_messages.RumiError) and isinstance(err, Exception)
    assert str(err) == "RUMI-VAL-001: city must not be empty"
    assert err.to_dict() == {"code": "RUMI-VAL-001", "message": "city must not be empty",
                             "details": {"step": "a"}, "suggestion": "Provide a non-empty value."}
    missing = error_messages.format_error(error_messages.FLOW_NOT_FOUND, suggestion="look")
    assert "missing parameter" in missing.message and missing.suggestion == "look"
    bare = error_messages.RumiError("RUMI-SYS-001", "x")
    assert bare.to_dict() == {"code": "RUMI-SYS-001", "message": "x"}


# === types ===


def test_types_names() -> None:
    assert types.PackId("p") == "p" and types.StoreKey("k") == "k"
    ok = types.Result(success=True, value=42)
    assert (ok.value, ok.error) == (42, None)
    assert types.Result(success=False, error="e").value is None
    assert types.Severity.INFO == "INFO" and [s.value for s in types.Severity] == [
        "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    for name in ["FlowId", "CapabilityName", "HandlerKey", "JsonValue", "JsonDict", "SyncCallback", "AsyncCallback"]:
        assert hasattr(types, name)


# === deprecation ===


@pytest.fixture
def registry():
    deprecation.DeprecationRegistry.get_instance().clear()
    yield deprecation.DeprecationRegistry.get_instance()
    deprecation.DeprecationRegistry.get_instance().clear()


def make_old():
    @deprecation.deprecated(since="1.0", removed_in="2.0", alternative="new_handler")
    def old_handler(x):
        return x * 2

    return old_handler


def test_deprecated_registers_when_applied(registry) -> None:
    make_old()
    (info,) = registry.get_all().values()
    assert info.name.endswith("old_handler")
    assert info.message.endswith("old_handler is deprecated since 1.0, will be removed in 2.0. Use new_handler instead.")
    assert registry.report_dict() == [info.to_dict()]
    assert "Deprecated API Report (1 items)" in registry.report()
    registry.clear()
    assert "No deprecated APIs registered." in registry.report()


def test_level_warn_and_unknown_values_call_warnings_warn(registry, monkeypatch) -> None:
    old = make_old()
    for level in [None, "warn", "whatever"]:
        if level is None:
            monkeypatch.delenv("RUMI_DEPRECATION_LEVEL", raising=False)
        else:
            monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", level)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert old(2) == 4
        assert [w.category for w in caught] == [DeprecationWarning], level
        assert caught[0].filename == __file__, "attributed to the caller"


def test_level_error_raises(registry, monkeypatch) -> None:
    old = make_old()
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "ERROR")
    with pytest.raises(DeprecationWarning, match="is deprecated since 1.0"):
        old(1)


def test_level_log_logs_a_warning_on_rumi_deprecation(registry, monkeypatch, caplog) -> None:
    old = make_old()
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "log")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, logger="rumi.deprecation"):
        warnings.simplefilter("always")
        assert old(3) == 6
    assert caught == []
    assert [(r.name, r.levelno) for r in caplog.records] == [("rumi.deprecation", logging.WARNING)]


def test_level_silent_does_nothing_and_the_level_is_read_at_each_call(registry, monkeypatch, caplog) -> None:
    old = make_old()
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "silent")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        assert old(1) == 2
    assert caught == [] and caplog.records == []
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "error")
    with pytest.raises(DeprecationWarning):
        old(1)


def test_async_functions_and_classes(registry, monkeypatch) -> None:
    @deprecation.deprecated(since="1", removed_in="2")
    async def fetch(x):
        return x + 1

    @deprecation.deprecated_class(since="1", removed_in="3", alternative="New")
    class Old:
        def __init__(self, v):
            self.v = v

    assert asyncio.iscoroutinefunction(fetch)
    assert {"fetch", "Old"} <= {n.rsplit(".", 1)[-1] for n in registry.get_all()}
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "error")
    with pytest.raises(DeprecationWarning):
        asyncio.run(fetch(1))
    with pytest.raises(DeprecationWarning, match="Use New instead"):
        Old(1)
    monkeypatch.setenv("RUMI_DEPRECATION_LEVEL", "silent")
    assert asyncio.run(fetch(1)) == 2 and Old(5).v == 5
