"""Error codes of the form ``RUMI-<CATEGORY>-<NNN>`` and the ``RumiError`` exception, as the
original system's ``core_runtime.error_messages``.

``format_error(CODE, **params)`` fills the code's template and *returns* a ``RumiError``; the
caller raises it (or sends ``to_dict()``)::

    from core_runtime.error_messages import VAL_EMPTY_VALUE, format_error
    raise format_error(VAL_EMPTY_VALUE, field_name="city")   # RUMI-VAL-001: city must not be empty

These codes belong to pack code; rumid's own codes are listed in docs/error-codes.md.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

__all__ = [
    "ERROR_CODE_PATTERN",
    "ErrorCategory",
    "ErrorCode",
    "RumiError",
    "format_error",
    "get_all_error_codes",
    "get_error_code",
]

#: What every code looks like.
ERROR_CODE_PATTERN = re.compile(r"^RUMI-[A-Z]{2,5}-\d{3}$")


class ErrorCategory(enum.Enum):
    """The area an error belongs to."""

    AUTH = "AUTH"
    NET = "NET"
    FLOW = "FLOW"
    PACK = "PACK"
    CAP = "CAP"
    VAL = "VAL"
    SYS = "SYS"


@dataclass(frozen=True)
class ErrorCode:
    """One code: its text ``template`` (``str.format`` fields), a default ``suggestion`` and
    its ``category``. Raises ``ValueError`` when ``code`` does not match
    ``ERROR_CODE_PATTERN``."""

    code: str
    template: str
    suggestion: Optional[str] = None
    category: Optional[ErrorCategory] = None

    def __post_init__(self) -> None:
        if not ERROR_CODE_PATTERN.match(self.code):
            raise ValueError("Invalid error code format: %r. Expected RUMI-{CATEGORY}-{NNN}" % (self.code,))


class RumiError(Exception):
    """An error with a code: ``str()`` is ``"<code>: <message>"``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Optional[Dict[str, Any]] = None,
        suggestion: Optional[str] = None,
    ) -> None:
        self.code = code
        self.message = message
        self.details = details
        self.suggestion = suggestion
        super().__init__(str(self))

    def __str__(self) -> str:
        return "%s: %s" % (self.code, self.message)

    def __repr__(self) -> str:
        fields = ["code=%r" % self.code, "message=%r" % self.message]
        if self.details is not None:
            fields.append("details=%r" % (self.details,))
        if self.suggestion is not None:
            fields.append("suggestion=%r" % self.suggestion)
        return "RumiError(%s)" % ", ".join(fields)

    def to_dict(self) -> Dict[str, Any]:
        """``{code, message}`` plus ``details`` and ``suggestion`` when they are set."""
        out: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        return out


def _code(code: str, template: str, suggestion: str, category: ErrorCategory) -> ErrorCode:
    return ErrorCode(code=code, template=template, suggestion=suggestion, category=category)


_A, _N, _F, _P, _C, _V, _S = (
    ErrorCategory.AUTH,
    ErrorCategory.NET,
    ErrorCategory.FLOW,
    ErrorCategory.PACK,
    ErrorCategory.CAP,
    ErrorCategory.VAL,
    ErrorCategory.SYS,
)

AUTH_TOKEN_INVALID = _code("RUMI-AUTH-001", "Authentication token is invalid", "Provide a valid authentication token.", _A)
AUTH_TOKEN_EXPIRED = _code("RUMI-AUTH-002", "Authentication token has expired", "Refresh or re-issue the authentication token.", _A)
AUTH_PERMISSION_DENIED = _code("RUMI-AUTH-003", "Permission denied: {reason}", "Check the required permissions for this operation.", _A)

NET_CONNECTION_FAILED = _code("RUMI-NET-001", "Network connection failed: {target}", "Check network connectivity and target address.", _N)
NET_REQUEST_TIMEOUT = _code(
    "RUMI-NET-002", "Request timed out after {timeout_seconds}s: {target}", "Increase the timeout or check the target service status.", _N
)
NET_PROXY_ERROR = _code("RUMI-NET-003", "Proxy error for {target}: {reason}", "Check proxy configuration and target service availability.", _N)

FLOW_NOT_FOUND = _code("RUMI-FLOW-001", "Flow definition not found: {flow_id}", "Verify the flow_id and ensure the flow file exists.", _F)
FLOW_EXECUTION_ERROR = _code("RUMI-FLOW-002", "Flow execution failed: {flow_id} at step {step}", "Check the flow definition and step configuration.", _F)
FLOW_STEP_FAILED = _code("RUMI-FLOW-003", "Flow step failed: {step} in {flow_id}: {reason}", "Review the step implementation and input data.", _F)

