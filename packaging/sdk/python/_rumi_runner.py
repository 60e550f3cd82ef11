"""Runs one pack block: `python3 -B _rumi_runner.py` (inside the sandbox container, or on the
host in permissive mode). Not for pack authors to import.

Reads {"file", "input", "context"} from the JSON file named by RUMI_RUNNER_INPUT, loads the
block file, calls run() with 0, 1 or 2 parameters, and writes json.dumps(result) to stdout.
Anything the block prints goes to stderr, so it cannot forge the result.
"""

import importlib.util
import inspect
import json
import os
import sys


def main():
    with open(os.environ.get("RUMI_RUNNER_INPUT", "/rumi/input.json"), encoding="utf-8") as f:
        req = json.load(f)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    path = req["file"]
    if os.path.basename(path) == "__rumi_probe__":
        # Operator's sandbox check: Python started with the SDK and the mounts in place.
        real_stdout.write(json.dumps({"probe": "ok", "python": sys.version.split()[0]}))
        return
    sys.path.insert(0, os.path.dirname(path))
    import rumi_capability
    import rumi_syscall

    context = dict(req.get("context") or {})
    context["http_request"] = rumi_syscall.http_request
    context["network_check"] = lambda domain, port: {
        "allowed": True,
        "reason": "enforced by the egress helper on each request",
    }
    context["capability_socket"] = os.environ.get("RUMI_CAPABILITY_SOCKET")
    context["capability"] = rumi_capability
    spec = importlib.util.spec_from_file_location("rumi_block", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = getattr(module, "run", None)
    if run is None or not callable(run):
        sys.stderr.write("No run function found in %s\n" % os.path.basename(path))
        sys.exit(3)
    n = len(inspect.signature(run).parameters)
    data = req.get("input")
    if n >= 2:
        result = run(data, context)
    elif n == 1:
        result = run(data)
    else:
        result = run()
    real_stdout.write(json.dumps(result, default=str))
    real_stdout.flush()


if __name__ == "__main__":
    main()
