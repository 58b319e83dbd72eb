"""The columnar status path (state/task_table.py, state/status_columns.py) reads a run as
the object path does: same counts, states, stages, loops, failures, logs, JSON and text,
on small runs with every task state, forced over the size thresholds."""

from __future__ import annotations

import json
import marshal
import os

import pytest
from test_status import (
    _plan,
    done,
    failed,
    finished,
    make_run,
    started,
    submitted,
    text_of,
)

from orchestrator.state import journal_index, status
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status import load_status
from orchestrator.state.status_json import status_json
from orchestrator.state.status_model import TaskStatus
from orchestrator.state.task_table import TaskTable

T0 = 1_700_000_000.0


def _every_state_run(path, head_only: bool):
    """Two attempts: done, cached, retried-then-failed, failed with an exit code, cancelled,
    pending (never journaled), dep_failed, a loop's tasks, a stage not in the plan."""
    run = path
    events = [
        started(tasks=9),
        done("prep", 1),
        done("work[0]", {"x": 1}, index=0),
        done("work[1]", 2, index=1),
        failed("work[2]", "first try", run, index=2),
        submitted("work[3]", index=3),
        done("train[0]@1", {"loss": 0.5}, iteration=1, loop="al", index=0),
        done("select@1", {"err": 0.5}, iteration=1, loop="al"),
        ("loop_iteration", {"loop": "al", "iteration": 1, "stage": "select", "metric": "err",
                            "value": 0.5, "op": "<", "threshold": 0.1, "met": False}),
        finished("interrupted"),
        started(attempt=2, resume=True, tasks=9),
        done("prep", None, start=None, ev="task_cached"),
        done("work[1]", 2, start=None, ev="task_cached", index=1),
        done("work[0]", {"x": 1}, start=None, ev="task_cached", index=0),
        failed("work[2]", "ValueError: diverged", run, attempts=2, index=2),
        ("task_failed", {"task": "work[5]", "stage": "work", "key": "k5", "index": 5,
                         "iteration": None, "loop": None, "error": "exit 3", "attempts": 1,
                         "exit_code": 137, "signal": "SIGKILL", "stderr_tail": "a\nb\n",
                         "stdout": None, "stderr": None}),
        submitted("work[3]", index=3),
        submitted("extra[0]", index=0),
        done("train[0]@1", {"loss": 0.4}, iteration=1, loop="al", index=0),
        done("train[0]@2", {"loss": 0.2}, iteration=2, loop="al", index=0),
        ("task_dep_failed", {"task": "gather", "stage": "gather", "key": "kg", "index": None,
                             "iteration": None, "loop": None, "error": "upstream failed",
                             "attempts": None, "stdout": None, "stderr": None}),
        finished("interrupted"),
    ]
    plan = _plan([("prep", 1, None), ("work", 7, None), ("train", 1, "al"),
                  ("select", 1, "al"), ("gather", 1, None)],
                 loops=[{"name": "al", "stages": ["train", "select"], "max_iterations": 4,
                         "until": None, "feedback": []}])
    for s in plan["stages"]:
        s["sweep"] = ["i"] if s["tasks"] > 1 else []
    if head_only:  # plan/export's order: the task list last, read as a head by plan_head
        plan["tasks"] = plan.pop("tasks")
    make_run(run, events, plan=plan)
    for tid in ("work[0]", "work[2]"):
        d = run / "tasks" / task_dirname(tid)
        d.mkdir(parents=True)
        (d / "stdout").write_text("out\n")
        (d / "stderr").write_text("err line\n")
    return run


def _both(monkeypatch, run):
    monkeypatch.setattr(status, "LOGS_CHECKED", 3)
    monkeypatch.setattr(status, "COLUMNAR_MIN", 10**9)
    objects = load_status(run, now=T0)
    monkeypatch.setattr(status, "COLUMNAR_MIN", 3)
    columns = load_status(run, now=T0)
    return objects, columns


