"""`orch run` on a pool with `executor: threads`: tasks run in the orch process itself, still
each in its own directory with its output captured, recorded for resume."""

from __future__ import annotations

import json

import pytest

from .conftest import journal, orch, results

pytestmark = pytest.mark.timeout(120)

SITE = """\
apiVersion: orchestrator/v1
kind: site
name: threads
scheduler: local
pools:
  cpu:
    device: cpu
    cores_per_node: 2
    executor: threads
"""

SPEC = """\
apiVersion: orchestrator/v1
name: threads
stages:
  py:
    python: steps:where
    args: {i: "${sweep.i}"}
    outputs: ["mark.txt"]
    sweep: {values: {i: [0, 1, 2, 3]}}
  sh:
    shell: "echo shell-${sweep.i}; pwd > here.txt"
    sweep: {values: {i: [0, 1]}}
  envy:
    python: steps:envy
    env: {ORCH_X: "${sweep.i}"}
    sweep: {values: {i: [5, 6]}}
  gather:
    python: steps:gather
    needs: [py, sh, envy]
"""

STEPS = """\
import os, sys


def where(i, context):
    print(f"out-{i}")
    print(f"err-{i}", file=sys.stderr)
    open("mark.txt", "w").write(str(i))
    return {"i": i, "cwd": os.getcwd(), "task_dir": context["task_dir"]}


def envy():
    return {"x": os.environ["ORCH_X"], "cwd": os.getcwd()}


def gather(results):
    return {"n": sum(len(v) for v in results.values()), "x": os.environ.get("ORCH_X")}
"""


def test_threads_pool_runs_tasks_in_their_directories_and_resumes(tmp_path):
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    run_dir = tmp_path / "run"
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", str(tmp_path / "site.yaml"),
             "--run-dir", str(run_dir), "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"] == {"done": 9}
    res = results(run_dir)
    assert res["gather"] == {"n": 8, "x": None}  # a stage's env stays with the stage
    for i, x in enumerate(("5", "6")):
        assert res[f"envy[{i}]"] == {"x": x, "cwd": str(run_dir / "tasks" / f"envy[{i}]")}
    for i in range(4):
        task_dir = run_dir / "tasks" / f"py[{i}]"
        assert res[f"py[{i}]"]["cwd"] == res[f"py[{i}]"]["task_dir"] == str(task_dir)
        assert (task_dir / "mark.txt").read_text() == str(i)
        assert (task_dir / "stdout").read_text().splitlines()[1:] == [f"out-{i}"]
        assert (task_dir / "stderr").read_text().splitlines()[1:] == [f"err-{i}"]
    for i in range(2):
        task_dir = run_dir / "tasks" / f"sh[{i}]"
        assert (task_dir / "here.txt").read_text().strip() == str(task_dir)
        assert (task_dir / "stdout").read_text().splitlines()[1:] == [f"shell-{i}"]
    assert "out-0" not in p.stdout
    log = _parsl_log(run_dir)  # Parsl's start-up, not its per-task records (log_level.py)
    assert "DataFlowKernel" in log and "changing state" not in log
    p2 = orch("run", "--resume", str(run_dir), "--format", "json")
    assert p2.returncode == 0, p2.stderr
    assert json.loads(p2.stdout)["counts"] == {"cached": 9}
    assert [e["ev"] for e in journal(run_dir)].count("task_done") == 9


def _parsl_log(run_dir) -> str:
    return "".join(f.read_text() for f in sorted((run_dir / "parsl").glob("*/parsl.log")))


@pytest.mark.parametrize("how", ["option", "env"])
def test_parsl_log_level_brings_back_parsl_per_task_records(tmp_path, monkeypatch, how):
    """`--parsl-log debug` (or ORCH_PARSL_LOG=debug): Parsl's whole record, task by task."""
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    run_dir = tmp_path / "run"
    extra = ["--parsl-log", "debug"] if how == "option" else []
    if how == "env":
        monkeypatch.setenv("ORCH_PARSL_LOG", "DEBUG")
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", str(tmp_path / "site.yaml"),
             "--run-dir", str(run_dir), "-q", *extra)
    assert p.returncode == 0, p.stderr
    log = _parsl_log(run_dir)
    assert log.count("changing state from launched to exec_done") == 9
