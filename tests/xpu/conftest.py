"""XPU tests: kernels and device discovery on the real SYCL `opencl:cpu` device.

The oneAPI runtime from pip wheels needs LD_LIBRARY_PATH set before the process starts
(orchestrator.library.sycl_env), and the pytest process may not have it. So the SYCL
work runs in one child interpreter per session, started with that environment
(`_child.py`, JSON lines over pipes): its JIT-compiled kernels are reused by every test,
and the pytest process never loads the runtime. Tests call `sycl(CHECK, **kwargs)`, which
runs `checks.CHECK` in the child and returns its JSON result.

Tests marked `xpu` are skipped when the runtime, numba-dpex or the opencl:cpu device is
missing (the reason says which command installs it), and fail instead when CI=true.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from needs import in_ci, require  # noqa: F401 (re-exported for the tests here)

from orchestrator.library import sycl_env

CHILD = Path(__file__).with_name("_child.py")
START_TIMEOUT = 120.0
CALL_TIMEOUT = 300.0




class SyclChild:
    """The child interpreter that runs checks with the oneAPI environment."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.update(sycl_env.sycl_env())
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.log = Path(tempfile.mkstemp(prefix="orch-xpu-child-", suffix=".log")[1])
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log.open("w"), text=True, env=env, cwd=str(CHILD.parent))
        hello = self._read(START_TIMEOUT)
        self.problem: str | None = (hello["problem"] if hello is not None
                                    else f"the SYCL test child did not start: {self._tail()}")

    def _read(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] or "(no output)"

    def __call__(self, check: str, **kwargs):
        if self.proc.poll() is not None:
            pytest.fail(f"the SYCL test child exited ({self.proc.returncode}): {self._tail()}",
                        pytrace=False)
        self.proc.stdin.write(json.dumps({"check": check, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        reply = self._read(CALL_TIMEOUT)
        if reply is None:
            pytest.fail(f"no answer from the SYCL test child for {check}: {self._tail()}",
                        pytrace=False)
        if not reply["ok"]:
            pytest.fail(f"{check}({kwargs}) raised in the SYCL child:\n{reply['error']}",
                        pytrace=False)
        return reply["value"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


_child: SyclChild | None = None


def _get_child() -> SyclChild:
    global _child
    if _child is None:
        _child = SyclChild()
    return _child


def pytest_runtest_setup(item):
    if item.get_closest_marker("xpu") is not None:
        require(_get_child().problem)


def pytest_sessionfinish(session, exitstatus):
    if _child is not None:
        _child.close()


@pytest.fixture
def sycl() -> SyclChild:
    """Run a check of checks.py in the SYCL child: `sycl("jacobi", dtype=..., ...)`."""
    return _get_child()
