"""Scenario 8, shutdown: a normal end, SIGINT and SIGTERM (during start-up and mid-run) and a
failing stage each make `orch run` exit within 30 s with the exit code docs/run.md documents
(0, 130, 130, 3), leave no process of the run behind (the driver's whole tree, snapshotted
before the signal) and leave a state (`orch status --format json`) that says what happened."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from orchestrator.backends.reaper import _start_time, descendants

from .conftest import WF, count_events, journal, run_processes, start_run, wait_for

pytestmark = pytest.mark.timeout(300)

CASES = {
    # name: (workflow, args, signal, when, exit code, status state)
    "normal end": ("chaos.yaml", ["--set", "n=20"], None, None, 0, "succeeded"),
    "SIGINT mid-run": ("chaos.yaml", ["--set", "n=60", "--set", "seconds=0.2"],
                       signal.SIGINT, "mid", 130, "interrupted"),
    "SIGTERM mid-run": ("chaos.yaml", ["--set", "n=60", "--set", "seconds=0.2"],
                        signal.SIGTERM, "mid", 130, "interrupted"),
    "SIGINT during start-up": ("chaos.yaml", ["--set", "n=20"], signal.SIGINT, "start", 130,
                               "interrupted"),
    "SIGTERM during start-up": ("chaos.yaml", ["--set", "n=20"], signal.SIGTERM, "start", 130,
                                "interrupted"),
    "failing stage": ("failing.yaml", [], None, None, 3, "failed"),
}


def _left(snapshot, run_dir) -> list[str]:
    return [f"{p} (tree)" for p, s in snapshot if _start_time(p) == s] + run_processes(
        str(run_dir))


@pytest.mark.parametrize("case", list(CASES))
def test_shutdown(tmp_path, figure, case):
    wf, args, sig, when, code, state = CASES[case]
    run_dir = tmp_path / "run"
    proc = start_run(WF / wf, *args, "--run-dir", run_dir)
    snapshot: set = set()
    seen = 0
    try:
        if when == "start":
            wait_for(lambda: (run_dir / "journal.jsonl").exists() or proc.poll() is not None,
                     60, "the journal")
        else:  # mid-run (and, for a normal end or a failure, once tasks run)
            wait_for(lambda: count_events(run_dir, "task_done") >= (5 if when else 1)
                     or proc.poll() is not None, 120, "tasks done")
        t_signal = time.monotonic()
        snapshot = descendants(proc.pid)
        seen = len(snapshot | {tuple(p.split(":", 1)) for p in run_processes(str(run_dir))})
        if sig is not None:
            assert proc.poll() is None, "the run ended before the signal"
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        t_exit = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig is None:  # from the last task event to the exit
        last = max(e["ts"] for e in journal(run_dir) if e["ev"].startswith("task_"))
        exit_s = time.time() - (time.monotonic() - t_exit) - last
    else:
        exit_s = t_exit - t_signal
    assert proc.returncode == code, (proc.returncode, err[-3000:])
    assert exit_s < 30, f"took {exit_s:.1f}s to exit"
    deadline = time.monotonic() + 5
    left = _left(snapshot, run_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _left(snapshot, run_dir)
    assert not left, f"processes left: {left}"
    st = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir),
                         "--format", "json"], capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    doc = json.loads(st.stdout)
    assert doc["state"] == state, doc["state"]
    finished = [e for e in journal(run_dir) if e["ev"] == "run_finished"]
    assert finished and finished[-1]["state"] == state
    if sig is not None:
        assert finished[-1]["signal"] == signal.Signals(sig).name
        assert f"--resume {run_dir}" in err
    if state == "failed":
        assert doc["counts"]["failed"] == 1 and doc["counts"]["dep_failed"] == 1
        assert doc["counts"]["done"] == 8
        failed = [t for t in doc["tasks"] if t["state"] == "failed"]
        assert failed[0]["id"] == "boom" and "fails on purpose" in failed[0]["error"]
    if state == "succeeded":
        assert doc["counts"]["done"] == 22
    figure(f"{case}: exit {proc.returncode} in {exit_s:.1f}s "
           f"({'after the signal' if sig else 'after the last task'}), "
           f"{seen} processes of the run all gone, status {doc['state']!r} "
           f"{ {k: v for k, v in doc['counts'].items() if v} }",
           exit_code=proc.returncode, exit_s=round(exit_s, 2), processes=seen,
           state=doc["state"])
