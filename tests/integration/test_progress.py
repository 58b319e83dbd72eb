"""Progress that tells the truth, measured on a real run (laptop site, 2 worker slots):
a task waiting for its upstream is never `running`, a ready task without a free slot is
`queued`, running tasks have a worker pid, and the ETA at the half-way point of a run
whose last stage is the slow one is within 30% of the time really left (durations from
one earlier run in the same run root)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from .conftest import orch

pytestmark = pytest.mark.timeout(300)

SETS = ["--set", "n=8", "--set", "short=1.0", "--set", "long=8.0"]


def _status(run_dir) -> dict | None:
    out = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir),
                          "--format", "json"], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


def test_states_and_eta_of_a_live_run(tmp_path, wf):
    root = tmp_path / "runs"
    first = orch("run", str(wf / "eta.yaml"), *SETS, "--run-dir", str(root / "first"), "-q")
    assert first.returncode == 0, first.stderr
    run_dir = root / "second"
    driver = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(wf / "eta.yaml"), *SETS,
         "--run-dir", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ORCH_PROGRESS_EVERY": "0.5"})
    samples = []
    try:
        while driver.poll() is None:
            doc = _status(run_dir)
            if doc and doc["state"] == "running" and doc["progress"]:
                samples.append(doc)
            time.sleep(0.2)
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err
    final = _status(run_dir)
    assert len(samples) >= 5, samples

    saw_queued = False
    for doc in samples:
        by_state = {}
        for t in doc["tasks"]:
            by_state.setdefault(t["state"], []).append(t)
        work_left = [t for t in doc["tasks"] if t["stage"] == "work"
                     and t["state"] not in ("done", "cached")]
        slow = [t for t in doc["tasks"] if t["stage"] == "slow"]
        if work_left:  # the slow stage waits for every work task: never running or queued
            assert all(t["state"] in ("waiting", "pending") for t in slow), doc["tasks"]
        running = by_state.get("running", [])
        assert len(running) <= 2, running  # two worker slots on the laptop site
        for t in running:
            assert isinstance(t["pid"], int) and t["pid"] != driver.pid and t["host"]
        if len(running) == 2 and by_state.get("queued"):
            saw_queued = True
            assert all(t["stage"] == "work" for t in by_state["queued"])
        assert "submitted" not in by_state
    assert saw_queued, "no sample had work tasks queued behind two running ones"

    total = final["duration"]
    half = min(samples, key=lambda d: abs(d["duration"] - total / 2))
    eta, really_left = half["progress"]["eta"], total - half["duration"]
    print(f"half-way at {half['duration']:.1f}s of {total:.1f}s: ETA {eta:.1f}s, "
          f"really left {really_left:.1f}s")
    assert abs(eta - really_left) <= 0.3 * really_left
    slow = next(s for s in half["progress"]["stages"] if s["name"] == "slow")
    assert slow["eta_from"] == "earlier runs"

    # the driver's own lines: the slow stage is never shown running before work ended
    blocks = out.split("\n[")
    for block in blocks:
        head = re.match(r"[^\]]*\] (\d+)/(\d+) done", block)
        slow_line = next((ln for ln in block.splitlines() if ln.strip().startswith("slow")), "")
        if head and int(head.group(1)) < 8:
            assert "running" not in slow_line, block
    assert any("queued" in b for b in blocks) and any("waiting" in b for b in blocks)


def test_status_watch_follows_a_run_started_elsewhere(tmp_path, wf):
    run_dir = tmp_path / "run"
    driver = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(wf / "eta.yaml"), "--set", "n=4",
         "--set", "short=1.0", "--set", "long=2.0", "--run-dir", str(run_dir), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (run_dir / "journal.jsonl").exists() and time.time() < deadline:
            time.sleep(0.1)
        watch = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir),
                                "--watch", "0.5"], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "COLUMNS": "200"})
        driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0 and watch.returncode == 0, watch.stderr
    heads = re.findall(r"^\[(\d+):(\d+)\] (\d+)/5 done, (\d+) running", watch.stdout, re.M)
    assert len(heads) >= 3, watch.stdout  # refreshed while the run ran
    assert any(int(h[3]) > 0 for h in heads)
    assert "succeeded" in watch.stdout.splitlines()[0] or "succeeded" in watch.stdout
    assert watch.stdout.rstrip().splitlines()[-1].strip()  # ended with the final status
