"""A Slurm block that cannot start yet is shown as pending, with squeue's reason, in the
driver's progress lines and in `orch status` of the live run (local Slurm cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from .conftest import REPO

pytestmark = pytest.mark.timeout(300)


@pytest.mark.slurm
def test_pending_block_and_its_reason(tmp_path, wf):
    site = yaml.safe_load((REPO / "site-configs/local-slurm.yaml").read_text())
    site["environments"] = {}
    site["pools"]["cpu"]["scheduler_options"] = ["#SBATCH --begin=now+10"]
    site_file = tmp_path / "late-slurm.yaml"
    site_file.write_text(yaml.safe_dump(site))
    run_dir = tmp_path / "run"
    driver = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(wf / "eta.yaml"), "--site",
         str(site_file), "--set", "n=2", "--set", "short=0.2", "--set", "long=0.2",
         "--run-dir", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ORCH_PROGRESS_EVERY": "0.5"})
    seen = None
    try:
        deadline = time.time() + 120
        while driver.poll() is None and time.time() < deadline and seen is None:
            st = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir),
                                 "--format", "json"], capture_output=True, text=True, timeout=60)
            if st.returncode == 0:
                doc = json.loads(st.stdout)
                notes = (doc.get("progress") or {}).get("notes") or []
                seen = next((n for n in notes if "pending (BeginTime)" in n), None)
                if seen:
                    assert doc["counts"]["running"] == 0 and doc["counts"]["done"] == 0
            time.sleep(0.5)
        out, err = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err
    assert seen and seen.startswith("Slurm job ") and "(cpu)" in seen, seen
    job = seen.split()[2]
    assert job in json.loads((run_dir / "slurm-jobs.json").read_text())
    assert f"Slurm job {job} (cpu): pending (BeginTime)" in out
