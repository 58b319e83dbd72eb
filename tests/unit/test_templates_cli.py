"""`orch templates list|show|new` and `orch new`: the shareable template library.

Every shipped template is instantiated with `orch templates new`; the starter must
validate and plan on every site example.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SITE_CONFIGS, assert_clean_failure, orch, plan_of, write

from orchestrator.spec.compose import BUILTIN_TEMPLATES
from orchestrator.spec.load import load_spec
from orchestrator.spec.templates import default_name, discover

SHIPPED = sorted(p.stem for p in BUILTIN_TEMPLATES.glob("*.yaml")) + sorted(
    p.parent.name for p in BUILTIN_TEMPLATES.glob("*/template.yaml"))
SITES = sorted(p.stem for p in SITE_CONFIGS.glob("*.yaml"))

SHELL_TEMPLATE = """
apiVersion: orchestrator/v1
name: tally
description: Template. Count lines of every input file.
version: "2.1"
requires: [cpu]
params:
  pattern: {type: str, default: "*.txt", help: Files to count.}
  label: {type: str, required: true, help: What to call the result.}
  workers: {type: int, default: 2, min: 1, max: 8, help: Parallel tasks.}
stages:
  count:
    shell: wc -l ${params.pattern} > counts-${params.label}.txt
    sweep:
      values:
        part: {start: 0, stop: "${params.workers}", step: 1}