@pytest.mark.parametrize("head_only", [False, True])
def test_columns_give_the_status_objects_give(tmp_path, monkeypatch, head_only):
    run = _every_state_run(tmp_path / "r", head_only)
    objects, columns = _both(monkeypatch, run)
    assert isinstance(columns.tasks, TaskTable) and isinstance(objects.tasks, list)
    assert {t.state for t in objects.tasks} >= {
        TaskState.DONE, TaskState.CACHED, TaskState.FAILED, TaskState.DEP_FAILED,
        TaskState.CANCELLED, TaskState.PENDING}
    assert columns.counts == objects.counts
    assert list(columns.tasks) == objects.tasks  # ids, order, states, times, logs, results
    assert [columns.tasks[i] for i in range(len(objects.tasks))] == objects.tasks
    assert columns.failed_tasks() == objects.failed_tasks()
    assert [t.id for t in columns.failed_tasks()] == ["work[2]", "work[5]"]
    assert columns.stages == objects.stages and columns.loops == objects.loops
    assert json.dumps(status_json(columns)) == json.dumps(status_json(objects))
    assert text_of(columns, show_all=True) == text_of(objects, show_all=True)
    w2 = next(t for t in columns.tasks if t.id == "work[2]")
    here = run / "tasks" / task_dirname("work[2]")
    assert (w2.attempts, w2.stderr) == (2, str(here / "stderr"))
    w0 = next(t for t in columns.tasks if t.id == "work[0]")  # derived from its directory
    assert w0.stdout == str(run / "tasks" / task_dirname("work[0]") / "stdout")


def test_columns_from_the_journal_index_cold_and_warm(tmp_path, monkeypatch):
    run = _every_state_run(tmp_path / "r", True)
    objects, _ = _both(monkeypatch, run)
    monkeypatch.setattr(journal_index, "INDEX_MIN_BYTES", 0)
    cold = load_status(run, now=T0)
    assert (run / journal_index.INDEX_NAME).is_file()
    warm = load_status(run, now=T0)
    assert isinstance(warm.tasks, TaskTable)
    assert list(cold.tasks) == list(warm.tasks) == objects.tasks
    assert json.dumps(status_json(warm)) == json.dumps(status_json(objects))


def test_a_live_run_keeps_objects(tmp_path, monkeypatch):
    run = make_run(tmp_path / "r", [started(pid=os.getpid(), tasks=2),
                                    submitted("work[0]", index=0), done("work[1]", 1, index=1)],
                   plan=_plan([("work", 2, None)]))
    monkeypatch.setattr(status, "COLUMNAR_MIN", 1)
    st = load_status(run)
    assert st.state == "running" and isinstance(st.tasks, list)
    assert [t.state.value for t in st.tasks] == ["queued", "done"]


# ---- the table itself ---------------------------------------------------------------------
def _odd_tasks() -> list[TaskStatus]:
    return [
        TaskStatus("a[0]", "a", TaskState.DONE, attempts=1, started=1.5, ended=2.0, result=[1],
                   index=0, host="n1", pid=7, run_attempt=1),
        TaskStatus("a[1]", "a", TaskState.FAILED, attempts=True, error="e", stdout="/o",
                   index="1", exit_code=3, signal="SIGTERM", stderr_tail="t", run_attempt=2),
        TaskStatus("b", "b", TaskState.CACHED, started=None, ended=3, index=None, loop="L",
                   iteration=2, submitted=9.0),
        TaskStatus("a[07]", "a", TaskState.PENDING, index=7),
        TaskStatus("a[2]@3", "a", TaskState.SUBMITTED, index=2, iteration=3, loop="L",
                   host=""),
        TaskStatus("c[5]", "c", TaskState.DEP_FAILED, index=1 << 63, result={"k": None}),
    ]


def test_a_table_gives_back_exactly_the_tasks_it_was_made_of():
    tasks = _odd_tasks()
    table = TaskTable.from_tasks(tasks)
    assert list(table) == tasks and table[:] == tasks and table[-1] == tasks[-1]
    again = TaskTable.thaw(marshal.loads(marshal.dumps(table.freeze())))
    assert list(again) == tasks
    assert type(list(again)[2].ended) is int and list(again)[1].attempts is True
    assert table.counts()["done"] == 1 and sum(table.counts().values()) == len(tasks)
    assert [table.task(r).id for r in table.rows(TaskState.FAILED, TaskState.DONE)] == [
        "a[0]", "a[1]"]
    assert list(table.take([5, 0])) == [tasks[5], tasks[0]]
    with pytest.raises(IndexError):
        table[len(tasks)]


