"""`orch submit` on the local Slurm cluster: the driver runs as a batch job and the tasks run
inside that job's allocation (job steps of it, not jobs of their own), with the device masks
the plan shows; `orch status` and `orch report` follow it from outside. The chain that
resumes a run cut by its time limit is tests/reliability/test_submit_chain.py (slow)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import REPO, journal, orch

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(400)]

PROBE = '''\
import os
import socket


def probe(i):
    """What a task sees of where it runs."""
    keys = ("SLURM_JOB_ID", "SLURM_STEP_ID", "CUDA_VISIBLE_DEVICES")
    return {"i": i, "host": socket.gethostname(), **{k: os.environ.get(k) for k in keys}}
'''

WORKFLOW = '''\
apiVersion: orchestrator/v1
name: where
stages:
  probe:
    python: probe:probe
    sweep:
      values:
        i: {start: 0, stop: 4, step: 1}
    args: {i: "${sweep.i}"}
    resources: {device: gpu, cores: 1}
'''


def write_workflow(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(PROBE)
    wf = tmp_path / "where.yaml"
    wf.write_text(WORKFLOW)
    return wf


def squeue(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def wait_ended(run_dir: Path, job: str, timeout: float) -> tuple[str, list[dict]]:
    """Poll `orch status` from outside (as a user on the login node would) until the run
    has ended; return its final state and the status documents seen while it ran."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = orch("status", str(run_dir), "--format", "json", timeout=60)
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        seen.append(doc)
        if doc["state"] in ("succeeded", "failed", "crashed") and \
                squeue(job) not in ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING"):
            return doc["state"], seen
        time.sleep(1)
    subprocess.run(["scancel", job], timeout=30)
    raise AssertionError(f"the run did not end in {timeout:.0f}s; last status {seen[-1:]}")


def test_submit_runs_the_workflow_inside_the_drivers_allocation(tmp_path):
    wf = write_workflow(tmp_path)
    run_dir = tmp_path / "run"
    res = orch("submit", str(wf), "--site", "local-slurm", "--run-dir", str(run_dir),
               "--time", "00:10:00", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    job = doc["jobs"][0]["job"]
    assert doc["run_dir"] == str(run_dir) and job.isdigit()
    assert json.loads((run_dir / "submit.json").read_text())["links"][0]["job"] == job

    state, seen = wait_ended(run_dir, job, timeout=300)
    log = "\n".join(p.read_text() for p in (run_dir / "submit").glob("driver-*.out"))
    assert state == "succeeded", log
    # orch status, from outside, showed the driver job while it was there
    assert any(x["state"].startswith(("running", "pending", "configuring"))
               for d in seen for x in (d.get("submit") or [])), seen[:3]

    events = journal(run_dir)
    started = [e for e in events if e["ev"] == "run_started"]
    assert [(e["link"], e["job"]) for e in started] == [(1, job)]
    plan = json.loads((run_dir / "plan.json").read_text())
    masks = {t["id"]: t["device_mask"] for t in plan["tasks"]}
    done = {e["task"]: e["result"] for e in events if e["ev"] == "task_done"}
    assert sorted(done) == sorted(masks)
    for task, result in done.items():
        # each task ran in a job step of the driver's own job, not in a job of its own
        assert result["SLURM_JOB_ID"] == job, (task, result)
        assert result["SLURM_STEP_ID"] not in (None, "batch"), (task, result)
        assert result["CUDA_VISIBLE_DEVICES"] == masks[task]["CUDA_VISIBLE_DEVICES"], task
    # no block job of its own was ever submitted
    assert not (run_dir / "slurm-jobs.json").exists()
    assert squeue(job) in ("", "COMPLETED")

    res = orch("status", str(run_dir))
    assert res.returncode == 0 and f"driver job {job} (link 1 of 1):" in res.stdout
    res = orch("report", str(run_dir), "-o", str(tmp_path / "report.html"))
    assert res.returncode == 0, res.stderr
    assert f"{job} (link 1 of 1)" in (tmp_path / "report.html").read_text()
    assert REPO.is_dir()
