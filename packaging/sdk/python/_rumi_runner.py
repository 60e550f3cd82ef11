"""Runs one pack block: `python3 -B _rumi_runner.py` (inside the sandbox container, or on the
host in permissive mode). Not for pack authors to import.

Reads one job {"file", "input", "context"} as one JSON line on stdin. Python and the SDK are
loaded *before* the job is read, so a container started ahead of time (a pristine spare) has
done that work when its job arrives; nothing of the pack is touched until then. Loads the
block file, calls run() with 0, 1 or 2 parameters, and writes the result as one frame to
stdout: b"\x1eRUMI-RESULT <len>\n" + <len bytes of JSON>; rumid takes the result as soon as
the frame is complete. Anything the block prints goes to stderr. One job per process, then
exit.

As in the original system, an ``async def run`` is run to completion with ``asyncio.run`` and
its return value is the result, and a generator ``run`` is collected: the result is
``{"chunks": [every yielded value], "is_streaming": true}`` (an ``async`` generator too).
A lib script's context (it has ``lib_type``) gets ``lib_dir``, the directory of the script,
when rumid did not set one.
"""

from __future__ import annotations

import os
import sys
import types
# typing is for annotations only (strings here): not imported at run time, where every
# millisecond of the runner's start is paid by each block call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List

import _rumi_json
import rumi_capability
import rumi_syscall

# Taken before any pack code runs, which could replace os._exit.
_exit = os._exit


def read_job() -> Dict[str, Any]:
    line = sys.stdin.buffer.readline()
    if not line:
        sys.stderr.write("no job received\n")
        sys.exit(4)
    return _rumi_json.loads(line.decode("utf-8"))


def main() -> None:
    req = read_job()
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    path = req["file"]
    if os.path.basename(path) == "__rumi_probe__":
        # Operator's sandbox check: Python started with the SDK and the mounts in place.
        write_result(real_stdout, {"probe": "ok", "python": sys.version.split()[0]})
        return
    sys.path.insert(0, os.path.dirname(path))
    context = dict(req.get("context") or {})
    context["http_request"] = rumi_syscall.http_request
    context["network_check"] = lambda domain, port: {
        "allowed": True,
        "reason": "enforced by the egress helper on each request",
    }
    context["capability_socket"] = os.environ.get("RUMI_CAPABILITY_SOCKET")
    context["capability"] = rumi_capability
    data = req.get("input")
    if "lib_type" in context:
        # A lib script: the original gave it the directory it lives in.
        lib_dir = context.setdefault("lib_dir", os.path.dirname(path))
        if isinstance(data, dict) and "lib_type" in data:
            data.setdefault("lib_dir", lib_dir)
    module = load_block(path)
    run = getattr(module, "run", None)
    if run is None or not callable(run):
        sys.stderr.write("No run function found in %s\n" % os.path.basename(path))
        sys.exit(3)
    write_result(real_stdout, call_run(run, data, context))
    # Nothing of the block runs after its result (threads it left, atexit hooks): the process
    # ends now, as the sandbox would end it anyway, and its container exits without being
    # killed (cheaper for the engine than a kill).
    _end(0)


def load_block(path: str) -> types.ModuleType:
    """The block file as the module ``rumi_block`` (not put in ``sys.modules``), loaded as
    ``importlib.util.spec_from_file_location`` + ``exec_module`` would, without importing
    ``importlib.util``."""
    from importlib.machinery import ModuleSpec, SourceFileLoader

    loader = SourceFileLoader("rumi_block", path)
    spec = ModuleSpec("rumi_block", loader, origin=path)
    spec.has_location = True
    module = types.ModuleType("rumi_block")
    module.__spec__ = spec
    module.__loader__ = loader
    module.__file__ = path
    loader.exec_module(module)
    return module


# Code flags (Include/cpython/code.h); a plain function's own, read without ``inspect``.
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


def parameter_count(run: Callable[..., Any]) -> int:
    """How many parameters ``inspect.signature(run)`` lists. A plain function's are read from
    its code object; anything else (a wrapped or partial function, a callable object) asks
    ``inspect``. asyncio and inspect are imported only when a block needs them, since every
    millisecond of the runner's start is paid by each call."""
    if (
        type(run) is types.FunctionType
        and not hasattr(run, "__wrapped__")
        and not hasattr(run, "__signature__")
    ):
        code = run.__code__
        n = code.co_argcount + code.co_kwonlyargcount
        n += bool(code.co_flags & _CO_VARARGS) + bool(code.co_flags & _CO_VARKEYWORDS)
        return n
    import inspect

    return len(inspect.signature(run).parameters)


def call_run(run: Callable[..., Any], data: Any, context: Dict[str, Any]) -> Any:
    """Calls ``run`` with as many of ``(data, context)`` as it takes, and waits for or collects
    what it returns: a coroutine is run with ``asyncio.run``; a generator (sync or async)
    becomes ``{"chunks": [...], "is_streaming": True}``."""
    n = parameter_count(run)
    if n >= 2:
        result = run(data, context)
    elif n == 1:
        result = run(data)
    else:
        result = run()
    if isinstance(result, types.CoroutineType):
        import asyncio

        result = asyncio.run(result)
    if isinstance(result, types.GeneratorType):
        return {"chunks": list(result), "is_streaming": True}
    if isinstance(result, types.AsyncGeneratorType):
        import asyncio

        return {"chunks": asyncio.run(_collect(result)), "is_streaming": True}
    return result


async def _collect(agen: Any) -> List[Any]:
    return [item async for item in agen]


def write_result(stdout: Any, result: Any) -> None:
    """Writes ``result`` as the one result frame (values JSON cannot hold become ``str()``)."""
    body = _rumi_json.dumps(result, default=str).encode("utf-8")
    stdout.buffer.write(b"\x1eRUMI-RESULT %d\n" % len(body) + body)
    stdout.flush()


def _end(code: int) -> None:
    """Ends the process now with ``code``, whatever the block left behind (threads that would
    keep the interpreter alive, atexit hooks): what it wrote is flushed first."""
    try:
        for stream in (sys.stderr, sys.__stderr__, sys.__stdout__):
            try:
                if stream is not None:
                    stream.flush()
            except BaseException:
                pass
    finally:
        _exit(code)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as e:
        # As the interpreter would end: None is 0, an int is itself, anything else is printed
        # and is 1.
        if e.code is None or isinstance(e.code, int):
            _end(e.code or 0)
        try:
            sys.stderr.write("%s\n" % (e.code,))
        finally:
            _end(1)
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())
        finally:
            _end(1)
