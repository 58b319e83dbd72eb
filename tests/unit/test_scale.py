"""Runs of 10^6-10^7 tasks: the compact plan gives the tasks a materialised one would, and
status/report of a large (synthetic) run read the same as the plain journal fold."""

from __future__ import annotations

import itertools
import json
import shutil
import sys
from pathlib import Path

import pytest

from orchestrator.plan.compact import Linear, Points, TaskList
from orchestrator.plan.expand import expand, range_values, sample_points
from orchestrator.plan.model import PlannedTask, device_masks, task_ids
from orchestrator.spec.models import RangeSpec, Sweep
from orchestrator.state.journal import Journal, read_journal
from orchestrator.state.journal_fold import JournalFold
from orchestrator.state.journal_index import INDEX_NAME, fold_journal
from orchestrator.state.plan_head import plan_tasks, read_plan_head
from orchestrator.state.status import load_status
from orchestrator.state.status_json import status_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic_run import make_run


def _materialised(sweep: Sweep, seed: int) -> list[dict]:
    """The expansion as it was before compact plans: lists and dicts."""
    grid: list[dict] = [{}]
    if sweep.values:
        names = list(sweep.values)
        lists = [range_values(v) if isinstance(v, RangeSpec) else list(v)
                 for v in sweep.values.values()]
        rows = zip(*lists, strict=True) if sweep.mode == "zip" else itertools.product(*lists)
        grid = [dict(zip(names, r, strict=True)) for r in rows]
    if sweep.sample is not None:
        samples = sample_points(sweep.sample, seed)
        grid = [{**g, **s} for g in grid for s in samples] if sweep.values else samples
    return grid


SHAPES = [
    {"values": {"i": {"start": 0, "stop": 7, "step": 1}}},
    {"values": {"i": {"start": 0, "stop": 5, "step": 2}, "k": {"start": 0.0, "stop": 1.0,
                                                               "num": 3}}, "mode": "zip"},
    {"values": {"a": [1, 2, 3], "b": {"start": 0.5, "stop": 2.0, "step": 0.5},
                "c": ["x", "y"]}},
    {"values": {"n": {"start": 2, "stop": 10, "num": 5}, "z": {"start": 1, "stop": 1, "num": 3}}},
    {"sample": {"method": "lhs", "n": 6, "space": {"x": [0, 1], "y": {"low": 1, "high": 100,
                                                                       "log": True}}}},
    {"values": {"a": [1, 2]}, "sample": {"method": "random", "n": 4, "space": {"x": [0, 1]}}},
]


@pytest.mark.parametrize("shape", SHAPES)
def test_compact_points_and_tasks_equal_the_materialised_ones(shape):
    sweep = Sweep(**shape)
    want = _materialised(sweep, 11)
    got = expand(sweep, 11)
    assert isinstance(got, Points)
    assert len(got) == len(want) and got == want and list(got) == want
    assert [got[i] for i in range(len(want))] == want  # indexing, not only iteration
    assert got[-1] == want[-1] and got[1:4] == want[1:4]
    with pytest.raises(IndexError):
        got[len(want)]
    slots = [({"CUDA_VISIBLE_DEVICES": "0"}, ("gpu:0",)), ({"CUDA_VISIBLE_DEVICES": "1"}, ())]
    tasks = TaskList("s", got, slots)
    plain = [PlannedTask(f"s[{i}]", "s", i, p, *slots[i % 2]) for i, p in enumerate(want)]
    assert list(tasks) == plain and [tasks[i] for i in range(len(plain))] == plain
    assert list(task_ids(tasks)) == [t.id for t in plain]
    assert device_masks(tasks) == [t.device_mask for t in plain[:2]]


def test_an_unswept_stage_is_one_task_and_a_ten_million_sweep_is_not_ten_million_objects():
    one = TaskList("g", None, [({}, ())])
    assert list(one) == [PlannedTask("g", "g", None, None, {}, ())] and list(one.ids()) == ["g"]
    big = expand(Sweep(values={"i": {"start": 0, "stop": 10_000_000, "step": 1},
                               "k": {"start": 0.0, "stop": 1.0, "num": 10_000_000}},
                       mode="zip"), 0)
    assert len(big) == 10_000_000
    assert big[9_999_999] == {"i": 9_999_999, "k": 1.0}
    assert big[5] == {"i": 5, "k": 5 * (1.0 / 9_999_999)}
    assert sys.getsizeof(big.columns[1]) < 1000 and isinstance(big.columns[1], Linear)


# ---- status and report of a large run ------------------------------------------------------
N = 20_000  # a journal of ~10 MB: over the index threshold, a few seconds to write


@pytest.fixture(scope="module")
def big_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("scale") / "run", N, failed=7)


def _reference(run: Path) -> JournalFold:
    fold = JournalFold()
    for rec in read_journal(run / "journal.jsonl"):
        fold.apply(rec)
    return fold


