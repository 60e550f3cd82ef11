"""_rumi_runner.py as rumid starts it: one JSON job line on stdin, the result as one
``\\x1eRUMI-RESULT <len>\\n<json>`` frame on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, Optional, Tuple

import pytest

from conftest import SDK_DIR

RUNNER = os.path.join(SDK_DIR, "_rumi_runner.py")
HEADER = b"\x1eRUMI-RESULT "


def run_block(
    tmp_path, source: str, input_data: Any = None, context: Optional[Dict[str, Any]] = None, name: str = "block.py"
) -> Tuple[int, Any, str]:
    """Runs ``source`` as a block; returns (exit code, decoded result or None, stderr)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    job = json.dumps({"file": str(path), "input": input_data, "context": context or {"owner_pack": "p"}})
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SDK_DIR, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-B", RUNNER], input=job.encode() + b"\n", capture_output=True, env=env, timeout=60
    )
    result = None
    if proc.stdout:
        assert proc.stdout.startswith(HEADER), proc.stdout
        length, body = proc.stdout[len(HEADER):].split(b"\n", 1)
        assert int(length) == len(body), "the frame is the whole of stdout"
        result = json.loads(body)
    return proc.returncode, result, proc.stderr.decode()


def test_run_is_called_with_as_many_arguments_as_it_takes(tmp_path) -> None:
    two = "def run(data, context):\n    return [data, context['owner_pack'], sorted(context)]\n"
    code, result, _ = run_block(tmp_path, two, {"x": 1})
    assert code == 0
    assert result[:2] == [{"x": 1}, "p"]
    assert {"http_request", "network_check", "capability_socket", "capability"} <= set(result[2])
    assert run_block(tmp_path, "def run(data):\n    return data\n", 5)[1] == 5
    assert run_block(tmp_path, "def run():\n    return 'none'\n")[1] == "none"


def test_async_run_is_awaited(tmp_path) -> None:
    source = """
        import asyncio

        async def run(input_data, context):
            await asyncio.sleep(0.01)
            return {"async": True, "city": input_data["city"]}
    """
    code, result, _ = run_block(tmp_path, source, {"city": "Oslo"})
    assert (code, result) == (0, {"async": True, "city": "Oslo"})


def test_an_async_run_that_raises_fails_the_block(tmp_path) -> None:
    code, result, stderr = run_block(tmp_path, "async def run():\n    raise RuntimeError('nope')\n")
    assert (code, result) == (1, None)
    assert "RuntimeError: nope" in stderr


def test_generator_run_is_collected_as_chunks(tmp_path) -> None:
    source = """
        def run(input_data):
            for i in range(input_data):
                yield {"i": i}
    """
    assert run_block(tmp_path, source, 3)[1] == {"chunks": [{"i": 0}, {"i": 1}, {"i": 2}], "is_streaming": True}


def test_async_generator_run_is_collected_as_chunks(tmp_path) -> None:
    source = """
        async def run():
            for word in ["a", "b"]:
                yield word
    """
    assert run_block(tmp_path, source)[1] == {"chunks": ["a", "b"], "is_streaming": True}


def test_printing_goes_to_stderr_and_odd_values_become_text(tmp_path) -> None:
    source = """
        import sys

        def run():
            print("to stderr")
            sys.stdout.write("also stderr\\n")
            return {"obj": object(), "set": None}
    """
    code, result, stderr = run_block(tmp_path, source)
    assert code == 0 and "to stderr" in stderr and "also stderr" in stderr
    assert result["obj"].startswith("<object object at")


def test_a_file_without_run_exits_3(tmp_path) -> None:
    code, result, stderr = run_block(tmp_path, "x = 1\n")
    assert (code, result) == (3, None)
    assert "No run function found in block.py" in stderr


def test_the_probe_answers_without_a_file(tmp_path) -> None:
    job = json.dumps({"file": "/nowhere/__rumi_probe__", "input": None, "context": {}})
    proc = subprocess.run([sys.executable, "-B", RUNNER], input=job.encode() + b"\n", capture_output=True,
                          env={"PYTHONPATH": SDK_DIR}, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout.split(b"\n", 1)[1])["probe"] == "ok"


def test_no_job_exits_4(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-B", RUNNER], input=b"", capture_output=True,
                          env={"PYTHONPATH": SDK_DIR}, timeout=60)
    assert proc.returncode == 4