"""


@pytest.fixture
def library(tmp_path, monkeypatch):
    """A template directory on ORCH_TEMPLATE_PATH; cwd is an empty work directory."""
    lib = tmp_path / "lib"
    write(lib / "tally" / "template.yaml", SHELL_TEMPLATE)
    monkeypatch.setenv("ORCH_TEMPLATE_PATH", str(lib))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return lib


def test_shipped_templates_exist():
    assert {"solver-sweep", "surrogate-train"} <= set(SHIPPED)


def test_list_text_and_json():
    res = orch("templates", "list")
    assert res.rc == 0, res.stderr
    for name in SHIPPED:
        assert name in res.stdout
    doc = orch("templates", "list", "--format", "json").json()
    assert doc["ok"] is True
    by_name = {t["name"]: t for t in doc["templates"]}
    assert set(SHIPPED) <= set(by_name)
    sweep = by_name["solver-sweep"]
    assert sweep["version"] and sweep["requires"] == ["xpu"] and "n_samples" in sweep["params"]
    assert sweep["description"] and len(sweep["sha256"]) == 64 and sweep["error"] is None
    for t in doc["templates"]:  # every shipped template declares what the issue asks
        assert t["version"] and t["description"] and t["requires"], t["name"]


def test_search_path_templates_and_shadowing(library):
    write(library / "surrogate-train.yaml", """
        apiVersion: orchestrator/v1
        name: surrogate-train
        version: "9.9"
        stages:
          train: {python: "m:f"}
    """)
    doc = orch("templates", "list", "--format", "json").json()
    by_name = {t["name"]: t for t in doc["templates"]}
    assert by_name["tally"]["version"] == "2.1" and by_name["tally"]["requires"] == ["cpu"]
    ours = by_name["surrogate-train"]
    assert ours["version"] == "9.9"  # first on the search path wins, as `include` finds it
    assert ours["shadows"] == [str(BUILTIN_TEMPLATES.resolve() / "surrogate-train"
                                   / "template.yaml")]


def test_show(library):
    doc = orch("templates", "show", "tally", "--format", "json").json()
    params = {p["name"]: p for p in doc["params"]}
    assert params["workers"] == {"name": "workers", "type": "int", "default": 2,
                                 "required": False, "min": 1.0, "max": 8.0, "choices": None,
                                 "help": "Parallel tasks."}
    assert params["label"]["required"] is True
    assert doc["stages"] == [{"name": "count", "kind": "shell",
                              "target": "wc -l ${params.pattern} > counts-${params.label}.txt",
                              "needs": [], "device": "cpu", "sweep": ["part"], "loop": None,
                              "outputs": [], "description": ""}]
    res = orch("templates", "show", "solver-sweep")
    assert res.rc == 0, res.stderr
    for word in ("n_samples", "solver_walltime", "Number of solver runs", "simulate", "xpu"):
        assert word in res.stdout


def test_show_unknown_template_hints():
    res = orch("templates", "show", "solver-swep")
    assert_clean_failure(res, 1)
    assert "no template named 'solver-swep'" in res.stderr
    assert "did you mean 'solver-sweep'?" in res.stderr


@pytest.mark.parametrize("template", SHIPPED)
def test_every_shipped_template_instantiates_validates_and_plans(template, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "new", template, "--format", "json")
    assert res.rc == 0, res.stderr
    out = Path(res.json()["workflow"])
    assert out == Path(template) / "workflow.yaml" and out.is_file()
    spec = load_spec(out)
    assert spec.workflow.name == template
    assert any(s.template == template for s in spec.sources)
    for site in SITES:
        plan = plan_of(out, site)
        assert plan.task_count >= 1, site


def test_new_with_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = orch("new", "solver-sweep", "-o", "sweep/", "--set", "n_samples=5",
               "--set", "solver_walltime=20m", "--name", "heat-study")
    assert res.rc == 0, res.stderr
    assert "it validates" in res.stdout
    text = (tmp_path / "sweep" / "workflow.yaml").read_text()
    assert "n_samples: 5\n" in text and 'solver_walltime: "20m"' in text
    assert "#   solver_retries: 1" in text  # the rest, as comments with their defaults
    spec = load_spec(tmp_path / "sweep" / "workflow.yaml")
    assert spec.workflow.name == "heat-study"
    assert spec.params["n_samples"] == 5 and spec.params["solver_retries"] == 1
    assert plan_of(tmp_path / "sweep" / "workflow.yaml").task_count == 5
    # --set still works on the starter
    assert load_spec(tmp_path / "sweep" / "workflow.yaml", {"n_samples": "7"}).params[
        "n_samples"] == 7


def test_new_shell_template_from_search_path(library):
    res = orch("templates", "new", "tally", "-o", "counts.yaml", "--set", "label=a b; rm -rf /",
               "--set", "workers=3")
    assert res.rc == 0, res.stderr
    spec = load_spec("counts.yaml")
    assert spec.workflow.name == "counts"
    assert spec.params == {"pattern": "*.txt", "label": "a b; rm -rf /", "workers": 3}
    assert plan_of("counts.yaml").task_count == 3


@pytest.mark.parametrize(("sets", "message"), [
    (["workers=9"], "--set workers: 9 is above the maximum 8"),
    (["label=x", "wokers=2"], "--set wokers: the workflow has no such param (did you mean "
                              "'workers'?)"),
    ([], "params.label: is required; give it with --set label=VALUE"),
    (["label"], "'label' is not NAME=VALUE"),
])
def test_new_rejects_bad_values_and_writes_nothing(library, sets, message):
    args = [a for s in sets for a in ("--set", s)]
    res = orch("templates", "new", "tally", *args)
    assert_clean_failure(res, 1)
    assert message in res.stderr
    assert not Path("tally").exists()


def test_new_does_not_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "wf.yaml", "keep me\n")
    res = orch("new", "surrogate-train", "-o", "wf.yaml")
    assert_clean_failure(res, 1)
    assert "exists" in res.stderr and (tmp_path / "wf.yaml").read_text() == "keep me\n"
    assert orch("new", "surrogate-train", "-o", "wf.yaml", "--force").rc == 0
    assert load_spec(tmp_path / "wf.yaml").workflow.name == "wf"


def test_new_rejects_a_bad_workflow_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = orch("new", "surrogate-train", "--name", "1 bad")
    assert_clean_failure(res, 1)
    assert "a workflow name is a letter" in res.stderr


def test_default_names():
    assert default_name("t", None) == "my-t"
    assert default_name("t", Path("study/workflow.yaml")) == "study"
    assert default_name("t", Path("my run.yaml")) == "my-run"
    assert default_name("t", Path("_x/workflow.yaml")) == "my-t"


def test_discover_reports_unreadable_templates(tmp_path):
    write(tmp_path / "broken.yaml", "a: [unclosed\n")
    write(tmp_path / "list.yaml", "- 1\n")
    found = {t.name: t for t in discover([tmp_path])}
    assert found["broken"].error and found["list"].error == "not a mapping of keys"
    assert json.dumps([t.summary() for t in found.values()])  # JSON-ready
