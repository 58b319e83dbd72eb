"""The ETA simulation (report/eta.py) and the progress view built on it."""

from __future__ import annotations

import time

import pytest

from orchestrator.report.eta import StageWork, remaining
from orchestrator.report.progress_view import (
    Durations,
    ProgressView,
    StageRow,
    estimate,
    plain_lines,
)


def test_a_slow_last_stage_dominates_what_is_left():
    # 8 tasks of 1 s on 2 slots (4 s), then one task of 6 s: 10 s, not "8/9 done, 1 s left"
    left = remaining([StageWork("work", (), "cpu", 0.5, 8, [], 1.0, "measured"),
                      StageWork("slow", ("work",), "cpu", 0.5, 1, [], 6.0, "earlier runs")],
                     {"cpu": 1.0})
    assert left == {"work": pytest.approx(4.0), "slow": pytest.approx(10.0)}


def test_running_tasks_count_what_they_have_left():
    left = remaining([StageWork("train", (), "gpu", 0.25, 0, [30.0, 50.0], 60.0, "measured")],
                     {"gpu": 1.0})
    assert left["train"] == pytest.approx(30.0)
    overdue = remaining([StageWork("t", (), "p", 1.0, 0, [90.0], 60.0, "measured")], {"p": 1})
    assert overdue["t"] == pytest.approx(6.0)  # past its estimate: a tenth more, not zero


def test_stages_share_their_pool_and_more_nodes_run_more_at_once():
    a = StageWork("a", (), "cpu", 0.5, 4, [], 2.0)
    b = StageWork("b", (), "cpu", 0.5, 4, [], 2.0)
    assert max(remaining([a, b], {"cpu": 1.0}).values()) == pytest.approx(8.0)
    a, b = StageWork("a", (), "cpu", 0.5, 4, [], 2.0), StageWork("b", (), "cpu", 0.5, 4, [], 2.0)
    assert max(remaining([a, b], {"cpu": 2.0}).values()) == pytest.approx(4.0)


def test_a_task_larger_than_its_pool_still_runs_alone():
    left = remaining([StageWork("mpi", (), "cpu", 4.0, 2, [], 10.0)], {"cpu": 2.0})
    assert left["mpi"] == pytest.approx(20.0)


def test_no_estimate_means_no_eta_for_it_and_what_follows():
    left = remaining([StageWork("a", (), "cpu", 1.0, 1, [], None),
                      StageWork("b", ("a",), "cpu", 1.0, 1, [], 1.0),
                      StageWork("c", (), "cpu", 1.0, 0, [], 1.0)], {"cpu": 1.0})
    assert left == {"a": None, "b": None, "c": 0.0}


def test_a_million_short_tasks_are_simulated_in_waves():
    t0 = time.perf_counter()
    left = remaining([StageWork("sweep", (), "cpu", 1 / 64, 1_000_000, [], 0.01)],
                     {"cpu": 100.0})
    assert time.perf_counter() - t0 < 5.0
    assert left["sweep"] == pytest.approx(1_000_000 / 6400 * 0.01, rel=0.01)


def _stages():
    return [{"name": "work", "needs": [], "tasks": 8, "pool": "cpu", "slots_per_node": 2,
             "resources": {"nodes": 1, "walltime": None, "estimated_walltime": "00:05:00"}},
            {"name": "slow", "needs": ["work"], "tasks": 1, "pool": "cpu", "slots_per_node": 2,
             "resources": {"nodes": 1, "walltime": "10m", "estimated_walltime": "00:10:00"}}]


def test_estimate_says_where_each_duration_comes_from():
    rows = [StageRow("work", total=8, done=4, running=2, queued=2), StageRow("slow", total=1,
                                                                            waiting=1)]
    d = Durations(measured={"work": (4.0, 4)}, running={"work": [0.5, 0.5]})
    eta = estimate(rows, _stages(), d, {"cpu": 1.0})
    assert [r.source for r in rows] == ["measured", "walltime"]
    assert rows[0].eta == pytest.approx(1.5) and eta == pytest.approx(601.5)
    view = ProgressView(10.0, rows, eta)
    assert view.bound and "ETA ≤ 10:02" in plain_lines(view)[0]

    class H:
        seconds, tasks, runs = 6.0, 1, 1
    d.history = {"slow": H()}
    eta = estimate(rows, _stages(), d, {"cpu": 1.0})
    assert rows[1].source == "earlier runs" and eta == pytest.approx(7.5)
    view = ProgressView(10.0, rows, eta)
    assert not view.bound
    lines = plain_lines(view)
    assert lines[0] == "[0:10] 4/9 done, 2 running, 2 queued, 1 waiting, 0 failed, ETA 0:08"
    assert "2 running, 2 queued" in lines[1] and "ETA 0:02 (measured)" in lines[1]
    assert "1 waiting" in lines[2] and "ETA 0:08 (earlier runs)" in lines[2]


def test_stages_not_yet_submitted_count_with_their_planned_tasks():
    rows = [StageRow("work", total=8, done=8), StageRow("slow")]
    eta = estimate(rows, _stages(), Durations(measured={"work": (8.0, 8)}), {"cpu": 1.0})
    assert eta == pytest.approx(600.0) and rows[1].source == "walltime"