def test_lib_scripts_get_lib_dir_in_context_and_input(tmp_path) -> None:
    ctx = {"pack_id": "p", "lib_type": "install", "ts": "t", "data_dir": "/data"}
    source = "def run(context):\n    return context\n"
    code, result, _ = run_block(tmp_path, source, dict(ctx), dict(ctx), name="backend/lib/install.py")
    assert code == 0
    assert result["lib_dir"] == str(tmp_path / "backend" / "lib")
    two = "def run(data, context):\n    return context['lib_dir']\n"
    assert run_block(tmp_path, two, dict(ctx), dict(ctx, lib_dir="/lib"), name="lib/update.py")[1] == "/lib"


def test_blocks_do_not_get_lib_dir(tmp_path) -> None:
    assert run_block(tmp_path, "def run(d, c):\n    return 'lib_dir' in c\n")[1] is False


def test_block_code_can_import_core_runtime(tmp_path) -> None:
    source = """
        from core_runtime.syscall import SyscallError, post_json
        from core_runtime.logging_utils import get_structured_logger
        from core_runtime.deprecation import deprecated
        from core_runtime.error_messages import RumiError
        from core_runtime.types import Result

        def run():
            get_structured_logger("rumi.pack").warning("hello")
            return [SyscallError.__name__, Result(success=True, value=1).value]
    """
    code, result, _ = run_block(tmp_path, source)
    assert (code, result) == (0, ["SyscallError", 1])


@pytest.mark.parametrize("level, expect_exit", [("error", 1), ("silent", 0)])
def test_deprecation_level_reaches_block_code(tmp_path, level, expect_exit) -> None:
    source = f"""
        import os
        os.environ["RUMI_DEPRECATION_LEVEL"] = "{level}"
        from core_runtime.deprecation import deprecated

        @deprecated(since="1", removed_in="2")
        def old():
            return 1

        def run():
            return old()
    """
    code, result, stderr = run_block(tmp_path, source)
    assert code == expect_exit, stderr


def test_parameter_count_agrees_with_inspect_for_every_kind_of_callable() -> None:
    """The runner counts a plain function's parameters from its code object (inspect is not
    imported at start); every shape of run() must count as inspect.signature counts it."""
    import functools
    import inspect

    sys.path.insert(0, SDK_DIR)
    try:
        import _rumi_runner
    finally:
        sys.path.remove(SDK_DIR)

    def wraps_two(f):
        @functools.wraps(f)
        def inner(*args, **kwargs):
            return f(*args, **kwargs)

        return inner

    class Callable_:
        def __call__(self, data, context):
            return None

        def method(self, data):
            return None

    def two(a, b): ...
    def defaults(a, b=1, c=2): ...
    def star(*args): ...
    def kw_only(a, *, b): ...
    def everything(a, /, b, *args, c, **kwargs): ...
    async def coroutine(a): ...
    def generator(a):
        yield a

    shapes = [
        two, defaults, star, kw_only, everything, coroutine, generator,
        lambda: None, lambda x: x, wraps_two(lambda a: a), functools.partial(two, 1),
        Callable_(), Callable_().method, print,
    ]
    for f in shapes:
        assert _rumi_runner.parameter_count(f) == len(inspect.signature(f).parameters), f


def test_the_runner_starts_without_asyncio_inspect_or_typing(tmp_path) -> None:
    """Loading the runner and a plain block imports none of the heavy modules (asyncio alone
    doubled the start of every block call); an async block still gets asyncio."""
    heavy = ("asyncio", "inspect", "typing", "importlib.util")
    # What this interpreter's own start imports (a site hook may import some of them).
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    probe = "import sys, json; print(json.dumps([m for m in %r if m in sys.modules]))" % (heavy,)
    bare = subprocess.run([sys.executable, "-B", "-c", probe], capture_output=True, env=env, check=True)
    baseline = set(json.loads(bare.stdout))
    source = "import sys\n\ndef run():\n    return [m for m in %r if m in sys.modules]\n" % (heavy,)
    code, result, stderr = run_block(tmp_path, source)
    assert code == 0, stderr
    assert set(result) - baseline == set(), "imported by the runner"
    source = "import sys\n\nasync def run():\n    return 'asyncio' in sys.modules\n"
    assert run_block(tmp_path, source)[1] is True


