"""`orch plan` after one real run: the expected cost comes from that run's task durations
(a threads pool, so the run is cheap), next to the walltime bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, journal

pytestmark = pytest.mark.timeout(180)

SITE = """\
apiVersion: orchestrator/v1
kind: site
name: threads
scheduler: local
pools:
  cpu:
    device: cpu
    cores_per_node: 4
    executor: threads
"""

SPEC = """\
apiVersion: orchestrator/v1
name: costed
stages:
  nap:
    shell: "sleep 0.${sweep.i}"
    sweep: {values: {i: [2, 4]}}
    resources: {cores: 2, walltime: 10m}
  tail:
    shell: "echo done"
    needs: [nap]
    resources: {cores: 1, walltime: 5m}
"""


def orch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`orch` in `cwd` (where `runs/` is), importing this checkout's orchestrator."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)


def test_plan_expects_the_cost_of_the_earlier_run(tmp_path):
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "wf.yaml").write_text(SPEC)
    args = (str(tmp_path / "wf.yaml"), "--site", str(tmp_path / "site.yaml"))
    before = orch("plan", *args, cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "expected: no earlier runs of costed under runs/" in before.stdout

    p = orch("run", *args, "-q", cwd=tmp_path)  # into runs/, where `orch plan` looks
    assert p.returncode == 0, p.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    took: dict[str, list[float]] = {}
    for e in journal(run_dir):
        if e["ev"] == "task_done":
            took.setdefault(e["stage"], []).append(e["ended"] - e["started"])
    assert sorted(map(len, took.values())) == [1, 2]

    text = orch("plan", *args, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert "(from 1 earlier run)" in flat and "(walltime)" in flat
    doc = json.loads(orch("plan", *args, "--format", "json", cwd=tmp_path).stdout)
    total = 0.0
    for s in doc["stages"]:
        mean = sum(took[s["name"]]) / len(took[s["name"]])
        seconds = 600 if s["name"] == "nap" else 300
        assert s["expected_seconds"] == pytest.approx(mean, abs=1e-3)
        assert s["expected_from_runs"] == 1
        assert s["expected_from_tasks"] == len(took[s["name"]])
        # the same share of a node as the bound, for the measured time instead of walltime
        want = s["node_hours"] * mean / seconds
        assert s["expected_node_hours"] == pytest.approx(want, abs=2e-6)
        total += want
    assert doc["summary"]["expected_from_runs"] == 1
    assert doc["summary"]["expected_node_hours"] == pytest.approx(total, abs=5e-6)
    assert doc["summary"]["expected_unmeasured"] == []
    # nap: 2 tasks x half a node x 10 min
    assert doc["summary"]["node_hours"] == pytest.approx(2 * 0.5 / 6 + 0.25 / 12, abs=1e-6)
