"""The SYCL test child: started by conftest.py with the oneAPI environment of
orchestrator.library.sycl_env (LD_LIBRARY_PATH must be set before a process starts).

Protocol, one JSON object per line: it first writes `{"problem": null | "why"}` (dpctl and
numba-dpex import and list an opencl:cpu device, or not), then answers each request
`{"check": NAME, "kwargs": {...}}` from stdin with `{"ok": true, "value": ...}` or
`{"ok": false, "error": traceback}`, running `checks.NAME(**kwargs)`. Anything else the
child prints goes to stderr, so it cannot corrupt the protocol.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def _problem() -> str | None:
    try:
        import dpctl
        import numba_dpex  # noqa: F401
    except Exception as exc:
        from orchestrator.library.devices import sycl_reason

        return sycl_reason(import_error=str(exc) or type(exc).__name__)
    devices = [d.filter_string for d in dpctl.get_devices()]
    if not any(d.startswith("opencl:cpu") for d in devices):
        from orchestrator.library.devices import sycl_reason

        return (f"no opencl:cpu SYCL device (dpctl lists: {', '.join(devices) or 'none'}; "
                f"{sycl_reason(n_devices=len(devices)) or 'the CPU runtime is missing'})")
    return None


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints go to stderr
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import checks

    problem = _problem()
    proto.write(json.dumps({"problem": problem}) + "\n")
    if problem:
        return 0
    for line in sys.stdin:
        request = json.loads(line)
        try:
            value = getattr(checks, request["check"])(**request.get("kwargs", {}))
            reply = {"ok": True, "value": value}
        except Exception:
            reply = {"ok": False, "error": traceback.format_exc()}
        proto.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
