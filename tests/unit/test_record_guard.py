"""record_guard: a SIGTERM that arrives while a finished task's record is written waits for
the record (then the process ends as SIGTERM ends it); outside the record it ends the
process at once; and the watchdog's stop_tree gives a worker that moment before SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from orchestrator.backends.reaper import _start_time, stop_tree

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc: Linux")

CHILD = """
import sys, time
from pathlib import Path
from orchestrator.backends import record_guard
out = Path(sys.argv[1])
with record_guard.guarded():
    pass                                  # a first task recorded: the handler is in place
if sys.argv[2] == "inside":
    with record_guard.guarded():
        print("ready", flush=True)
        time.sleep(1.0)                   # a slow record write
        out.write_text("record")
else:
    print("ready", flush=True)
    time.sleep(1.0)                       # the next task's function, still running
    out.write_text("record")
time.sleep(5)
"""


def _child(tmp_path, where: str) -> tuple[subprocess.Popen, object]:
    out = tmp_path / "record.txt"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), where],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc, out


def test_sigterm_inside_the_record_waits_for_it(tmp_path):
    proc, out = _child(tmp_path, "inside")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert out.read_text() == "record"


def test_sigterm_outside_the_record_ends_the_process_at_once(tmp_path):
    proc, out = _child(tmp_path, "outside")
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert time.monotonic() - t < 0.9 and not out.exists()


def test_stop_tree_lets_the_record_be_written_then_kills_what_lingers(tmp_path):
    proc, out = _child(tmp_path, "inside")
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline().strip() == "ready"
    t = time.monotonic()
    stop_tree({(proc.pid, _start_time(proc.pid)), (stubborn.pid, _start_time(stubborn.pid))},
              grace=3.0)
    assert proc.wait(timeout=10) == -signal.SIGTERM and out.read_text() == "record"
    assert stubborn.wait(timeout=10) == -signal.SIGKILL
    assert time.monotonic() - t < 6