def test_merging_later_records_replaces_rows_and_cached_keeps_timing():
    tasks = _odd_tasks()
    table = TaskTable.from_tasks(tasks)
    later = {"a[0]": TaskStatus("a[0]", "a", TaskState.CACHED, index=0, run_attempt=3),
             "new[4]": TaskStatus("new[4]", "new", TaskState.DONE, index=4, host="n9"),
             "b": TaskStatus("b", "b", TaskState.FAILED, error="x")}
    merged = {t.id: t for t in table.merged(later)}
    assert len(merged) == len(tasks) + 1
    a0 = merged["a[0]"]
    assert (a0.state, a0.started, a0.ended, a0.host, a0.attempts) == (
        TaskState.CACHED, 1.5, 2.0, "n1", 1)
    assert merged["new[4]"].host == "n9" and merged["b"].state is TaskState.FAILED
    assert merged["c[5]"] == tasks[5]


def test_pending_rows_of_a_sweep():
    table = TaskTable.from_tasks(_odd_tasks()[:1]).with_pending("z", __import__(
        "numpy").array([2, 5]), 10, None)
    assert [(t.id, t.index, t.state.value) for t in table][1:] == [
        ("z[2]", 12, "pending"), ("z[5]", 15, "pending")]


def test_stage_history_reads_an_indexed_journal_through_its_columns(tmp_path, monkeypatch):
    from orchestrator.state import history

    run = _every_state_run(tmp_path / "r", True)
    monkeypatch.setattr(journal_index, "INDEX_MIN_BYTES", 0)
    monkeypatch.setattr(history, "INDEX_MIN_BYTES", 0)
    journal_index.fold_journal(run / "journal.jsonl")  # writes the index
    assert journal_index.fold_journal(run / "journal.jsonl", columnar=True).table is not None
    assert history._durations(run) == {"train[0]@1": ("train", 1.0),  # done, not cached
                                       "train[0]@2": ("train", 1.0),
                                       "select@1": ("select", 1.0)}


def test_the_reports_journal_extras_come_from_the_columns(tmp_path, monkeypatch):
    """Code keys, worker pids, device masks and notes as task_extras.journal_extras reads
    them from the journal, for every task the status lists: from the index, cold and warm."""
    from orchestrator.report.task_extras import journal_extras
    from orchestrator.state.journal import Journal

    run = _every_state_run(tmp_path / "r", True)
    with Journal(run / "journal.jsonl", fsync=False) as j:
        j.append("sources_changed", sources=[{"name": "m.py"}])
        j.append("task_done", task="work[6]", stage="work", key="f" * 64, index=6, pid=42,
                 devices={"CUDA_VISIBLE_DEVICES": 1}, started=T0, ended=T0 + 1, attempts=1)
        j.append("run_finished", state="failed", seconds=3.0)
    notes: list = []
    want = journal_extras(run / "journal.jsonl", notes)
    monkeypatch.setattr(status, "LOGS_CHECKED", 3)
    monkeypatch.setattr(status, "COLUMNAR_MIN", 3)
    monkeypatch.setattr(journal_index, "INDEX_MIN_BYTES", 0)
    for _ in ("cold", "warm"):
        st = load_status(run, now=T0)
        got = st.tasks.extras()
        listed = {t.id for t in st.tasks}
        assert {k: v for k, v in got.items() if k in listed} == {
            k: (x.key, x.pid, x.devices or None) for k, x in want.items() if k in listed}
        assert got["work[6]"] == ("f" * 64, 42, {"CUDA_VISIBLE_DEVICES": "1"})
        assert st.tasks.notes == notes and notes[0]["ev"] == "sources_changed"


def test_the_report_page_is_the_same_from_columns(tmp_path, monkeypatch):
    """`orch report` of the every-state run, objects vs columns (extras from the index):
    the same page but for the time it was generated."""
    import re

    from orchestrator.report.html import write_report

    run = _every_state_run(tmp_path / "r", True)
    monkeypatch.setattr(status, "LOGS_CHECKED", 3)
    pages = []
    for columnar in (False, True):
        monkeypatch.setattr(status, "COLUMNAR_MIN", 3 if columnar else 10**9)
        monkeypatch.setattr(journal_index, "INDEX_MIN_BYTES", 0 if columnar else 10**12)
        path, _ = write_report(run, tmp_path / f"{columnar}.html")
        pages.append(re.sub(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "", path.read_text()))
    assert (run / journal_index.INDEX_NAME).is_file()
    assert 'id="durations"' in pages[1] and "work[5]" in pages[1]
    assert pages[1] == pages[0]


