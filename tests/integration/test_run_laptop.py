"""`orch run` for real on the laptop site: HTEX workers, journal, retries, loops, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .conftest import REPO, journal, orch, results, wait_no_processes

pytestmark = pytest.mark.timeout(300)


def test_hello_sweep_runs_and_fans_in(tmp_path):
    run_dir = tmp_path / "run"
    p = orch("run", str(REPO / "workflows/hello-sweep/workflow.yaml"), "--site", "laptop",
             "--set", "n=6", "--set", "seconds=0.1", "--run-dir", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    res = results(run_dir)
    assert res["gather"]["count"] == 6
    assert res["gather"]["sum_of_squares"] == sum(i * i for i in range(6))
    events = journal(run_dir)
    assert [e["ev"] for e in events].count("task_done") == 7
    assert events[-1]["ev"] == "run_finished" and events[-1]["state"] == "succeeded"
    for name in ("run.json", "spec.json", "plan.json"):
        assert (run_dir / name).is_file()
    assert (run_dir / "tasks" / "work[3]").is_dir()
    assert (run_dir / "results").is_dir()
    assert (run_dir / "parsl").is_dir()
    assert not wait_no_processes(str(run_dir))


def test_failures_retries_and_independent_branches(tmp_path, wf):
    run_dir = tmp_path / "run"
    evil = "a; touch PWNED $(touch PWNED2) `touch PWNED3` \"q' \nline2 && rm -rf /nonexistent"
    p = orch("run", str(wf / "failing.yaml"), "--set", f"marker={tmp_path / 'marks'}",
             "--set", f"evil={evil}", "--run-dir", str(run_dir), "--format", "json")
    assert p.returncode == 3, p.stderr
    out = json.loads(p.stdout)
    assert out["state"] == "failed"
    assert [f["task"] for f in out["failed"]] == ["always"]
    assert "this stage always fails" in out["failed"][0]["error"]
    states = {}
    attempts = {}
    for e in journal(run_dir):
        if e["ev"].startswith("task_") and e["ev"] != "task_submitted":
            states[e["task"]] = e["ev"]
            attempts[e["task"]] = e.get("attempts")
    assert states["flaky[1]"] == "task_done" and attempts["flaky[1]"] == 2
    assert states["always"] == "task_failed" and attempts["always"] == 2  # 1 retry
    assert states["after"] == "task_dep_failed"
    assert all(states[f"independent[{i}]"] == "task_done" for i in range(4))
    # hostile value reaches the command as one argument, verbatim, and runs nothing
    task_dir = run_dir / "tasks" / "hostile"
    assert (task_dir / "out.txt").read_text() == evil + "\n"
    assert not any((task_dir / n).exists() for n in ("PWNED", "PWNED2", "PWNED3"))
    assert "Traceback" in (run_dir / "tasks" / "always" / "stderr").read_text()
    assert not wait_no_processes(str(run_dir))


def test_loop_runs_until_condition_with_feedback(tmp_path, wf):
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "loop.yaml"), "--run-dir", str(run_dir), "--format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["loops"]["al"]["iterations"] == 4  # 1/k^2 < 0.1 first at k = 4
    assert out["loops"]["al"]["reason"] == "condition"
    iters = [e for e in journal(run_dir) if e["ev"] == "loop_iteration"]
    assert [e["met"] for e in iters] == [False, False, False, True]
    res = results(run_dir)
    assert res["train[0]@1"]["labelled"] == 0  # no feedback in the first iteration
    assert res["train[1]@3"]["labelled"] == 1  # label@2 fed train@3
    assert res["final"]["selected"] == [{"uncertain_fraction": 1 / 16, "iteration": 4}]
    assert "label@5" not in {t.split("[")[0] for t in res}
    # a resume of a finished run re-runs nothing and takes the same decisions
    p2 = orch("run", "--resume", str(run_dir), "--format", "json")
    assert p2.returncode == 0, p2.stderr
    out2 = json.loads(p2.stdout)
    assert out2["counts"] == {"cached": out["counts"]["done"]}
    assert out2["loops"]["al"]["iterations"] == 4


def _start(args, run_dir):
    return subprocess.Popen([sys.executable, "-m", "orchestrator", "run", *args,
                             "--run-dir", str(run_dir), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_done(run_dir, count, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = sum(1 for e in journal(run_dir) if e["ev"] == "task_done") if (
            run_dir / "journal.jsonl").exists() else 0
        if done >= count:
            return done
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} tasks finished in {timeout}s")


def test_kill9_then_resume_reruns_nothing_completed(tmp_path, wf):
    ref_dir = tmp_path / "reference"
    p = orch("run", str(wf / "slow.yaml"), "--set", "seconds=0.05", "--run-dir", str(ref_dir),
             "-q")
    assert p.returncode == 0, p.stderr
    run_dir = tmp_path / "run"
    proc = _start([str(wf / "slow.yaml"), "--set", "seconds=0.05"], run_dir)
    _wait_for_done(run_dir, 3)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait()
    assert not wait_no_processes(str(run_dir), timeout=15), "orphans after kill -9"
    before = {t: r["started"] for t, r in results(run_dir).items()}
    assert before, "some tasks had finished before the kill"
    p = orch("run", str(wf / "slow.yaml"), "--set", "seconds=0.05", "--resume", str(run_dir),
             "-q")
    assert p.returncode == 0, p.stderr
    after = results(run_dir)
    for task, started in before.items():
        assert after[task]["started"] == started, f"{task} was run again"
    strip = lambda rs: {t: {k: v for k, v in r.items() if k != "started"}  # noqa: E731
                        for t, r in rs.items()}
    assert strip(after) == strip(results(ref_dir))
    done_events = [e["task"] for e in journal(run_dir) if e["ev"] == "task_done"]
    assert len(done_events) == len(set(done_events)), "a task was journaled done twice"
    assert not wait_no_processes(str(run_dir))


def test_sigterm_stops_cleanly_and_resumes(tmp_path, wf):
    run_dir = tmp_path / "run"
    proc = _start([str(wf / "slow.yaml"), "--set", "seconds=0.3"], run_dir)
    _wait_for_done(run_dir, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    events = journal(run_dir)
    assert events[-1]["ev"] == "run_finished" and events[-1]["state"] == "interrupted"
    assert not wait_no_processes(str(run_dir))
    p = orch("run", "--resume", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    assert results(run_dir)["total"]["n"] == 16


def test_changed_code_invalidates_cache(tmp_path, wf):
    import shutil

    work = tmp_path / "wf"
    shutil.copytree(wf, work)
    run_dir = tmp_path / "run"
    args = [str(work / "slow.yaml"), "--set", "n=2", "--set", "seconds=0.01"]
    assert orch("run", *args, "--run-dir", str(run_dir), "-q").returncode == 0
    src = work / "stages.py"
    src.write_text(src.read_text().replace('"sum": sum(', '"sum": 1000 + sum('))
    p = orch("run", *args, "--resume", str(run_dir), "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"] == {"done": 3}  # the code hash covers the module
    assert "code run by stage(s) work, total changed" in p.stderr
    assert "resume: 3 of 3 task(s) that finished before will run again" in p.stderr
    assert results(run_dir)["total"]["sum"] == 1001