def _tasks(fold: JournalFold) -> dict:
    return {k: vars(v) if hasattr(v, "__dict__") else {f: getattr(v, f) for f in v.__slots__}
            for k, v in fold.tasks.items()}


def test_the_journal_index_folds_as_the_journal_does_and_follows_appends(big_run, tmp_path):
    big_run = Path(shutil.copytree(big_run, tmp_path / "run"))  # it appends
    index = big_run / INDEX_NAME
    index.unlink(missing_ok=True)
    cold = fold_journal(big_run / "journal.jsonl")
    assert index.is_file()
    warm = fold_journal(big_run / "journal.jsonl")
    ref = _reference(big_run)
    assert _tasks(cold) == _tasks(warm) == _tasks(ref)
    assert warm.attempts == ref.attempts and warm.last_ts == ref.last_ts
    with Journal(big_run / "journal.jsonl", fsync=False, interval=0) as j:  # a resume appends
        j.append("run_started", workflow="scale", site="laptop", attempt=2, pid=1, resume=True)
        j.append("task_done", task="work[3]", stage="work", index=3, result=42, started=1.0,
                 ended=2.0, attempts=2)
    after = fold_journal(big_run / "journal.jsonl")  # a short tail: folded, index kept
    assert _tasks(after) == _tasks(_reference(big_run))
    assert _tasks(fold_journal(big_run / "journal.jsonl")) == _tasks(after)
    assert after.tasks["work[3]"].result == 42 and len(after.attempts) == 2
    index.write_bytes(b"not an index")  # a damaged index is rebuilt, never believed
    assert _tasks(fold_journal(big_run / "journal.jsonl")) == _tasks(_reference(big_run))


def test_fast_journal_extras_read_what_decoding_every_record_reads(big_run, tmp_path):
    big_run = Path(shutil.copytree(big_run, tmp_path / "run"))  # it appends
    from orchestrator.report.task_extras import journal_extras, journal_extras_fast

    with Journal(big_run / "journal.jsonl", fsync=False, interval=0) as j:
        j.append("task_done", task="work[5]", stage="work", key="ab12", result={"pid": 7},
                 pid=99, devices={"CUDA_VISIBLE_DEVICES": "1"}, started=1.0, ended=2.0)
        j.append("sources_changed", sources=[{"name": "x"}])
    slow_notes: list = []
    fast_notes: list = []
    slow = journal_extras(big_run / "journal.jsonl", slow_notes)
    fast = journal_extras_fast(big_run / "journal.jsonl", fast_notes)
    assert fast == slow and fast_notes == slow_notes and len(fast) == N + 1
    assert fast["work[5]"].pid == 99 and fast["work[5]"].devices == {"CUDA_VISIBLE_DEVICES": "1"}


def test_pending_tasks_from_the_plan_head_are_those_of_the_full_plan(big_run):
    warnings: list[str] = []
    head = read_plan_head(big_run / "plan.json", warnings)
    full = json.loads((big_run / "plan.json").read_text())
    assert "tasks" not in head and not warnings
    assert list(plan_tasks(head)) == list(plan_tasks(full))
    assert head["stages"] == full["stages"]


def test_status_of_a_large_run_counts_every_task_and_lists_every_failure(big_run, tmp_path):
    st = load_status(big_run)
    assert len(st.tasks) == N + 1
    counts = st.counts
    failed = [t.id for t in st.failed_tasks()]
    ref = _reference(big_run)
    assert sorted(failed) == sorted(k for k, t in ref.tasks.items() if t.state.value == "failed")
    assert counts["failed"] == len(failed) and counts["dep_failed"] == 1
    assert [t.id for t in st.tasks[:3]] == ["work[0]", "work[1]", "work[2]"]
    doc = status_json(st)
    assert len(doc["tasks"]) == N + 1 and doc["state"] == st.state


def test_report_of_a_large_run_aggregates_and_lists_failures(big_run, tmp_path):
    from orchestrator.report.html import write_report

    path, size = write_report(big_run, tmp_path / "r.html")
    html = path.read_text()
    st = load_status(big_run)
    for t in st.failed_tasks():
        assert t.id in html
    assert 'id="durations"' in html  # per-stage duration histograms
    assert html.count("work[") < N // 4  # samples and merged bars, not a row per task
    assert size < 3_000_000


def test_a_streamed_fan_in_writes_the_same_plan_json(tmp_path, monkeypatch):
    from synthetic_run import SPEC

    from orchestrator.plan import export
    from orchestrator.plan.build import build_plan
    from orchestrator.site.load import load_site
    from orchestrator.spec.load import load_spec

    (tmp_path / "wf.yaml").write_text(SPEC)
    plan = build_plan(load_spec(tmp_path / "wf.yaml", {"n": "2000"}), load_site("laptop"))
    whole = "".join(export.iter_json(plan))
    monkeypatch.setattr(export, "STREAMED_NEEDS", 10)
    chunks = list(export.iter_json(plan))
    assert "".join(chunks) == whole
    assert json.loads(whole)["tasks"][-1]["needs"] == [f"work[{i}]" for i in range(2000)]
