"""What a resume changes (backends/resume.py) and the run directory checks of `orch run`,
without running anything."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from conftest import FIXTURES, assert_clean_failure, run_cli

from orchestrator.backends import resume
from orchestrator.errors import UserError
from orchestrator.state.rundir import check_new_run_dir

FAN_IN = FIXTURES / "workflows" / "fan-in.yaml"


def test_set_values_carry_over_and_a_new_set_overrides_only_its_name():
    prev = {"n": "8", "seconds": "0.5"}
    assert resume.merge_sets(prev, None, None) == prev
    assert resume.merge_sets(prev, ["n=16"], None) == {"n": "16", "seconds": "0.5"}
    assert resume.merge_sets(prev, ["tag="], None) == {**prev, "tag": ""}  # empty is a value
    assert resume.merge_sets(prev, None, ["seconds"]) == {"n": "8"}
    assert resume.merge_sets(prev, ["seconds=1"], ["seconds"]) == {"n": "8", "seconds": "1"}
    assert prev == {"n": "8", "seconds": "0.5"}  # not modified


def test_unset_of_a_name_never_set_is_refused():
    with pytest.raises(UserError, match=r"--unset m: no --set value of 'm' to drop .*n, s"):
        resume.merge_sets({"n": "1", "s": "2"}, None, ["m"])
    with pytest.raises(UserError, match="set before: none"):
        resume.merge_sets({}, None, ["m"])


def test_param_changes_say_old_new_and_where_the_value_comes_from():
    out = resume.param_changes({"n": 8, "s": 0.5, "t": "x", "gone": 1},
                               {"n": 16, "s": 0.25, "t": "x", "new": True},
                               old_sets={"n": "8", "s": "0.5"}, sets={"n": "16"})
    assert [c["message"] for c in out] == [
        "param gone: 1 -> (none) (the workflow's default)",
        "param n: 8 -> 16 (--set)",
        "param new: (none) -> true (the workflow's default)",
        "param s: 0.5 -> 0.25 (--unset: the workflow's default)",
    ]
    assert out[1] | {"message": None} == {"kind": "param", "name": "n", "old": 8, "new": 16,
                                          "message": None}


def test_run_changes_compare_paths_then_content():
    old = {"workflow": "/a/wf.yaml", "site": "/s/laptop.yaml", "site_sha256": "a" * 64}
    assert resume.run_changes(old, dict(old)) == []
    moved = resume.run_changes(old, {**old, "workflow": "/b/wf.yaml", "site": "/s/other.yaml"})
    assert [c["message"] for c in moved] == ["workflow: /a/wf.yaml -> /b/wf.yaml",
                                             "site: /s/laptop.yaml -> /s/other.yaml"]
    edited = resume.run_changes(old, {**old, "site_sha256": "b" * 64})
    assert [c["message"] for c in edited] == [
        f"site file /s/laptop.yaml changed (sha256 {'a' * 12} -> {'b' * 12})"]
    assert resume.run_changes({"site": "/s/laptop.yaml"}, {**old, "site_sha256": "b" * 64}) == []


def test_code_changes_name_the_stages():
    assert resume.code_changes({}, {"a": "1"}) == []  # a run from before code was recorded
    out = resume.code_changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "c": "8"})
    assert out[0]["new"] == ["b", "c"]
    assert out[0]["message"].startswith("code run by stage(s) b, c changed")


def test_changed_sources_give_versions_and_hashes():
    src = SimpleNamespace(path="lib/t.yaml", template="t", version="2", sha256="f" * 64)
    old = {"sources": [{"path": "lib/t.yaml", "version": "1", "sha256": "e" * 64}]}
    (c,) = resume.changed_sources(old, [src])
    assert c["message"] == f"template 't' changed (version 1 -> 2; sha256 {'e' * 12} -> {'f' * 12})"
    assert resume.changed_sources({"sources": [{**old["sources"][0], "sha256": "f" * 64}]},
                                  [src]) == []
    assert resume.changed_sources({}, [src]) == []


def test_lines_and_record():
    change = {"kind": "param", "name": "n", "old": 1, "new": 2, "message": "param n: 1 -> 2"}
    found = resume.ResumeChanges([change], [], finished=7, again=[f"w[{i}]" for i in range(6)])
    assert found.lines() == ["resume: changed since the last attempt:", "  param n: 1 -> 2",
                             "resume: 6 of 7 task(s) that finished before will run again: "
                             "w[0], w[1], w[2], w[3], w[4], ..."]
    assert found.record() == {"changes": [{k: v for k, v in change.items() if k != "message"}],
                              "finished": 7, "again": 6, "tasks": found.again}
    assert resume.ResumeChanges([], [], 7, []).lines() == []
    quiet = resume.ResumeChanges([], [], 3, ["a"]).lines()
    assert quiet == ["resume: 1 of 3 task(s) that finished before will run again "
                     "(their inputs or code changed): a"]


def test_loop_iterations_from_the_journal():
    records = [{"ev": "task_done", "loop": "al", "iteration": 2},
               {"ev": "loop_finished", "loop": "al", "iterations": 3},
               {"ev": "task_done", "loop": None, "iteration": None}]
    assert resume.loop_iterations(records) == {"al": 3}


def test_new_run_dir_checks(tmp_path):
    check_new_run_dir(None)
    check_new_run_dir(tmp_path / "missing")
    check_new_run_dir(tmp_path)  # empty
    (tmp_path / "tasks").mkdir()
    (tmp_path / ".lock").write_text("")
    check_new_run_dir(tmp_path)  # what a run that died at once leaves: still fine
    (tmp_path / "tasks" / "x").mkdir()
    with pytest.raises(UserError, match=r"not empty \(tasks\) and is not a run directory"):
        check_new_run_dir(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="exists and is not a folder"):
        check_new_run_dir(tmp_path / "file")


def test_run_refuses_a_non_empty_folder_that_is_not_a_run(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    res = run_cli("run", FAN_IN, "--run-dir", target, "-q", cwd=tmp_path)
    assert_clean_failure(res)
    assert f"--run-dir {target}: the folder is not empty (notes.txt)" in res.stderr
    assert "no run.json" in res.stderr and "choose a new or empty folder" in res.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]  # nothing written


def test_run_refuses_unset_without_a_value_to_drop(tmp_path):
    res = run_cli("run", FAN_IN, "--unset", "n", "--run-dir", tmp_path / "r", cwd=tmp_path)
    assert_clean_failure(res)
    assert "--unset n: no --set value of 'n' to drop" in res.stderr
    assert not (tmp_path / "r").exists()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "run.json").write_text(json.dumps({"workflow": str(FAN_IN), "sets": {"k": "1"}}))
    res = run_cli("run", "--resume", fake, "--unset", "n", cwd=tmp_path)
    assert_clean_failure(res)
    assert "set before: k" in res.stderr


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    res = run_cli("run", "--resume", tmp_path, cwd=tmp_path)
    assert_clean_failure(res)
    assert "not a run directory (no run.json)" in res.stderr
    assert not (tmp_path / ".lock").exists()
