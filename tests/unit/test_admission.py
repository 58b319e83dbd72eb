"""Admission (backends/admission.py): a task is started only when its share of a node is
free; backfill, the starvation bound, and shapes no node can hold."""

from __future__ import annotations

from orchestrator.backends import placement
from orchestrator.backends.admission import Admission, Shape


def _started(ready) -> list[str]:
    return [item.start for _, item in ready]


def test_tasks_start_only_when_their_cores_and_units_are_free():
    adm = Admission(1, cores=4, memory=None)
    assert _started(adm.offer(Shape(2, ("gpu:0",)), "a")) == ["a"]
    assert _started(adm.offer(Shape(1, ("gpu:0",)), "b")) == []  # gpu:0 busy
    assert _started(adm.offer(Shape(2, ("gpu:1",)), "c")) == ["c"]
    assert _started(adm.offer(Shape(1), "d")) == []  # 4 of 4 cores busy
    assert _started(adm.done(Shape(2, ("gpu:0",)), 0)) == ["b", "d"]
    assert adm.queued == 0


def test_cores_all_waits_for_an_empty_node_and_then_holds_it():
    adm = Admission(1, cores=None, memory=None)  # core count known only on the node
    adm.offer(Shape(1), "a")
    assert _started(adm.offer(Shape(None), "all")) == []
    assert _started(adm.done(Shape(1), 0)) == ["all"]
    assert _started(adm.offer(Shape(1), "b")) == []


def test_backfill_then_the_starvation_bound(monkeypatch):
    adm = Admission(1, cores=2, memory=None)
    adm.offer(Shape(1), "small-0")
    assert _started(adm.offer(Shape(2), "big")) == []
    assert _started(adm.offer(Shape(1), "small-1")) == ["small-1"]  # backfill
    monkeypatch.setattr(placement, "STARVATION_S", 0.0)  # big has now waited too long
    assert _started(adm.done(Shape(1), 0)) == []  # one core free: big does not fit
    assert _started(adm.offer(Shape(1), "small-2")) == []  # and nothing passes it
    assert _started(adm.done(Shape(1), 0)) == ["big"]


def test_memory_and_several_nodes():
    adm = Admission(2, cores=2, memory=8)
    nodes = [n for n, _ in adm.offer(Shape(1, (), 6), "a") + adm.offer(Shape(1, (), 6), "b")]
    assert sorted(nodes) == [0, 1]  # the second does not fit beside the first
    assert _started(adm.offer(Shape(1, (), 4), "c")) == []


def test_a_shape_no_node_holds_is_passed_to_the_node_to_fail_there():
    adm = Admission(1, cores=2, memory=None)
    assert adm.offer(Shape(3), "huge")[0][0] == -1
    assert adm.done(Shape(3), -1) == []
