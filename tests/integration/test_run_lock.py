"""One driver per run directory, for real: a second `orch run --resume` on a live run is
refused at once and touches nothing (it used to reap the first driver's workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from .conftest import journal, orch, results, wait_no_processes

pytestmark = pytest.mark.timeout(300)


def _wait_for_event(run_dir, ev, proc, timeout=60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "journal.jsonl").exists() and any(e["ev"] == ev for e in journal(run_dir)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no {ev} journaled in {timeout}s")


def test_a_second_driver_is_refused_and_the_first_finishes_untouched(tmp_path, wf):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(wf / "slow.yaml"), "--set", "n=6",
         "--set", "seconds=2", "--run-dir", str(run_dir), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_event(run_dir, "run_started", first)
        t0 = time.monotonic()
        second = orch("run", "--resume", str(run_dir), "-q", timeout=60)
        refusal = time.monotonic() - t0
        print(f"second driver refused in {refusal:.2f}s")
        assert second.returncode == 1, second.stderr
        assert refusal < 5.0, refusal
        assert f"pid {first.pid} on host" in second.stderr
        assert f"kill {first.pid}" in second.stderr and "--resume" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None, "the first run should still be running"
        status = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir)],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": "200"})
        assert f"running (driver pid {first.pid} on host" in status.stdout, status.stdout
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    events = journal(run_dir)
    assert [e["ev"] for e in events].count("run_started") == 1  # the second never started
    assert events[-1]["ev"] == "run_finished" and events[-1]["state"] == "succeeded"
    submitted = Counter(e["task"] for e in events if e["ev"] == "task_submitted")
    done = [e for e in events if e["ev"] == "task_done"]
    assert sorted(submitted) == sorted(e["task"] for e in done) and len(done) == 7
    assert set(submitted.values()) == {1}, submitted
    assert all(e.get("attempts") == 1 for e in done), "a worker was lost (reaped?)"
    assert results(run_dir)["total"]["n"] == 6
    assert len((run_dir / "run.json").read_text().split('"argv"')) == 2  # one attempt recorded
    assert not wait_no_processes(str(run_dir))
