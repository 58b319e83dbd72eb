"""Live task states of a running run, from its run directory alone (state/live.py):
a task waiting for what it needs is `waiting`, never `running`; a ready task without a
start line is `queued`; a start line written after the submission makes it `running`."""

from __future__ import annotations

import json
import os
import time

from test_status import _plan, done, make_run, started, submitted

from orchestrator.state.live import refine_submitted
from orchestrator.state.results import StartTail, append_result, append_start, iter_results
from orchestrator.state.states import TaskState
from orchestrator.state.status import load_status
from orchestrator.state.status_json import status_json
from orchestrator.state.status_model import TaskStatus


def _chain_plan() -> dict:
    plan = _plan([("work", 2, None), ("gather", 1, None)])
    for t in plan["tasks"]:
        if t["id"] == "gather":
            t["needs"] = ["work[0]", "work[1]"]
    return plan


def test_waiting_queued_running_of_a_live_run(tmp_path):
    run = make_run(tmp_path / "r", [
        started(pid=os.getpid(), tasks=3),
        submitted("work[0]", index=0), submitted("work[1]", index=1), submitted("gather"),
    ], plan=_chain_plan())
    append_start(str(run), "work[0]")
    st = load_status(run)
    states = {t.id: t.state for t in st.tasks}
    assert states == {"work[0]": TaskState.RUNNING, "work[1]": TaskState.QUEUED,
                      "gather": TaskState.WAITING}
    w0 = next(t for t in st.tasks if t.id == "work[0]")
    assert (w0.pid, w0.host) == (os.getpid(), os.uname().nodename)
    doc = status_json(st)
    assert doc["counts"]["running"] == 1 and doc["counts"]["queued"] == 1
    assert doc["counts"]["waiting"] == 1 and doc["counts"]["submitted"] == 0
    assert next(t for t in doc["tasks"] if t["id"] == "work[0]")["pid"] == os.getpid()


def test_upstream_done_makes_the_consumer_queued(tmp_path):
    run = make_run(tmp_path / "r", [
        started(pid=os.getpid(), tasks=3),
        submitted("work[0]", index=0), submitted("work[1]", index=1), submitted("gather"),
        done("work[0]", 0, start=time.time(), index=0),
        done("work[1]", 1, start=time.time(), index=1),
    ], plan=_chain_plan())
    append_start(str(run), "work[0]")  # an old start line of a task that has since ended
    st = load_status(run)
    assert {t.id: t.state.value for t in st.tasks} == {
        "work[0]": "done", "work[1]": "done", "gather": "queued"}


def test_a_start_line_from_an_earlier_attempt_is_not_running(tmp_path):
    run = make_run(tmp_path / "r", [
        started(pid=os.getpid(), tasks=2), submitted("work[0]", index=0),
        submitted("work[1]", index=1)], plan=_plan([("work", 2, None)]))
    append_result(str(run), json.dumps({"started": "work[1]", "host": "h", "pid": 1,
                                        "t": time.time() - 3600}))
    st = load_status(run)
    assert {t.id: t.state.value for t in st.tasks} == {"work[0]": "queued", "work[1]": "queued"}


def test_loop_tasks_wait_for_their_own_iteration_and_feedback():
    plan = _plan([("train", 1, "al"), ("select", 1, "al")],
                 loops=[{"name": "al", "stages": ["train", "select"], "max_iterations": 3,
                         "until": None, "feedback": [{"from": "select", "to": "train"}]}])
    for t in plan["tasks"]:
        if t["id"] == "select":
            t["needs"] = ["train"]
    tasks = [TaskStatus("train@1", "train", TaskState.DONE, loop="al", iteration=1),
             TaskStatus("select@1", "select", TaskState.SUBMITTED, loop="al", iteration=1),
             TaskStatus("train@2", "train", TaskState.SUBMITTED, loop="al", iteration=2),
             TaskStatus("select@2", "select", TaskState.SUBMITTED, loop="al", iteration=2)]
    refine_submitted(tasks, plan, run_dir=None, starts={})
    assert [t.state.value for t in tasks] == ["done", "queued", "waiting", "waiting"]


def test_start_lines_are_read_incrementally_and_ignored_by_resume(tmp_path):
    tail = StartTail(tmp_path)
    assert tail.poll() == {}
    append_start(str(tmp_path), "a")
    append_result(str(tmp_path), json.dumps({"task": "a", "key": "k", "result": 1}))
    assert set(tail.poll()) == {"a"}
    append_start(str(tmp_path), "b")
    assert set(tail.poll()) == {"a", "b"}
    assert [r["task"] for r in iter_results(tmp_path)] == ["a"]  # only records with a key
