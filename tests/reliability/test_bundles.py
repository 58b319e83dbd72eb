"""Bundling (`bundle:` on a stage, issue 20): many sweep points run in one Parsl task, each
still its own task. Real Parsl on HTEX and on a thread pool: a failed point is retried alone,
a resume after the driver was killed mid-bundle runs only the points not done, a worker
killed while it runs a bundle leaves every point done exactly once in the journal."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import (
    REPO,
    WF,
    final_results,
    journal,
    kill9,
    ledger_counts,
    start_run,
    wait_for,
    wait_no_processes,
    workers,
)

HTEX_SITE = str(REPO / "tests/fixtures/sites/laptop-htex.yaml")
THREADS_SITE = """\
apiVersion: orchestrator/v1
kind: site
name: threads
scheduler: local
pools:
  cpu:
    device: cpu
    cores_per_node: auto
    executor: threads
"""
SHELL_SPEC = """\
apiVersion: orchestrator/v1
name: shells
stages:
  t:
    shell: "echo out ${sweep.i}; echo $MY_VAR > f.txt; cd /; [ ${sweep.i} = 3 ] && { echo bad >&2; exit 4; }; exit 0"
    env: {MY_VAR: "v${sweep.i}"}
    outputs: {f: f.txt}
    sweep: {values: {i: [0, 1, 2, 3, 4, 5]}}
    bundle: 6
  quiet:
    shell: "true"
    sweep: {values: {i: [0, 1]}}
    bundle: 2
