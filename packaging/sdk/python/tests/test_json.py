"""_rumi_json: the runner's and SDK's JSON, CPython's _json driven directly. It must give
what json.loads and json.dumps give, document for document and error for error."""

from __future__ import annotations

import json
import math

import pytest

import _rumi_json

VALUES = [
    {}, [], "", "x", "é ü \u2028 \x00 \ud800 😀", 0, -1, 10**40, -0.0, 1.5, 1e308, 5e-324,
    float("inf"), float("-inf"), True, False, None,
    {"a": [1, 2, {"b": None, "c": [[], {}]}], "d": "e"},
    {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    (1, "tuple"), [{"deep": [[[[["x"]]]]]}],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_dumps_gives_what_json_dumps_gives(value, ensure_ascii) -> None:
    assert _rumi_json.dumps(value, ensure_ascii=ensure_ascii) == json.dumps(value, ensure_ascii=ensure_ascii)
    assert _rumi_json.dumps(value, ensure_ascii=ensure_ascii, default=str) == json.dumps(
        value, ensure_ascii=ensure_ascii, default=str
    )


def test_dumps_calls_default_and_refuses_what_json_refuses() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert _rumi_json.dumps({"t": Thing(), "s": {1}}, default=str) == '{"t": "thing", "s": "{1}"}'
    with pytest.raises(TypeError, match="Object of type Thing is not JSON serializable"):
        _rumi_json.dumps([Thing()])
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        _rumi_json.dumps(loop)
    # A failed document leaves no mark behind: the same object encodes afterwards.
    shared = [1]
    with pytest.raises(TypeError):
        _rumi_json.dumps([shared, object()])
    assert _rumi_json.dumps([shared, shared]) == "[[1], [1]]"


@pytest.mark.parametrize("text", [json.dumps(v) for v in VALUES] + [" \n[1, 2]\t\r", "NaN", "-Infinity", '"\\u00e9"'])
def test_loads_gives_what_json_loads_gives(text) -> None:
    got, want = _rumi_json.loads(text), json.loads(text)
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text", ["", "   ", "{", "[1,]", "1 2", "[1] x", "nul", '"\\x"', '{"a" 1}', '"\x01"', "[" * 100000])
def test_loads_fails_as_json_loads_fails(text) -> None:
    with pytest.raises(BaseException) as want:
        json.loads(text)
    with pytest.raises(BaseException) as got:
        _rumi_json.loads(text)
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value)
    if isinstance(want.value, json.JSONDecodeError):
        assert isinstance(got.value, _rumi_json.decode_error())
