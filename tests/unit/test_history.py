"""Earlier runs' task durations (state/history.py) and the expected cost they give
`orch plan` and `orch report`. Run directories are written by hand with the real
`Journal`, in the shapes `orch run` writes; nothing here runs a workflow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FIXTURES, orch

from orchestrator.plan.build import build_plan
from orchestrator.plan.cost import expect
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec
from orchestrator.state.history import StageHistory, earlier_runs, stage_history
from orchestrator.state.journal import Journal

T0 = 1_700_000_000.0
FAN_IN = FIXTURES / "workflows" / "fan-in.yaml"


def fake_run(path: Path, workflow: str, tasks: dict[str, float], cached: tuple[str, ...] = (),
             mtime: float | None = None) -> Path:
    """A finished run: one `task_done` per task id (its run time in seconds)."""
    path.mkdir(parents=True)
    (path / "plan.json").write_text(json.dumps({"format": 1, "workflow": workflow}))
    with Journal(path / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow=workflow, site="laptop", attempt=1, pid=1)
        for tid, seconds in tasks.items():
            stage = tid.split("[")[0].split("@")[0]
            j.append("task_submitted", task=tid, stage=stage)
            j.append("task_done", task=tid, stage=stage, started=T0, ended=T0 + seconds)
        for tid in cached:  # ran in some other run: no time of its own here
            j.append("task_cached", task=tid, stage=tid.split("[")[0], started=T0 - 100,
                     ended=T0)
        j.append("run_finished", state="succeeded", seconds=1.0)
    (path / "run.json").write_text(json.dumps({"workflow": f"{workflow}.yaml"}))
    if mtime is not None:
        os.utime(path / "run.json", (mtime, mtime))
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    """Two runs of fan-in (the older one measured `work` only), one of another workflow,
    one corrupt."""
    r = tmp_path / "runs"
    fake_run(r / "fan-in-1", "fan-in", {"work[0]": 10.0, "work[1]": 20.0}, mtime=T0)
    fake_run(r / "fan-in-2", "fan-in", {"work[0]": 30.0, "prepare": 2.0, "train": 60.0,
                                        "report": 1.0}, cached=("work[1]",), mtime=T0 + 10)
    fake_run(r / "other-1", "other", {"work[0]": 1000.0}, mtime=T0 + 20)
    bad = r / "fan-in-3"
    bad.mkdir()
    (bad / "run.json").write_text("{}")
    (bad / "plan.json").write_text("{not json")
    (r / "stray.txt").write_text("not a run")
    return r


def test_earlier_runs_same_workflow_newest_first(root):
    assert earlier_runs(root, "fan-in") == [root / "fan-in-2", root / "fan-in-1"]
    assert earlier_runs(root, "fan-in", limit=1) == [root / "fan-in-2"]
    assert earlier_runs(root, "fan-in", exclude=root / "fan-in-2") == [root / "fan-in-1"]
    assert earlier_runs(root, "other") == [root / "other-1"]
    assert earlier_runs(root / "missing", "fan-in") == []


def test_stage_history_means_over_done_tasks(root):
    h = stage_history(earlier_runs(root, "fan-in"))
    # work: 10 and 20 s in run 1, 30 s in run 2 (its cached work[1] is not counted again)
    assert h["work"] == StageHistory("work", 20.0, 3, 2)
    assert h["train"] == StageHistory("train", 60.0, 1, 1)
    assert set(h) == {"work", "prepare", "train", "report"}


def test_unreadable_runs_are_skipped(root, tmp_path):
    (root / "fan-in-1" / "journal.jsonl").write_bytes(b"\x00garbage\n{torn")
    h = stage_history([root / "fan-in-1", root / "fan-in-2", tmp_path / "gone"])
    assert h["work"] == StageHistory("work", 30.0, 1, 1)


def test_a_task_done_twice_counts_once(tmp_path):
    run = fake_run(tmp_path / "r", "wf", {"a[0]": 4.0})
    with Journal(run / "journal.jsonl", fsync=False) as j:  # a resume ran it again
        j.append("task_done", task="a[0]", stage="a", started=T0, ended=T0 + 8.0)
    assert stage_history([run])["a"] == StageHistory("a", 8.0, 1, 1)


def test_expected_cost_scales_the_walltime_bound(root):
    plan = build_plan(load_spec(str(FAN_IN)), load_site("laptop"))
    e = expect(plan, stage_history(earlier_runs(root, "fan-in")), 2, str(root))
    work = plan.stages["work"]
    assert work.cost.task_seconds == 300  # walltime 5m
    assert e.stages["work"].cost.node_hours == pytest.approx(work.cost.node_hours * 20 / 300)
    assert e.stages["work"].runs == 2 and e.runs == 2
    assert e.total("node_hours") == pytest.approx(sum(
        s.cost.node_hours * e.stages[n].seconds / s.cost.task_seconds
        for n, s in plan.stages.items()))


def test_plan_shows_bound_and_expected(root):
    res = orch("plan", FAN_IN, "--site", "laptop", "--runs", root)
    assert res.rc == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "(walltime) expected" in text and "(from 2 earlier runs)" in text
    doc = json.loads(orch("plan", FAN_IN, "--site", "laptop", "--format", "json",
                          "--runs", root).stdout)
    work = next(s for s in doc["stages"] if s["name"] == "work")
    assert work["expected_seconds"] == 20.0 and work["expected_from_runs"] == 2
    assert work["expected_node_hours"] == pytest.approx(work["node_hours"] * 20 / 300, abs=1e-6)
    assert doc["summary"]["expected_from_runs"] == 2
    assert doc["summary"]["expected_unmeasured"] == []


def test_plan_without_earlier_runs_says_so(tmp_path):
    res = orch("plan", FAN_IN, "--site", "laptop", "--runs", tmp_path / "none")
    assert res.rc == 0, res.stderr
    text = "".join(res.stdout.split())  # Rich wraps long lines, anywhere in a path
    assert f"expected:noearlierrunsoffan-inunder{tmp_path / 'none'}/" in text
    doc = json.loads(orch("plan", FAN_IN, "--site", "laptop", "--format", "json",
                          "--runs", tmp_path / "none").stdout)
    assert doc["summary"]["expected_node_hours"] is None
    assert {s["expected_node_hours"] for s in doc["stages"]} == {None}


def test_plan_names_stages_never_measured(tmp_path):
    fake_run(tmp_path / "runs" / "a", "fan-in", {"work[0]": 6.0})
    res = orch("plan", FAN_IN, "--site", "laptop", "--runs", tmp_path / "runs")
    text = " ".join(res.stdout.split())
    assert "(1 run)" not in text  # the total names the runs; the cells say "not measured"
    assert "(from 1 earlier run)" in text
    assert "expected: prepare, train, report never done in the 1 earlier run" in text


def test_run_start_up_does_not_import_numpy():
    """The ETA's history is read at every `orch run`'s start: NumPy (~0.2-0.6 s) is only for
    large journals' columns (task_table.py, imported where a fold makes or loads one)."""
    import subprocess
    import sys

    code = ("import sys; import orchestrator.state.history, orchestrator.backends.lifecycle, "
            "orchestrator.report.progress, orchestrator.state.journal_index; print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
