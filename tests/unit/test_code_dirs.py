"""A python stage runs the module beside the file that set its `python:` (a template's own
helpers, wherever the including workflow is), else the workflow's: the plan shows the
directory, the worker imports from it and the task key hashes it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import orch, plan_of, write

from orchestrator.backends import worker
from orchestrator.backends.payload import TaskPayloads
from orchestrator.plan.build import build_plan
from orchestrator.spec.load import load_spec
from orchestrator.state.rundir import RunDir

TEMPLATE = """
apiVersion: orchestrator/v1
name: step
version: "1.0"
params:
  scale: {type: int, default: 2, help: Multiplier.}
stages:
  own:                      # runs step_code.py, beside this file
    python: step_code:run
    args: {x: 3, scale: "${params.scale}"}
  overridden:               # the workflow points this one at its own module
    python: step_code:run
    args: {x: 5}
  placeholder:              # nothing beside the template: the workflow supplies it
    python: wf_code:placeholder
"""

STEP_CODE = '''
def run(x, scale=1, **_):
    return {"who": "template", "value": x * scale}
'''

WF_CODE = '''
def run(x, **_):
    return {"who": "workflow", "value": -x}

def placeholder(**_):
    return {"who": "workflow placeholder"}
'''

WORKFLOW = """
apiVersion: orchestrator/v1
name: uses-step
include: [step]
stages:
  overridden:
    python: wf_code:run
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """lib/step/{template.yaml, step_code.py} on the template path; work/{wf.yaml,
    wf_code.py} with the cwd elsewhere, so nothing is found by accident."""
    lib = tmp_path / "lib"
    write(lib / "step" / "template.yaml", TEMPLATE)
    write(lib / "step" / "step_code.py", STEP_CODE)
    work = tmp_path / "work"
    write(work / "wf.yaml", WORKFLOW)
    write(work / "wf_code.py", WF_CODE)
    monkeypatch.setenv("ORCH_TEMPLATE_PATH", str(lib))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    saved = list(sys.path)
    yield lib / "step", work
    sys.path[:] = saved                    # what the worker's import added
    for name in ("step_code", "wf_code"):
        sys.modules.pop(name, None)
    worker._loaded.clear()


def test_each_stage_has_the_directory_of_the_file_that_set_python(tree):
    step, work = tree
    spec = load_spec(work / "wf.yaml")
    assert spec.code_dir("own") == step.resolve()
    assert spec.code_dir("overridden") == work.resolve()
    assert spec.code_dir("placeholder") == work.resolve()      # fallback: the workflow's
    plan = json.loads(orch("plan", work / "wf.yaml", "--site", "laptop",
                           "--format", "json").stdout)
    dirs = {s["name"]: s["code_dir"] for s in plan["stages"]}
    assert dirs == {"own": str(step.resolve()), "overridden": str(work.resolve()),
                    "placeholder": str(work.resolve())}


def test_a_shell_stage_has_no_code_dir(spec_file):
    path = spec_file("apiVersion: orchestrator/v1\nname: s\nstages:\n  a: {shell: 'true'}\n")
    assert plan_of(path).stages["a"].code_dir is None


def _payloads(work: Path, tmp: Path) -> tuple[TaskPayloads, object]:
    from conftest import site

    spec = load_spec(work / "wf.yaml")
    plan = build_plan(spec, site("laptop"))
    run = RunDir.create("uses-step", path=tmp / f"run-{len(list(tmp.glob('run-*')))}")
    return TaskPayloads(plan, spec, run), plan


def _payload(payloads: TaskPayloads, plan, stage: str) -> dict:
    return payloads.build(plan.stages[stage].tasks[0], None, [], [])


def test_the_worker_runs_the_template_module_or_the_workflows_override(tree, tmp_path):
    step, work = tree
    payloads, plan = _payloads(work, tmp_path)
    got = {}
    for stage in ("own", "overridden", "placeholder"):
        payload = _payload(payloads, plan, stage)
        task_dir = tmp_path / stage
        task_dir.mkdir()
        got[stage] = worker.call_target(payload, {}, {}, task_dir)
    assert got == {"own": {"who": "template", "value": 6},
                   "overridden": {"who": "workflow", "value": -5},
                   "placeholder": {"who": "workflow placeholder"}}
    assert _payload(payloads, plan, "own")["base_dir"] == str(step.resolve())


def test_the_key_hashes_the_template_module_not_the_workflows(tree, tmp_path):
    step, work = tree
    keys = lambda: {s: _payload(p, plan, s)["key"]  # noqa: E731
                    for p, plan in [_payloads(work, tmp_path)] for s in ("own", "overridden")}
    before = keys()
    (step / "step_code.py").write_text(STEP_CODE + "\n# a changed helper\n")
    after_template = keys()
    assert after_template["own"] != before["own"]                 # its code changed
    assert after_template["overridden"] == before["overridden"]   # the workflow's did not
    (work / "wf_code.py").write_text(WF_CODE + "\n# changed too\n")
    after_workflow = keys()
    assert after_workflow["overridden"] != after_template["overridden"]
    assert after_workflow["own"] == after_template["own"]


def test_one_module_name_from_two_code_dirs_is_an_error_not_the_wrong_code(tmp_path):
    for side in ("a", "b"):
        write(tmp_path / side / "same_name_mod.py", f"def f(**_):\n    return {side!r}\n")
    saved = list(sys.path)
    try:
        func, _ = worker._load("same_name_mod:f", str(tmp_path / "a"))
        assert func() == "a"
        with pytest.raises(worker.TaskFailure, match=r"already imported .*a/same_name_mod\.py"):
            worker._load("same_name_mod:f", str(tmp_path / "b"))
    finally:
        sys.modules.pop("same_name_mod", None)
        sys.path[:] = saved
        worker._loaded.clear()


def test_templates_new_does_not_stub_a_stage_that_runs_the_templates_own_code(tree):
    res = orch("templates", "new", "step", "-o", "mine/")
    assert res.rc == 0, res.stderr
    text = Path("mine/workflow.yaml").read_text()
    assert "python: \"wf_code:placeholder\"" in text          # a placeholder: stubbed
    assert "python: \"step_code:run\"" not in text            # real code: left to the template
    assert "own: runs the template's own step_code:run" in text
    assert load_spec(Path("mine/workflow.yaml")).code_dir("own") == tree[0].resolve()
