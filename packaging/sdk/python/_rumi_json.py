"""JSON for the runner and the SDK, without the start-up cost of ``import json``.

``import json`` imports ``re`` (for a few patterns the C accelerator does not need), and
``re`` imports ``enum``: together about 26 million instructions, most of a bare interpreter's
start again, paid by every block call before its job is even read. The work itself is done
by CPython's ``_json`` accelerator either way; this module drives it directly, with the
settings ``json.loads`` and ``json.dumps`` use, and falls back to ``json`` itself where
``_json`` is missing or has another shape. ``json`` is still imported to build the error of
a malformed document (``json.JSONDecodeError``, a ``ValueError``), only then.

Not for pack authors to import: a pack's own ``import json`` is unaffected.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# JSON's whitespace (RFC 8259 section 2), as json.decoder.WHITESPACE matches it.
_WS = " \t\n\r"


def decode_failure(msg: str, doc: str, pos: int) -> Exception:
    import json

    return json.JSONDecodeError(msg, doc, pos)


class _Decoding:
    """What ``_json.make_scanner`` reads of a ``json.JSONDecoder()``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "-Infinity": float("-inf"),
        "Infinity": float("inf"),
        "NaN": float("nan"),
    }.__getitem__


try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner

    _scan = make_scanner(_Decoding)

    def _encoder(default: Callable[[Any], Any], string: Callable[[str], str]) -> Callable[[Any, int], Any]:
        """A fresh encoder of ``json.dumps``'s settings (its circular-reference marks are
        its own): no indent, separators ``", "`` and ``": "``, keys unsorted, none skipped,
        NaN allowed."""
        return make_encoder({}, default, string, None, ": ", ", ", False, False, True)

    # Built once here so that a shape this module does not know falls back at import.
    _encoder(str, encode_basestring_ascii)
except (ImportError, TypeError):  # pragma: no cover - CPython always has _json
    _scan = None


def loads(text: str) -> Any:
    """``json.loads(text)`` for a ``str``."""
    if _scan is None:  # pragma: no cover
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        raise decode_failure("Expecting value", text, e.value) from None
    except SystemError:
        # _json raises its errors as json.decoder's JSONDecodeError, and only once that is
        # loaded (before, it fails without saying why): json itself reads the malformed
        # document again and says what is wrong with it.
        import json

        return json.loads(text)
    if end != len(text):
        tail = text[end:]
        after = len(tail) - len(tail.lstrip(_WS))
        if after != len(tail):
            raise decode_failure("Extra data", text, end + after)
    return obj


def dumps(obj: Any, ensure_ascii: bool = True, default: Optional[Callable[[Any], Any]] = None) -> str:
    """``json.dumps(obj, ensure_ascii=ensure_ascii, default=default)``."""
    if _scan is None:  # pragma: no cover
        import json

        return json.dumps(obj, ensure_ascii=ensure_ascii, default=default)
    string = encode_basestring_ascii if ensure_ascii else encode_basestring
    if isinstance(obj, str):
        return string(obj)
    if default is None:
        default = _no_default
    return "".join(_encoder(default, string)(obj, 0))


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


class _NeverRaised(Exception):
    pass


def decode_error() -> type:
    """``json.JSONDecodeError`` once ``json.decoder`` is loaded (no such error exists before),
    for ``except _rumi_json.decode_error():`` without importing ``json`` up front."""
    import sys

    decoder = sys.modules.get("json.decoder")
    return decoder.JSONDecodeError if decoder is not None else _NeverRaised