def test_nothing_of_the_block_runs_after_its_result(tmp_path) -> None:
    # A thread that would keep the interpreter alive, an atexit hook and unflushed output: the
    # runner ends the process right after the result frame (the sandbox ends it then anyway),
    # so the container exits by itself instead of being killed.
    source = """
        import atexit, sys, threading, time

        def run(data):
            threading.Thread(target=time.sleep, args=(30,)).start()
            atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
            print("printed before the result")
            return {"done": True}
    """
    code, result, stderr = run_block(tmp_path, source)
    assert (code, result) == (0, {"done": True})
    assert "printed before the result" in stderr
    assert "atexit ran" not in stderr
    # Nor can the block undo that: os._exit replaced and stderr's flush made to fail.
    source = """
        import os, sys, threading, time

        class Broken:
            def write(self, s):
                return len(s)
            def flush(self):
                raise RuntimeError("no flush")

        def run(data):
            threading.Thread(target=time.sleep, args=(30,)).start()
            os._exit = lambda code: None
            sys.stderr = Broken()
            return {"done": True}
    """
    code, result, _ = run_block(tmp_path, source, name="undo.py")
    assert (code, result) == (0, {"done": True})


def test_the_runner_does_not_import_socket_until_a_block_calls_out(tmp_path) -> None:
    source = """
        import sys

        def run(data, context):
            before = "socket" in sys.modules
            answer = context["capability"].call("store.get", {"key": "k"}, socket_path="/nonexistent/cap.sock")
            return [before, "socket" in sys.modules, answer["error_type"]]
    """
    code, result, _ = run_block(tmp_path, source)
    assert (code, result) == (0, [False, True, "socket_not_found"])


def test_the_runner_starts_without_json_re_or_enum(tmp_path) -> None:
    # ``import json`` brings ``re`` and ``enum``: about as many instructions as the bare
    # interpreter's start, paid by every call. The runner's JSON drives ``_json`` directly.
    # Measured against the bare interpreter: some Pythons' site imports re or typing.
    names = ["json", "json.decoder", "json.encoder", "re", "enum", "typing", "inspect"]
    probe = "import sys; print(' '.join(m for m in %r if m in sys.modules))" % (names,)
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    bare = subprocess.run([sys.executable, "-B", "-c", probe], capture_output=True, env=env, check=True)
    source = """
        import sys

        def run(data, context):
            return [m for m in %r if m in sys.modules]
    """ % (names,)
    code, result, _ = run_block(tmp_path, source, {"nested": [1, {"x": None}]})
    assert code == 0
    assert result == bare.stdout.decode().split()
    assert "json" not in result


def test_a_malformed_answer_in_a_fresh_runner_is_a_json_decode_error(tmp_path) -> None:
    # ``json`` is first imported while the error is raised: the SDK still names it.
    sock = str(tmp_path / "c.sock")
    source = """
        import socket, struct, sys, threading

        def serve(server):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(struct.pack(">I", 3) + b"{x}")
            conn.close()

        def run(data, context):
            server = socket.socket(socket.AF_UNIX)
            server.bind(data["sock"])
            server.listen(1)
            threading.Thread(target=serve, args=(server,), daemon=True).start()
            before = "json" in sys.modules
            answer = context["capability"].call("store.get", {"key": "k"}, socket_path=data["sock"])
            return [before, answer["error_type"], answer["success"]]
    """
    code, result, _ = run_block(tmp_path, source, {"sock": sock})
    assert (code, result) == (0, [False, "json_decode_error", False])


def test_a_failing_block_ends_at_once_whatever_it_left_running(tmp_path) -> None:
    # The exception's traceback and exit status 1, as the interpreter gives them, but without
    # waiting for the thread the block left (its sandbox would otherwise run to its timeout).
    source = """
        import threading, time

        def run(data):
            threading.Thread(target=time.sleep, args=(30,)).start()
            raise ValueError("bad input")
    """
    import time

    t = time.monotonic()
    code, result, stderr = run_block(tmp_path, source)
    assert (code, result) == (1, None)
    assert "Traceback (most recent call last)" in stderr and "ValueError: bad input" in stderr
    assert time.monotonic() - t < 20, "the runner waited for the thread"
    # sys.exit keeps its meaning.
    for call, expect in [("sys.exit()", 0), ("sys.exit(7)", 7), ("sys.exit('why')", 1)]:
        source = "import sys, threading, time\n\ndef run():\n    threading.Thread(target=time.sleep, args=(30,)).start()\n    %s\n" % call
        code, result, stderr = run_block(tmp_path, source, name="exit.py")
        assert (code, result) == (expect, None), (call, stderr)
    assert "why" in stderr
