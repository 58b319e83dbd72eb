"""The stage helpers workflows share (orchestrator/library/stage_io.py)."""

from __future__ import annotations

import pytest

from orchestrator.library.stage_io import first, one, task_dir


def test_first_is_the_first_result_and_says_who_needs_a_missing_one():
    assert first({"select": [{"a": 1}, {"a": 2}]}, "select", "label") == {"a": 1}
    for results in (None, {}, {"select": []}, {"select": [None]}):
        with pytest.raises(RuntimeError, match=r"^label needs select's result$"):
            first(results, "select", "label")


def test_one_wants_exactly_one_result_of_the_kind():
    assert one({"prep": [3]}, "prep", int) == 3
    with pytest.raises(RuntimeError, match="expected one result of stage 'prep'"):
        one({"prep": [1, 2]}, "prep")


def test_task_dir_is_the_context_s_or_the_cwd(tmp_path, monkeypatch):
    assert task_dir({"task_dir": str(tmp_path)}) == tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    assert task_dir(None) == tmp_path.resolve()


def test_iteration_is_the_contexts_or_one():
    from orchestrator.library.stage_io import iteration_of

    assert iteration_of({"iteration": 3}) == 3
    assert iteration_of({"iteration": None}) == iteration_of(None) == 1


def test_input_paths_are_one_or_many_relative_to_the_task_and_resolved(tmp_path):
    from orchestrator.library.stage_io import input_paths

    (tmp_path / "real.npz").write_text("x")
    (tmp_path / "task" / "inputs").mkdir(parents=True)
    (tmp_path / "task" / "inputs" / "link.npz").symlink_to(tmp_path / "real.npz")
    ctx = {"task_dir": str(tmp_path / "task")}
    assert input_paths("inputs/link.npz", ctx) == [(tmp_path / "real.npz").resolve()]
    assert input_paths(["inputs/link.npz", str(tmp_path / "abs.npz")], ctx) == [
        (tmp_path / "real.npz").resolve(), (tmp_path / "abs.npz").resolve()]
    assert input_paths(None, ctx) == input_paths("", ctx) == []
