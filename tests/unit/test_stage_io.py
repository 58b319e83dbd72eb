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
