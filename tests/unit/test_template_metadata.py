"""What a template declares: its params as JSON Schema, what it requires of a site
(device classes and named environments, checked by plan), and its example
(`orch templates test` without running anything here; tests/integration runs them)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import SITE_CONFIGS, assert_clean_failure, orch, write

from orchestrator.spec.compose import BUILTIN_TEMPLATES
from orchestrator.spec.templates import discover

TALLY = """
apiVersion: orchestrator/v1
name: tally
description: Template. Count lines.
version: "2.1"
requires: {devices: [cpu], environments: [solvr]}
params:
  label: {type: str, required: true, help: What to call the result.}
  workers: {type: int, default: 2, min: 1, max: 8, help: Parallel tasks.}
  rate: {type: float, default: 0.5, min: 0, help: "A rate,\\n  over lines."}
  mode: {type: str, default: fast, choices: [fast, slow]}
  data: {type: path, default: in.txt}
  verbose: false
  cutoff: {type: float}
stages:
  count:
    shell: wc -l ${params.data} > counts-${params.label}.txt
"""


@pytest.fixture
def library(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    write(lib / "tally" / "template.yaml", TALLY)
    monkeypatch.setenv("ORCH_TEMPLATE_PATH", str(lib))
    monkeypatch.chdir(tmp_path)
    return lib


# ---- params as JSON Schema ------------------------------------------------------------------
def test_schema_of_every_param_kind(library):
    res = orch("templates", "schema", "tally")
    assert res.rc == 0, res.stderr
    schema = res.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "orch-template:tally@2.1" and schema["type"] == "object"
    assert schema["required"] == ["label"] and schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["workers"] == {"type": "integer", "description": "Parallel tasks.",
                                "default": 2, "minimum": 1, "maximum": 8}
    assert props["rate"] == {"type": "number", "description": "A rate, over lines.",
                             "default": 0.5, "minimum": 0.0}
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["data"] == {"type": "string", "format": "path", "default": "in.txt"}
    assert props["verbose"] == {"type": "boolean", "default": False}
    assert props["cutoff"] == {"type": ["number", "null"]}
    check = jsonschema.Draft202012Validator(schema)
    assert check.is_valid({"label": "a", "workers": 8, "cutoff": None})
    assert not check.is_valid({"workers": 2})  # label is required
    assert not check.is_valid({"label": "a", "workers": 9})
    assert not check.is_valid({"label": "a", "mode": "medium"})
    assert not check.is_valid({"label": "a", "wokers": 2})
    shown = orch("templates", "show", "tally", "--format", "json").json()
    assert shown["params_schema"] == schema
    assert shown["environments"] == ["solvr"] and shown["requires"] == ["cpu"]


@pytest.mark.parametrize("template", sorted(p.parent.name for p in
                                            BUILTIN_TEMPLATES.glob("*/template.yaml")))
def test_shipped_schemas_accept_their_defaults(template):
    schema = orch("templates", "schema", template).json()
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = {k: p["default"] for k, p in schema["properties"].items() if "default" in p}
    assert jsonschema.Draft202012Validator(schema).is_valid(defaults)


def test_schema_of_unknown_template_hints():
    res = orch("templates", "schema", "solver-swep")
    assert_clean_failure(res, 1)
    assert "did you mean 'solver-sweep'?" in res.stderr


# ---- requires: environments -----------------------------------------------------------------
WF = """
apiVersion: orchestrator/v1
name: counts
include:
  - {path: tally, params: {label: x}}
stages:
  count: {}