PACK_ID_INVALID = _code(
    "RUMI-PACK-001",
    "Invalid pack_id: {pack_id!r} (must match [a-zA-Z0-9_-]{{1,64}})",
    "Use only alphanumeric characters, underscores, and hyphens (1-64 chars).",
    _P,
)
PACK_ECOSYSTEM_INVALID = _code("RUMI-PACK-002", "ecosystem.json is invalid for pack {pack_id}: {reason}", "Validate ecosystem.json against the pack schema.", _P)
PACK_ID_MISMATCH = _code(
    "RUMI-PACK-003",
    "pack_id mismatch: ecosystem.json declares {declared!r} but directory is {actual!r}",
    "Ensure pack_id in ecosystem.json matches the directory name.",
    _P,
)
PACK_CONNECTIVITY_MISSING = _code(
    "RUMI-PACK-004",
    "Pack {pack_id} references {ref_pack_id} via ${{ctx}} but it is not in connectivity",
    "Add the referenced pack_id to the connectivity list in ecosystem.json.",
    _P,
)

CAP_NOT_FOUND = _code("RUMI-CAP-001", "Capability not found: {capability_id}", "Check that the capability is installed and the ID is correct.", _C)
CAP_EXECUTION_ERROR = _code(
    "RUMI-CAP-002", "Capability execution failed: {capability_id}: {reason}", "Review the capability implementation and input parameters.", _C
)

VAL_EMPTY_VALUE = _code("RUMI-VAL-001", "{field_name} must not be empty", "Provide a non-empty value.", _V)
VAL_PATTERN_MISMATCH = _code(
    "RUMI-VAL-002", "{field_name} does not match required pattern {pattern}: {value!r}", "Ensure the value matches the expected pattern.", _V
)
VAL_PATH_TRAVERSAL = _code("RUMI-VAL-003", "Path traversal detected: {path} is not within {base}", "Use a path that stays within the allowed directory.", _V)
VAL_SYMLINK_DETECTED = _code("RUMI-VAL-004", "Symbolic link detected (security risk): {path}", "Remove the symbolic link or use a regular file/directory.", _V)
VAL_ENTRYPOINT_INVALID = _code("RUMI-VAL-005", "Invalid entrypoint format (expected 'file:func'): {entrypoint}", "Use 'filename.py:function_name' format.", _V)
VAL_FILE_NOT_FOUND = _code("RUMI-VAL-006", "File not found: {filepath}", "Verify the file path exists.", _V)
VAL_BODY_TOO_LARGE = _code("RUMI-VAL-007", "Request body too large: {size} bytes (max {max_size} bytes)", "Reduce the request body size.", _V)

SYS_INTERNAL_ERROR = _code("RUMI-SYS-001", "Internal system error: {reason}", "This is an unexpected error. Please report it.", _S)
SYS_CONFIG_ERROR = _code("RUMI-SYS-002", "Configuration error: {reason}", "Check the configuration file and environment variables.", _S)
SYS_DIRECTORY_NOT_FOUND = _code("RUMI-SYS-003", "Directory does not exist: {directory}", "Create the directory or verify the path.", _S)


def _collect() -> Dict[str, ErrorCode]:
    codes: Dict[str, ErrorCode] = {}
    for value in list(globals().values()):
        if isinstance(value, ErrorCode):
            if value.code in codes:
                raise ValueError("Duplicate error code: %s" % value.code)
            codes[value.code] = value
    return codes


_ALL_ERROR_CODES: Dict[str, ErrorCode] = _collect()
__all__ += sorted(name for name, v in globals().items() if isinstance(v, ErrorCode))


def get_all_error_codes() -> Dict[str, ErrorCode]:
    """Every code, as ``{"RUMI-VAL-001": ErrorCode, ...}`` (a copy)."""
    return dict(_ALL_ERROR_CODES)


def get_error_code(code: str) -> Optional[ErrorCode]:
    """The ``ErrorCode`` for a code string, or ``None``."""
    return _ALL_ERROR_CODES.get(code)


def format_error(
    code: ErrorCode,
    *,
    details: Optional[Dict[str, Any]] = None,
    suggestion: Optional[str] = None,
    **params: Any,
) -> RumiError:
    """Returns (does not raise) a ``RumiError`` whose message is ``code``'s template filled
    with ``params``; a missing parameter leaves the template and names it. ``suggestion``
    replaces the code's default one."""
    try:
        message = code.template.format(**params)
    except KeyError as e:
        message = "%s (missing parameter: %s)" % (code.template, e)
    return RumiError(
        code=code.code,
        message=message,
        details=details,
        suggestion=code.suggestion if suggestion is None else suggestion,
    )