def _busy_run(path):
    """The every-state run plus a stage of 30 overlapping tasks on several workers (pids,
    device masks, none: pids from result files; hosts named, None and ""), 64-digit and
    other keys, returned numbers and lists, an image output and a failed task with a time."""
    from orchestrator.state.journal import Journal

    run = _every_state_run(path, True)
    plan = json.loads((run / "plan.json").read_text())
    for t in plan["tasks"]:
        if t["id"] == "gather":  # from a loop's last iteration and from outside loops
            t["needs"] = ["train", "prep"]
    (run / "plan.json").write_text(json.dumps(plan))
    records = []
    with Journal(run / "journal.jsonl", fsync=False) as j:
        for i in range(30):
            tid = f"many[{i}]"
            start = T0 + 10 + i * 0.3 - (i % 3) * 0.25 + (0.0 if i % 9 else 1e-7)
            extra = ({"pid": 100 + i % 3, "devices": {"D": i % 2} if i % 5 == 2 else {}}
                     if i % 5 > 1 else
                     {"devices": {"CUDA_VISIBLE_DEVICES": i % 2}} if i % 5 == 1 else {})
            j.append("task_done", task=tid, stage="many", index=i, iteration=None, loop=None,
                     key=f"{(i * 7919) % 97:064x}",
                     result={"y": (i * i) % 7, "z": [i, 1.5], "c": 3} if i % 4 else None,
                     started=start, ended=start + 0.2 + (i % 4) * 0.5 + (i % 7 == 0) * 3,
                     host=["n1", "n2", None, ""][i % 4], attempts=1, **extra)
            if i % 5 == 0:
                records.append({"task": tid, "key": "x", "result": None, "pid": 7 + i % 2})
        for k in (1, 2):  # a loop stage the plan does not name
            j.append("task_done", task=f"probe@{k}", stage="probe", index=None, iteration=k,
                     loop="al2", key=f"kp{k}", result=k / 3, started=T0 + 20, ended=T0 + 21,
                     host="n1", attempts=1)
        j.append("task_failed", task="many[30]", stage="many", index=30, iteration=None,
                 loop=None, key="e" * 64, error="boom", attempts=1, ended=T0 + 12)
        j.append("run_finished", state="failed", seconds=3.0)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 40
    (run / "tasks" / task_dirname("many[3]")).mkdir(parents=True)
    (run / "tasks" / task_dirname("many[3]") / "plot.png").write_bytes(png)
    import hashlib

    records.append({"task": "many[3]", "key": "x", "result": None, "pid": 101,
                    "files": {"plot.png": [hashlib.sha256(png).hexdigest(), len(png), 0]}})
    (run / "results").mkdir()
    (run / "results" / "h-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


@pytest.mark.parametrize("small", [False, True])
def test_every_report_section_is_the_same_from_columns(tmp_path, monkeypatch, small):
    """The report's sections that read a large run's columns (report/table_view.py users:
    timeline lanes packed and merged, usage, code keys, lineage groups and picks, metrics,
    figures, pids from result files) give the page the objects give; `small`: the page's
    caps (lanes, bars, keys, lineage rows) low enough that each one cuts."""
    import re

    from orchestrator.report import html, lineage, provenance, timeline
    from orchestrator.report.html import write_report

    run = _busy_run(tmp_path / "r")
    monkeypatch.setattr(status, "LOGS_CHECKED", 3)
    if small:
        monkeypatch.setattr(timeline, "MAX_LANES", 4)
        monkeypatch.setattr(timeline, "MAX_BARS", 6)
        monkeypatch.setattr(provenance, "MAX_KEYS", 7)
        monkeypatch.setattr(lineage, "MAX_ROWS", 9)
    pages, tables = [], []
    made = html.ReportContext
    monkeypatch.setattr(html, "ReportContext", lambda st: tables.append(made(st)) or tables[-1])
    for columnar in (False, True):
        monkeypatch.setattr(status, "COLUMNAR_MIN", 3 if columnar else 10**9)
        monkeypatch.setattr(journal_index, "INDEX_MIN_BYTES", 0 if columnar else 10**12)
        path, _ = write_report(run, tmp_path / f"{columnar}.html")
        pages.append(re.sub(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "", path.read_text()))
    page = pages[1]
    assert tables[1].table is not None and tables[0].table is None  # columns, objects
    assert tables[1].pids and 'data-file="plot.png"' in page
    for seen in ("pid 7", "pid 101", "CUDA_VISIBLE_DEVICES=1", "? · ", "many.y", "failed"):
        assert small or seen in page, seen
    if small:
        assert "more lanes" in page and "tasks drawn as" in page
        assert "more not shown" in page and "more task(s) of this group not listed" in page
    assert page == pages[0]


def _scan_first_fit(bars) -> list[list]:
    """The reference: every lane scanned for each bar in start order."""
    lanes, ends = [], []
    for b in sorted(bars, key=lambda b: (b.start, b.end)):
        for i, end in enumerate(ends):
            if b.start >= end - 1e-6:
                lanes[i].append(b)
                ends[i] = b.end
                break
        else:
            lanes.append([b])
            ends.append(b.end)
    return lanes


def test_lane_packing_is_first_fit():
    """lanes.first_fit (heaps; used by the object and the columnar timeline) puts each bar
    in the lane a scan of every lane does: random bars, ties, zero-length bars and bars
    starting exactly 1e-6 s before a lane's end (the tolerance's edge)."""
    import random

    from orchestrator.report import lanes

    rng = random.Random(5)
    for trial in range(200):
        bars, t = [], 0.0
        for i in range(rng.randint(1, 60)):
            t += rng.choice([0.0, 0.1, 0.25, 1.0])
            end = t + rng.choice([0.0, 0.1, 0.3, 2.0, 5.0])
            bars.append(lanes.Bar(f"t{i}", "s", t, end, "done"))
            if rng.random() < 0.2:  # one starting exactly at its tolerance's edge
                bars.append(lanes.Bar(f"e{i}", "s", end - 1e-6, end + 1.0, "done"))
        want = {b.task: k for k, lane in enumerate(_scan_first_fit(bars)) for b in lane}
        ordered = sorted(bars, key=lambda b: (b.start, b.end))
        got = lanes.first_fit([b.start for b in ordered], [b.end for b in ordered])
        assert {b.task: k for b, k in zip(ordered, got, strict=True)} == want, trial
        assert {b.task: k for k, lane in enumerate(lanes._pack(bars)) for b in lane} == want


def test_code_key_digest_and_lineage_picks_on_columns():
    """keys_columns sorts and hex-encodes 32-byte keys as sorted(hex strings) does;
    lineage_columns.pick takes the rows lineage._pick takes."""
    import hashlib
    import random

    import numpy as np

    from orchestrator.report import keys_columns, lineage, lineage_columns

    rng = random.Random(7)
    keys = [bytes(rng.choice([0, 1, 255]) for _ in range(32)) for _ in range(300)]
    raw = np.frombuffer(b"".join(keys), dtype=np.dtype("V32"))
    assert keys_columns._hex_lines(raw) == "\n".join(sorted(k.hex() for k in keys)).encode()
    tasks = [TaskStatus(f"t{i}", rng.choice("abcd"), TaskState.DONE) for i in range(60)]
    table = TaskTable.from_tasks(tasks)
    for n in (0, 1, 5, 17, 59, 60):
        want = [t.id for t in lineage._pick(tasks, n)]
        got = lineage_columns.pick(table, np.arange(60), n)
        assert [t.id for t in got] == want, n
    assert hashlib.sha256(keys_columns._hex_lines(raw[:0])).hexdigest() == hashlib.sha256(
        b"").hexdigest()


def test_a_stage_whose_rows_a_later_attempt_replaced(tmp_path, monkeypatch):
    """The every-state run resumed once more: the table keeps the name of a stage that no
    row has any more (`extra`, gone from the objects too); the columns' plan order
    (status_columns._order) skips it instead of failing with a KeyError."""
    from orchestrator.state.journal import Journal

    run = _every_state_run(tmp_path / "r", True)
    with Journal(run / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow="wf", site="laptop", attempt=3, pid=2**22 + 1,
                 resume=True, tasks=9)
        for i in range(3):
            j.append("task_done", task=f"many[{i}]", stage="many", index=i, iteration=None,
                     loop=None, key="k4", result=None, started=T0, ended=T0 + 1, attempts=1)
        j.append("task_failed", task="many[3]", stage="many", index=3, iteration=None,
                 loop=None, key="k3", error="boom", attempts=1, ended=T0 + 12)
        j.append("run_finished", state="failed", seconds=3.0)
    objects, columns = _both(monkeypatch, run)
    assert "extra" in columns.tasks.names["stage"]
    assert "extra" not in {t.stage for t in objects.tasks}
    assert list(columns.tasks) == objects.tasks
    assert json.dumps(status_json(columns)) == json.dumps(status_json(objects))
