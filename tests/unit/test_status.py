"""`orch status`: folding synthetic run directories (journal, plan.json, run.json).

Journals are written with the real `Journal` writer; plan.json and run.json by hand,
in the shapes `orch run` writes them. Nothing here needs Parsl.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_clean_failure, cli_env, run_cli

from orchestrator.cli.app import main
from orchestrator.errors import UserError
from orchestrator.report.status_text import render_status, tail_lines
from orchestrator.state.journal import Journal
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status import load_status
from orchestrator.state.status_json import status_json

T0 = 1_700_000_000.0


# ---------------------------------------------------------------- builders


def _plan(stages: list[tuple[str, int, str | None]], loops: list[dict] | None = None) -> dict:
    """A plan.json: stages as (name, tasks, loop); swept stages get ids `name[i]`."""
    tasks = []
    for name, n, loop in stages:
        ids = [name] if n == 1 else [f"{name}[{i}]" for i in range(n)]
        tasks += [{"id": i, "stage": name, "needs": [], "loop": loop} for i in ids]
    return {"format": 1, "workflow": "wf", "site": "laptop",
            "stages": [{"name": n, "tasks": k, "loop": lp} for n, k, lp in stages],
            "loops": loops or [], "tasks": tasks,
            "summary": {"tasks": len(tasks), "stages": len(stages)}}


def make_run(path: Path, events: list[tuple[str, dict]], plan: dict | None = None,
             run_json: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "tasks").mkdir(exist_ok=True)
    if run_json:
        (path / "run.json").write_text(json.dumps(
            {"workflow": "/somewhere/wf.yaml", "site": "/somewhere/laptop.yaml", "sets": {},
             "created": T0, "attempts": [{"started": T0, "pid": 1, "argv": []}]}))
    if plan is not None:
        (path / "plan.json").write_text(json.dumps(plan))
    with Journal(path / "journal.jsonl", fsync=False) as j:
        for ev, fields in events:
            j.append(ev, **fields)
    return path


def started(attempt: int = 1, pid: int | None = None, tasks: int = 0, resume: bool = False):
    return ("run_started", {"workflow": "wf", "site": "laptop", "attempt": attempt,
                            "pid": _dead_pid() if pid is None else pid, "resume": resume,
                            "tasks": tasks})


def finished(state: str, seconds: float = 2.5, **extra):
    return ("run_finished", {"state": state, "seconds": seconds, **extra})


def _meta(tid: str, stage: str | None = None, iteration: int | None = None,
          loop: str | None = None, index: int | None = None) -> dict:
    return {"task": tid, "stage": stage or tid.split("[")[0].split("@")[0], "key": f"k-{tid}",
            "index": index, "iteration": iteration, "loop": loop}


def submitted(tid: str, **kw):
    return ("task_submitted", _meta(tid, **kw))


def done(tid: str, result=None, start: float = T0, seconds: float = 1.0, ev: str = "task_done",
         **kw):
    return (ev, {**_meta(tid, **kw), "result": result, "started": start,
                 "ended": None if start is None else start + seconds, "host": "node1",
                 "devices": {}, "attempts": 1 if ev == "task_done" else None})


def failed(tid: str, error: str, run: Path, ev: str = "task_failed", attempts: int | None = 1,
           **kw):
    d = run / "tasks" / task_dirname(tid)
    return (ev, {**_meta(tid, **kw), "error": error, "attempts": attempts,
                 "stdout": str(d / "stdout"), "stderr": str(d / "stderr")})


def _dead_pid() -> int:
    """A pid no process can have (Linux's PID_MAX_LIMIT is 2**22; macOS stops at 99,999)."""
    return 2**22 + 1


def text_of(st, show_all: bool = False) -> str:
    buf = io.StringIO()
    render_status(st, file=buf, show_all=show_all)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


# ---------------------------------------------------------------- folding


def test_succeeded_run(tmp_path):
    run = make_run(tmp_path / "r", [
        started(tasks=3),
        *[submitted(f"work[{i}]", index=i) for i in range(2)],
        submitted("gather"),
        done("work[1]", {"square": 1}, start=T0 + 1, index=1),
        done("work[0]", {"square": 0}, start=T0, seconds=2.0, index=0),
        done("gather", {"sum": 1}, start=T0 + 3, seconds=0.5),
        finished("succeeded", seconds=4.25, counts={"done": 3}, failed=[]),
    ], plan=_plan([("work", 2, None), ("gather", 1, None)]))
    st = load_status(run)
    assert (st.workflow, st.site, st.state, len(st.attempts)) == ("wf", "laptop", "succeeded", 1)
    assert st.duration == 4.25 and st.ended is not None and st.started <= st.ended
    assert st.counts["done"] == 3 and sum(st.counts.values()) == 3
    assert [t.id for t in st.tasks] == ["work[0]", "work[1]", "gather"]  # plan order
    w0 = st.tasks[0]
    assert (w0.state, w0.duration, w0.result, w0.attempts, w0.host) == (
        TaskState.DONE, 2.0, {"square": 0}, 1, "node1")
    assert [(s.name, s.counts["done"]) for s in st.stages] == [("work", 2), ("gather", 1)]


def test_failed_and_dep_failed(tmp_path):
    run = tmp_path / "r"
    stderr = run / "tasks" / "work[1]" / "stderr"
    stderr.parent.mkdir(parents=True)
    stderr.write_text("".join(f"line {k}\n" for k in range(8)) + "ValueError: bad index 1\n")
    make_run(run, [
        started(tasks=3),
        submitted("work[0]", index=0), submitted("work[1]", index=1), submitted("gather"),
        done("work[0]", 0, index=0),
        failed("work[1]", "ValueError: bad index 1", run, attempts=3, index=1),
        failed("gather", "a task it needs failed (1 upstream)", run, ev="task_dep_failed",
               attempts=None),
        finished("failed", counts={"done": 1, "failed": 1, "dep_failed": 1}, failed=["work[1]"]),
    ], plan=_plan([("work", 2, None), ("gather", 1, None)]))
    st = load_status(run)
    assert st.state == "failed"
    by_id = {t.id: t for t in st.tasks}
    bad = by_id["work[1]"]
    assert (bad.state, bad.error, bad.attempts) == (TaskState.FAILED, "ValueError: bad index 1", 3)
    assert bad.stderr == str(stderr) and bad.stdout is None  # no stdout file: no path
    gather = by_id["gather"]
    assert gather.state is TaskState.DEP_FAILED and gather.stderr is None
    assert [t.id for t in st.failed_tasks()] == ["work[1]"]
    assert st.counts == {**{s.value: 0 for s in TaskState}, "done": 1, "failed": 1,
                         "dep_failed": 1}

    out = text_of(st)
    assert "failed: work[1] after 3 attempts: ValueError: bad index 1" in out
    assert f"stderr: {stderr}" in out
    assert "| line 7" in out and "| ValueError: bad index 1" in out
    assert "| line 4" in out and "| line 3" not in out  # the last 5 lines only
    assert "not run because a task they need failed: gather" in out
    assert "resume with: orch run --resume" in out


def test_interrupted_run_cancels_submitted_and_lists_pending(tmp_path):
    run = make_run(tmp_path / "r", [
        started(tasks=4),
        submitted("work[0]", index=0), submitted("work[1]", index=1),
        done("work[0]", 0, index=0),
        finished("interrupted", signal="SIGINT"),
    ], plan=_plan([("work", 3, None), ("gather", 1, None)]))
    st = load_status(run)
    assert st.state == "interrupted"
    assert [(t.id, t.state.value) for t in st.tasks] == [
        ("work[0]", "done"), ("work[1]", "cancelled"), ("work[2]", "pending"),
        ("gather", "pending")]
    assert [s.counts["pending"] for s in st.stages] == [1, 1]


def test_running_run_keeps_submitted(tmp_path):
    run = make_run(tmp_path / "r", [
        started(pid=os.getpid(), tasks=2),
        submitted("work[0]", index=0), submitted("work[1]", index=1),
        done("work[0]", 0, index=0),
    ], plan=_plan([("work", 2, None)]))
    st = load_status(run, now=time.time() + 5)
    assert st.state == "running" and st.ended is None and st.duration >= 5
    assert [t.state.value for t in st.tasks] == ["done", "queued"]  # needs nothing, not started
    assert "running" in text_of(st) and "queued" in text_of(st)


def test_dead_driver_without_run_finished_is_crashed(tmp_path):
    run = make_run(tmp_path / "r", [
        started(tasks=2), submitted("work[0]", index=0), submitted("work[1]", index=1),
        done("work[0]", 0, index=0),
    ], plan=_plan([("work", 2, None)]))
    st = load_status(run)
    assert st.state == "crashed" and st.ended is not None
    assert [t.state.value for t in st.tasks] == ["done", "cancelled"]


def test_driver_on_another_host_that_holds_the_lock_is_running(tmp_path):
    """A driver inside a batch job (`orch submit`) runs on a compute node: its pid means
    nothing on the login node, but it holds the run's lock, so the run is running."""
    from orchestrator.state.lock import acquire

    run = make_run(tmp_path / "r", [
        started(tasks=2), submitted("work[0]", index=0), done("work[0]", 0, index=0),
    ], plan=_plan([("work", 2, None)]))
    with acquire(run, ["run", "wf.yaml"]):
        st = load_status(run)
        assert st.state == "running" and st.ended is None and st.attempts[-1].ended is None
    assert load_status(run).state == "crashed"  # once the lock is free: it died


def test_run_json_only_is_crashed_with_everything_pending(tmp_path):
    run = make_run(tmp_path / "r", [], plan=_plan([("work", 2, None)]))
    (run / "journal.jsonl").unlink()
    st = load_status(run)
    assert (st.state, len(st.attempts)) == ("crashed", 1)
    assert [t.state.value for t in st.tasks] == ["pending", "pending"]


def test_no_tasks_yet(tmp_path, capsys):
    run = make_run(tmp_path / "r", [])
    (run / "journal.jsonl").unlink()
    assert main(["status", str(run), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["tasks"], doc["stages"], doc["workflow"]) == ([], [], "wf")  # run.json's name
    assert "no tasks recorded yet" in text_of(load_status(run))


def test_resumed_run_cached_tasks_keep_earlier_timing(tmp_path):
    run = tmp_path / "r"
    make_run(run, [
        started(tasks=2), submitted("work[0]", index=0), submitted("work[1]", index=1),
        done("work[0]", 0, start=T0, seconds=3.0, index=0),
        failed("work[1]", "boom", run, index=1),
        finished("failed", seconds=5.0),
        started(attempt=2, resume=True, tasks=2),
        done("work[0]", 0, start=None, ev="task_cached", index=0),
        submitted("work[1]", index=1),
        done("work[1]", 1, start=T0 + 100, seconds=2.0, index=1),
        finished("succeeded", seconds=4.0),
    ], plan=_plan([("work", 2, None)]))
    st = load_status(run)
    assert (st.state, len(st.attempts), st.duration) == ("succeeded", 2, 9.0)
    w0, w1 = st.tasks
    assert (w0.state, w0.started, w0.duration, w0.attempts, w0.host) == (
        TaskState.CACHED, T0, 3.0, 1, "node1")
    assert (w1.state, w1.error, w1.duration) == (TaskState.DONE, None, 2.0)
    assert st.counts["cached"] == 1 and st.counts["done"] == 1


def test_resume_in_progress_cancels_only_old_submissions(tmp_path):
    run = make_run(tmp_path / "r", [
        started(tasks=2), submitted("work[0]", index=0), submitted("work[1]", index=1),
        finished("interrupted"),
        started(attempt=2, pid=os.getpid(), resume=True, tasks=2),
        submitted("work[1]", index=1),
    ], plan=_plan([("work", 2, None)]))
    st = load_status(run)
    assert st.state == "running"
    assert [t.state.value for t in st.tasks] == ["cancelled", "queued"]


def _loop_plan() -> dict:
    return _plan([("prep", 1, None), ("train", 2, "al"), ("select", 1, "al"),
                  ("refine", 1, "polish"), ("report", 1, None)],
                 loops=[{"name": "al", "stages": ["train", "select"], "max_iterations": 5,
                         "until": {"stage": "select", "metric": "err", "op": "<",
                                   "value": 0.1, "reduce": "max"}, "feedback": []},
                        {"name": "polish", "stages": ["refine"], "max_iterations": 3,
                         "until": None, "feedback": []}])


def _iteration(k: int, value: float, met: bool):
    return ("loop_iteration", {"loop": "al", "iteration": k, "stage": "select", "metric": "err",
                               "reduce": "max", "value": value, "op": "<", "threshold": 0.1,
                               "met": met})


def test_loop_run_with_iterations(tmp_path):
    events = [started(pid=os.getpid(), tasks=6), done("prep", 1)]
    for k, (value, met) in enumerate([(0.5, False), (0.05, True)], start=1):
        events += [done(f"train[{i}]@{k}", {"loss": value}, iteration=k, loop="al", index=i)
                   for i in (1, 0)]
        events += [done(f"select@{k}", {"err": value}, iteration=k, loop="al"),
                   _iteration(k, value, met)]
    events += [("loop_finished", {"loop": "al", "iterations": 2, "reason": "condition"})]
    run = make_run(tmp_path / "r", events, plan=_loop_plan())
    st = load_status(run)
    assert st.state == "running"  # no run_finished yet, and this process is alive
    ids = [t.id for t in st.tasks]
    assert ids == ["prep", "train[0]@1", "train[1]@1", "select@1", "train[0]@2", "train[1]@2",
                   "select@2", "refine", "report"]  # the loop's plan ids are not pending
    assert {t.id: t.state.value for t in st.tasks}["refine"] == "pending"
    al, polish = st.loops
    assert (al.name, al.reason, al.count, al.max_iterations) == ("al", "condition", 2, 5)
    assert [(i.iteration, i.value, i.met) for i in al.iterations] == [(1, 0.5, False),
                                                                     (2, 0.05, True)]
    assert (polish.reason, polish.count, polish.iterations) == (None, 0, [])
    out = text_of(st)
    assert "loop al: condition met after 2 iterations (until select.err < 0.1, max 5)" in out
    assert "iteration 1: err = 0.5  (not met)" in out and "iteration 2: err = 0.05  (met)" in out
    doc = status_json(st)
    assert doc["loops"][0]["iterations"] == [{"iteration": 1, "value": 0.5, "met": False},
                                             {"iteration": 2, "value": 0.05, "met": True}]
    assert doc["loops"][0]["reason"] == "condition"
    assert [s["name"] for s in doc["stages"]] == ["prep", "train", "select", "refine", "report"]


def test_finished_resume_drops_tasks_it_no_longer_ran(tmp_path):
    """Attempt 1 ran a loop to iteration 2 and was interrupted; attempt 2 stopped at 1."""
    run = make_run(tmp_path / "r", [
        started(tasks=3),
        done("select@1", {"err": 0.5}, iteration=1, loop="al"), _iteration(1, 0.5, False),
        submitted("select@2", iteration=2, loop="al"),
        finished("interrupted"),
        started(attempt=2, resume=True),
        done("select@1", {"err": 0.05}, iteration=1, loop="al"), _iteration(1, 0.05, True),
        ("loop_finished", {"loop": "al", "iterations": 1, "reason": "condition"}),
        finished("succeeded", counts={"done": 1}),
    ], plan=_plan([("select", 1, "al")]))
    st = load_status(run)
    assert [(t.id, t.state.value) for t in st.tasks] == [("select@1", "done")]
    assert [(i.iteration, i.met) for i in st.loops[0].iterations] == [(1, True)]
    assert st.counts["done"] == 1 and sum(st.counts.values()) == 1


def test_torn_last_line_is_ignored(tmp_path):
    run = make_run(tmp_path / "r", [started(tasks=1), submitted("gather"), done("gather", 7)],
                   plan=_plan([("gather", 1, None)]))
    with open(run / "journal.jsonl", "ab") as f:
        f.write(b'{"ts":1,"ev":"run_finished","state":"succ')  # the driver died mid-write
    st = load_status(run)
    assert st.tasks[0].state is TaskState.DONE and st.tasks[0].result == 7
    assert st.state == "crashed"  # the torn run_finished does not count
    res = run_cli("status", run, "--format", "json")
    assert res.rc == 0 and res.json()["tasks"][0]["state"] == "done"


def test_unreadable_plan_json_is_a_warning(tmp_path):
    run = make_run(tmp_path / "r", [started(tasks=1), done("gather", 1), finished("succeeded")])
    (run / "plan.json").write_text("{not json")
    st = load_status(run)
    assert st.state == "succeeded" and [t.id for t in st.tasks] == ["gather"]
    assert st.warnings and "plan.json" in st.warnings[0]
    assert "warning: plan.json" in text_of(st)


# ---------------------------------------------------------------- output


def test_json_contract(tmp_path, capsys):
    run = tmp_path / "r"
    make_run(run, [
        started(tasks=2), done("work[0]", {"a": 1}, index=0),
        failed("work[1]", "boom", run, index=1), finished("failed"),
    ], plan=_plan([("work", 2, None)], loops=[]))
    assert main(["status", str(run), "--format", "json"]) == 0  # status reports; it does not fail
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"format", "run_dir", "workflow", "site", "state", "attempts", "started",
                        "ended", "duration", "counts", "stages", "loops", "tasks", "warnings",
                        "progress", "submit"}
    assert doc["progress"] is None  # only while the run runs
    assert doc["submit"] is None  # only for a run `orch submit` started
    assert doc["format"] == 1 and doc["run_dir"] == str(run.resolve())
    assert (doc["workflow"], doc["site"], doc["state"], doc["attempts"]) == (
        "wf", "laptop", "failed", 1)
    assert set(doc["counts"]) == {s.value for s in TaskState}
    assert doc["stages"] == [{"name": "work", "loop": None,
                              "counts": {**{s.value: 0 for s in TaskState}, "done": 1,
                                         "failed": 1}}]
    assert set(doc["tasks"][0]) == {"id", "stage", "state", "attempts", "started", "ended",
                                    "duration", "result", "error", "exit_code", "signal",
                                    "stderr_tail", "stdout", "stderr", "iteration", "loop",
                                    "host", "pid"}
    assert doc["tasks"][0]["result"] == {"a": 1} and doc["tasks"][0]["duration"] == 1.0
    assert doc["tasks"][1]["error"] == "boom" and doc["tasks"][1]["state"] == "failed"


def test_json_contract_loops(tmp_path):
    run = make_run(tmp_path / "r", [started(), _iteration(1, 0.5, False),
                                    ("loop_finished", {"loop": "al", "iterations": 1,
                                                       "reason": "failed", "error": "no metric"}),
                                    finished("failed")], plan=_loop_plan())
    loop = status_json(load_status(run))["loops"][0]
    assert set(loop) == {"name", "max_iterations", "iterations_run", "iterations", "reason",
                         "error"}
    assert (loop["reason"], loop["error"], loop["iterations_run"]) == ("failed", "no metric", 1)
    assert set(loop["iterations"][0]) == {"iteration", "value", "met"}


def test_task_table_is_capped(tmp_path):
    n = 60
    run = make_run(tmp_path / "r", [started(tasks=n),
                                    *[done(f"w[{i}]", "x" * 200, stage="w", index=i)
                                      for i in range(n)], finished("succeeded")],
                   plan=_plan([("w", n, None)]))
    st = load_status(run)
    out = text_of(st)
    assert "w[49]" in out and "w[50]" not in out and "… 10 more tasks (--all shows them)" in out
    assert "x" * 70 not in out and "xxx…" in out  # result previews are cut
    full = text_of(st, show_all=True)
    assert "w[59]" in full and "more tasks" not in full


def test_cli_text_exit_zero_for_failed_run(tmp_path):
    run = tmp_path / "r"
    make_run(run, [started(tasks=1), failed("gather", "RuntimeError: [bold]x[/bold]", run),
                   finished("failed")], plan=_plan([("gather", 1, None)]))
    res = run_cli("status", run)
    assert res.rc == 0, res.stderr
    assert "wf on laptop: failed" in res.stdout
    assert "RuntimeError: [bold]x[/bold]" in res.stdout  # errors are not read as Rich markup


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_not_a_run_directory(tmp_path, kind):
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("hello")
    with pytest.raises(UserError, match="not a run directory"):
        load_status(target)
    res = run_cli("status", target)
    assert_clean_failure(res, 1)
    assert f"{target}: not a run directory" in res.stderr
    res = run_cli("status", target, "--format", "json")
    assert_clean_failure(res, 1)
    assert res.json()["ok"] is False


def test_tail_lines(tmp_path):
    p = tmp_path / "log"
    p.write_text("a\n\nb\nc\n")
    assert tail_lines(p, 2) == ["b", "c"]
    assert tail_lines(tmp_path / "missing") == [] and tail_lines(None) == []
    p.write_bytes(b"x" * 50_000 + b"\nlast \xff line\n")
    assert tail_lines(p) == ["last \ufffd line"]


def test_status_never_imports_parsl(tmp_path):
    run = tmp_path / "r"
    make_run(run, [started(tasks=2), done("work[0]", 1, index=0),
                   failed("work[1]", "boom", run, index=1), finished("failed")],
             plan=_plan([("work", 2, None)]))
    code = (
        "import contextlib, io, sys\n"
        "from orchestrator.cli.app import main\n"
        "for fmt in ('text', 'json'):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        f"        assert main(['status', {str(run)!r}, '--format', fmt]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'parsl'"
        " or m.startswith('orchestrator.backends')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
