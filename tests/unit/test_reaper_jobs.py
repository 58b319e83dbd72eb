"""The reaper cancels a run's batch jobs through each scheduler's own commands, with
stand-in executables first on PATH (no scheduler is asked)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import write

from orchestrator.backends import reaper


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """squeue listing jobs 11 and 12, qstat knowing 21 only, scancel/qdel logging."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    write(bin_dir / "squeue", f'#!/bin/sh\necho "squeue $*" >> {log}\nprintf "11\\n12\\n"\n')
    qstat = json.dumps({"Jobs": {"21.pbs": {"job_state": "Q"}}})
    write(bin_dir / "qstat", f"#!/bin/sh\necho \"qstat $*\" >> {log}\necho '{qstat}'\n")
    for cmd in ("scancel", "qdel"):
        write(bin_dir / cmd, f'#!/bin/sh\necho "{cmd} $*" >> {log}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_every_schedulers_recorded_jobs_are_cancelled(tmp_path, fake_bin):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    reaper.record_jobs(run_dir, ["11", "12", "13"])  # Slurm, the default
    reaper.record_jobs(run_dir, ["21.pbs", "22.pbs"], "pbspro")
    assert json.loads((run_dir / "slurm-jobs.json").read_text()) == ["11", "12", "13"]
    assert reaper.recorded_jobs(run_dir, "pbspro") == ["21.pbs", "22.pbs"]
    assert reaper.cancel_jobs(run_dir) == 3  # 11, 12 (13 left squeue) and 21.pbs
    calls = fake_bin.read_text().splitlines()
    assert "squeue -h -o %i -j 11,12,13" in calls and "scancel 11 12" in calls
    assert "qstat -f -F json 21.pbs 22.pbs" in calls and "qdel 21.pbs" in calls


def test_no_jobs_file_asks_no_scheduler(tmp_path, fake_bin):
    assert reaper.cancel_jobs(tmp_path) == 0
    assert not fake_bin.exists()


def test_ids_of_another_shape_are_not_recorded_jobs(tmp_path):
    (tmp_path / "slurm-jobs.json").write_text('["11", "x; rm -rf /", "21.pbs"]')
    assert reaper.recorded_jobs(tmp_path) == ["11"]