"""


def _site(kind: str, tmp: Path) -> str:
    if kind == "htex":
        return HTEX_SITE
    path = tmp / "threads.yaml"
    path.write_text(THREADS_SITE)
    return str(path)


def _run(tmp: Path, kind: str, *sets: str, run_dir: Path, resume: bool = False):
    args = ["--resume", str(run_dir)] if resume else [
        str(WF / "bundled.yaml"), "--site", _site(kind, tmp), "--run-dir", str(run_dir),
        *[a for s in sets for a in ("--set", s)]]
    return subprocess.run([sys.executable, "-m", "orchestrator", "run", *args, "-q"],
                          capture_output=True, text=True, timeout=240)


def _done(run_dir: Path, ev: str = "task_done") -> Counter:
    return Counter(e["task"] for e in journal(run_dir) if e["ev"] == ev)


def _bundled_runs(run_dir: Path, n: int, size: int) -> int:
    """How many groups of `size` consecutive points ran one after the other in one process
    (what a bundle does; unbundled points of two workers interleave)."""
    recs = {e["task"]: e for e in journal(run_dir) if e["ev"] == "task_done"}
    together = 0
    for start in range(0, n, size):
        group = [recs.get(f"work[{i}]") for i in range(start, min(n, start + size))]
        if any(r is None for r in group):
            continue
        same = len({r["pid"] for r in group}) == 1
        ordered = all(a["ended"] <= b["started"] for a, b in itertools.pairwise(group))
        together += same and ordered
    return together


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", [pytest.param("htex", marks=pytest.mark.slow_reliability),
                                  "threads"])
def test_a_failed_point_is_retried_alone(tmp_path, kind, figure):
    n = 24
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    run_dir = tmp_path / "run"
    p = _run(tmp_path, kind, f"n={n}", "seconds=0.01", f"ledger={ledger}", "bundle=8",
             "retries=1", "flaky=5", "broken=17", run_dir=run_dir)
    assert p.returncode == 3, p.stderr[-3000:]
    done = _done(run_dir)
    assert set(done) == {"prep", *(f"work[{i}]" for i in range(n) if i != 17)}
    assert max(done.values()) == 1
    failed = [e for e in journal(run_dir) if e["ev"] == "task_failed"]
    assert [(e["task"], e["attempts"]) for e in failed] == [("work[17]", 2)]
    assert "point 17 always fails" in failed[0]["error"]
    assert _done(run_dir, "task_dep_failed") == {"total": 1}
    flaky = next(e for e in journal(run_dir) if e["ev"] == "task_done" and e["task"] == "work[5]")
    assert flaky["attempts"] == 2
    log = (run_dir / "tasks/work[5]/stderr").read_text()
    assert "work[5] attempt 1" in log and "fails its first try" in log
    starts = ledger_counts(ledger, "start")
    again = {i: c for i, c in starts.items() if c > 1}
    assert again == {5: 2, 17: 2}, again  # only the failed points ran again, alone
    assert _bundled_runs(run_dir, n, 8) >= 1  # the others ran as bundles of 8
    figure(f"{kind}: {n} points in bundles of 8, one flaky and one broken point: only those "
           f"two ran again (alone), {len(done) - 1} points done once each",
           points=n, rerun=sorted(again))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", [pytest.param("htex", marks=pytest.mark.slow_reliability),
                                  "threads"])
def test_bundles_give_the_same_results_and_auto_sizes(tmp_path, kind, figure):
    n = 60
    run_dir = tmp_path / "run"
    p = _run(tmp_path, kind, f"n={n}", "seconds=0", "bundle=auto", run_dir=run_dir)
    assert p.returncode == 0, p.stderr[-3000:]
    results = final_results(run_dir)
    assert results["total"] == {"n": n, "sum": sum(i * i for i in range(n))}
    assert [results[f"work[{i}]"]["i"] for i in range(n)] == list(range(n))
    assert max(_done(run_dir).values()) == 1
    figure(f"{kind}: bundle auto, {n} points: same results as unbundled, each done once")


@pytest.mark.timeout(300)
def test_resume_mid_bundle_runs_only_points_not_done(tmp_path, figure):
    """The driver (a thread pool: bundles run inside it) is killed while bundles run; the
    resume takes every point that finished from the journal or the workers' results files
    and runs only the others."""
    n = 48
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    run_dir = tmp_path / "run"
    proc = start_run(WF / "bundled.yaml", "--site", _site("threads", tmp_path),
                     "--set", f"n={n}", "--set", "seconds=0.05", "--set", f"ledger={ledger}",
                     "--set", "bundle=8", "--run-dir", run_dir)
    try:
        wait_for(lambda: len(ledger_counts(ledger, "end")) >= 12, 120, "12 points done")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ended_before = set(ledger_counts(ledger, "end"))
    assert 12 <= len(ended_before) < n
    journaled_before = set(_done(run_dir))
    p = _run(tmp_path, "threads", run_dir=run_dir, resume=True)
    assert p.returncode == 0, p.stderr[-3000:]
    done, cached = _done(run_dir), _done(run_dir, "task_cached")
    everything = {"prep", "total", *(f"work[{i}]" for i in range(n))}
    assert set(done) | set(cached) == everything
    assert max(done.values()) == 1, "a task journaled done twice"
    ends = ledger_counts(ledger, "end")
    assert set(ends) == set(range(n))
    twice = sorted(i for i, c in ends.items() if c > 1)
    assert not twice, f"points that had finished ran again: {twice}"
    assert final_results(run_dir)["total"] == {"n": n, "sum": sum(i * i for i in range(n))}
    figure(f"driver killed with {len(ended_before)}/{n} points finished "
           f"({len(journaled_before & {f'work[{i}]' for i in range(n)})} journaled): the "
           f"resume ran only the other {n - len(ended_before)}, no point ran twice",
           finished_before=len(ended_before))


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_bundle_leaves_each_point_done_once(tmp_path, figure):
    """HTEX: kill -9 the worker running a bundle halfway; Parsl runs the bundle again, which
    takes the points that had finished from the results files: every point is journaled done
    exactly once and only the point running at the kill runs twice."""
    n = 32
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    run_dir = tmp_path / "run"
    proc = start_run(WF / "bundled.yaml", "--site", HTEX_SITE, "--set", f"n={n}",
                     "--set", "seconds=0.1", "--set", f"ledger={ledger}", "--set", "bundle=16",
                     "--run-dir", run_dir)
    try:
        # bundle 1 (points 0-15) runs on one worker: kill it once 4 of its points are done
        wait_for(lambda: len([i for i in ledger_counts(ledger, "end") if i < 16]) >= 4, 120,
                 "4 points of the first bundle done")
        victim = int((ledger / "start-0").read_text().split()[0])
        assert victim in workers(run_dir)
        assert kill9(victim)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    done = _done(run_dir)
    assert set(done) == {"prep", "total", *(f"work[{i}]" for i in range(n))}
    assert max(done.values()) == 1, {t: c for t, c in done.items() if c > 1}
    ends = ledger_counts(ledger, "end")
    starts = ledger_counts(ledger, "start")
    completed_twice = sorted(i for i, c in ends.items() if c > 1)
    assert len(completed_twice) <= 1, completed_twice  # at most the one at the kill
    rerun = sorted(i for i, c in starts.items() if c > 1)
    assert len(rerun) <= 1, rerun
    assert final_results(run_dir)["total"] == {"n": n, "sum": sum(i * i for i in range(n))}
    assert not wait_no_processes(str(run_dir)), "processes left after the run"
    figure(f"a worker killed mid-bundle: {n}/{n} points done once in the journal, points "
           f"started again: {rerun}", rerun=rerun)


@pytest.mark.timeout(120)
def test_shell_points_of_a_bundle_run_like_lone_tasks(tmp_path):
    """One bash runs a shell bundle (shell_bundle.py): each point still gets its own
    directory, variables, output files (none when silent), exit status and outputs, and a
    point's `exit` or `cd` does not reach the next one."""
    (tmp_path / "shells.yaml").write_text(SHELL_SPEC)
    run_dir = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(tmp_path / "shells.yaml"),
                        "--site", _site("threads", tmp_path), "--run-dir", str(run_dir), "-q"],
                       capture_output=True, text=True, timeout=100)
    assert p.returncode == 3, p.stderr[-3000:]
    done = _done(run_dir)
    assert set(done) == {f"t[{i}]" for i in (0, 1, 2, 4, 5)} | {"quiet[0]", "quiet[1]"}
    failed = [e for e in journal(run_dir) if e["ev"] == "task_failed"]
    assert [(e["task"], e["exit_code"], e["stderr_tail"]) for e in failed] == [("t[3]", 4, "bad")]
    for i in (0, 1, 2, 4, 5):
        task = run_dir / f"tasks/t[{i}]"
        assert (task / "f.txt").read_text() == f"v{i}\n"
        out = (task / "stdout").read_text()
        assert out.startswith(f"--- t[{i}] attempt 1 at ") and out.endswith(f"out {i}\n")
        assert not (task / "stderr").exists()
    assert "bad" in (run_dir / "tasks/t[3]/stderr").read_text()
    assert sorted(p.name for p in (run_dir / "tasks/quiet[0]").iterdir()) == []
