"""`orch run --resume` says what changed since the last attempt and how many finished tasks
run again, and the count is what the runner then does (threads pool: cheap, no workers)."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import journal, orch

pytestmark = pytest.mark.timeout(180)

SITE = """\
apiVersion: orchestrator/v1
kind: site
name: threads
scheduler: local
pools:
  cpu:
    device: cpu
    cores_per_node: 2
    executor: threads
"""

# 1/k^2 < 0.1 first at k = 4: init + 4 x (2 train + select + label) + final = 18 tasks
SPEC = """\
apiVersion: orchestrator/v1
name: changes
params:
  scale: 1
  tag: a
stages:
  init:
    python: steps:ident
    args: {x: 0}
  train:
    python: steps:ident
    needs: [init]
    args: {x: "${params.scale}"}
    sweep: {values: {member: [0, 1]}}
  select:
    python: steps:select
    needs: [train]
  label:
    python: steps:ident
    needs: [select]
    args: {x: 1}
  final:
    python: steps:ident
    needs: [select]
    args: {x: "${params.tag}"}
loops:
  al:
    stages: [train, select, label]
    until: {stage: select, metric: f, op: "<", value: 0.1}
    max_iterations: 6
    feedback: [{from: label, to: train}]
"""

STEPS = """\
def ident(x, **kwargs):
    return {"x": x}


def select(context):
    k = context["iteration"]
    return {"f": 1.0 / (k * k)}
"""


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    run_dir = tmp_path / "run"
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", str(tmp_path / "site.yaml"),
             "--set", "scale=2", "--set", "tag=b", "--run-dir", str(run_dir), "--format",
             "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"] == {"done": 18}
    return tmp_path, run_dir


def _resume(run_dir, *args):
    p = orch("run", "--resume", str(run_dir), *args, "--format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["counts"], p.stderr


def _changes(run_dir) -> dict:
    return [e for e in journal(run_dir) if e["ev"] == "resume_changes"][-1]


def test_a_new_set_overrides_one_name_and_reruns_exactly_what_it_says(setup):
    _, run_dir = setup
    counts, err = _resume(run_dir, "--set", "tag=c")
    assert 'param tag: "b" -> "c" (--set)' in err
    assert "scale" not in err  # carried over: not a change
    assert "resume: 1 of 18 task(s) that finished before will run again: final" in err
    assert counts == {"cached": 17, "done": 1}
    assert json.loads((run_dir / "run.json").read_text())["sets"] == {"scale": "2", "tag": "c"}
    rec = _changes(run_dir)
    assert rec["changes"] == [{"kind": "param", "name": "tag", "old": "b", "new": "c"}]
    assert (rec["finished"], rec["again"], rec["tasks"]) == (18, 1, ["final"])
    # upstream of everything in the loop (and fed back): all but init run again
    counts, err = _resume(run_dir, "--set", "scale=3")
    assert "param scale: 2 -> 3 (--set)" in err
    assert "resume: 17 of 18 task(s) that finished before will run again" in err
    assert counts == {"cached": 1, "done": 17}


def test_unset_goes_back_to_the_default(setup):
    _, run_dir = setup
    counts, err = _resume(run_dir, "--unset", "tag")
    assert "param tag: \"b\" -> \"a\" (--unset: the workflow's default)" in err
    assert counts == {"cached": 17, "done": 1}
    assert json.loads((run_dir / "run.json").read_text())["sets"] == {"scale": "2"}


def test_changed_files_are_listed_even_when_no_task_is_affected(setup):
    tmp_path, run_dir = setup
    with open(tmp_path / "site.yaml", "a") as f:
        f.write("description: the same pools, another description\n")
    with open(tmp_path / "wf.yaml", "a") as f:
        f.write("# a comment changes the file, not the tasks\n")
    counts, err = _resume(run_dir)
    assert re.search(r"site file .*site\.yaml changed \(sha256 \w{12} -> \w{12}\)", err), err
    assert re.search(r"wf\.yaml changed \(no version; sha256", err), err
    assert "resume: none of the 18 task(s) that finished before is affected" in err
    assert counts == {"cached": 18}
    assert _changes(run_dir)["again"] == 0


def test_changed_code_is_named_with_the_tasks_it_reruns(setup):
    tmp_path, run_dir = setup
    with open(tmp_path / "steps.py", "a") as f:
        f.write("\n# edited\n")
    counts, err = _resume(run_dir)
    assert "code run by stage(s) init, train, select, label, final changed" in err
    assert "resume: 18 of 18 task(s) that finished before will run again" in err
    assert counts == {"done": 18}


def test_a_resume_without_changes_says_nothing(setup):
    _, run_dir = setup
    counts, err = _resume(run_dir)
    assert counts == {"cached": 18}
    assert "resume:" not in err
    assert not [e for e in journal(run_dir) if e["ev"] == "resume_changes"]