"""


def test_required_environment_is_checked_against_the_site(library):
    write(library.parent / "wf.yaml", WF)
    assert orch("validate", "wf.yaml").rc == 0  # no site: nothing to check against
    for command in (["plan", "wf.yaml", "--site", "laptop"],
                    ["validate", "wf.yaml", "--site", "laptop"]):
        res = orch(*command)
        assert_clean_failure(res, 1)
        assert ("lib/tally/template.yaml:5:43: error: requires.environments: template "
                "'tally' requires environment 'solvr'; site 'laptop' does not define it (did "
                "you mean 'solver'?)") in res.stderr
    text = (library / "tally" / "template.yaml").read_text()
    (library / "tally" / "template.yaml").write_text(text.replace("[solvr]", "[solver]"))
    assert orch("plan", "wf.yaml", "--site", "laptop").rc == 0


def test_environment_required_by_the_workflow_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = (SITE_CONFIGS / "laptop.yaml").read_text()
    site = site[:site.index("environments:")] + site[site.index("pools:"):]
    write(tmp_path / "bare.yaml", site)
    write(tmp_path / "wf.yaml", """
        apiVersion: orchestrator/v1
        name: w
        requires:
          environments: [dpgen]
        stages:
          s: {shell: "true"}
    """)
    res = orch("plan", "wf.yaml", "--site", "bare.yaml")
    assert_clean_failure(res, 1)
    assert ("wf.yaml:4:18: error: requires.environments: the workflow requires environment "
            "'dpgen'; site 'laptop' does not define it (the site defines no environments)"
            ) in res.stderr


def test_requires_mapping_is_validated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "wf.yaml", """
        apiVersion: orchestrator/v1
        name: w
        requires: {devices: [tpu], enviroments: [x]}
        stages:
          s: {shell: "true"}
    """)
    res = orch("validate", "wf.yaml")
    assert_clean_failure(res, 1)
    assert res.diag_lines == [
        "wf.yaml:3:22: error: requires.devices[0]: expected 'cpu', 'gpu' or 'xpu', got 'tpu' "
        "(did you mean 'xpu'?)",
        "wf.yaml:3:28: error: requires.enviroments: unknown key 'enviroments' (did you mean "
        "'environments'?)"]  # one form judged, by the value's shape: no "expected a list"


def test_list_shows_requires_and_example():
    doc = orch("templates", "list", "--format", "json").json()
    by_name = {t["name"]: t for t in doc["templates"]}
    sweep = by_name["executable-sweep"]
    assert sweep["requires"] == ["cpu"] and sweep["environments"] == ["solver"]
    for t in doc["templates"]:
        assert t["example"] and t["example"].endswith("example.yaml"), t["name"]


# ---- the example ----------------------------------------------------------------------------
def test_test_without_example_validates_and_plans_only(library):
    write(library / "solo.yaml", """
        apiVersion: orchestrator/v1
        name: solo
        params: {n: 3}
        stages:
          s:
            shell: "echo ${sweep.i}"
            sweep: {values: {i: {start: 0, stop: "${params.n}", step: 1}}}
    """)
    res = orch("templates", "test", "solo")
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[1].split()[:2] == ["validate", "ok"]
    assert lines[2].split()[:3] == ["plan", "ok", "3"]
    assert lines[3].split()[:2] == ["run", "skipped"]
    assert lines[-1] == "ok: solo: no example: validated and planned only (site 'laptop')"
    doc = orch("templates", "test", "solo", "--format", "json").json()
    assert doc["note"] == "no example: validated and planned only" and doc["example"] is None


def test_example_must_include_the_template(library):
    write(library / "tally" / "example.yaml", """
        apiVersion: orchestrator/v1
        name: unrelated
        stages:
          s: {shell: "true"}
    """)
    assert discover([library])[0].example == (library / "tally" / "example.yaml").resolve()
    res = orch("templates", "test", "tally")
    assert_clean_failure(res, 1)
    assert "validate  FAILED" in res.stdout
    assert "the example does not include template 'tally'" in res.stderr


def test_example_spec_error_is_located(library):
    write(library / "tally" / "example.yaml", """
        apiVersion: orchestrator/v1
        name: tally-example
        include: [{path: template.yaml, params: {label: x, wokers: 2}}]
        stages:
          count: {}
    """)
    res = orch("templates", "test", "tally")
    assert_clean_failure(res, 1)
    assert "example.yaml:3:52: error: include[0].params.wokers: the template has no such " \
           "param (did you mean 'workers'?)" in res.stderr


def test_example_key_must_stay_in_the_template_folder(library):
    text = (library / "tally" / "template.yaml").read_text()
    write(library / "outside.yaml", "apiVersion: orchestrator/v1\n")
    for value, message in (("../outside.yaml", "leads out of the template's folder"),
                           ("missing.yaml", "no such file next to the template")):
        (library / "tally" / "template.yaml").write_text(text + f"example: {value}\n")
        res = orch("templates", "test", "tally")
        assert_clean_failure(res, 1)
        assert message in res.stderr
    (library / "tally" / "template.yaml").write_text(text + "example: demo/run.yaml\n")
    write(library / "tally" / "demo" / "run.yaml", "x: 1\n")
    info = discover([library])[1]
    assert info.name == "tally" and info.example == (library / "tally/demo/run.yaml").resolve()


def test_plan_of_a_template_standing_alone_fails_cleanly(library):
    res = orch("templates", "test", "tally", "--site", "laptop")
    assert_clean_failure(res, 1)  # label is required and no example gives it
    assert "params.label: is required" in res.stderr
    assert json.loads(orch("templates", "test", "tally", "--format", "json").stdout)["ok"] \
        is False
