"""Templates: `extends` and `include` with params, the template search path, safety, sources."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from conftest import formatted, plan_of, run_cli, write

from orchestrator.errors import SpecError
from orchestrator.spec.load import load_spec

BASE = """
apiVersion: orchestrator/v1
name: base
description: from the base
params:
  n:
    type: int
    default: 2
    min: 1
    help: tasks
  m: 7
stages:
  s:
    python: base:run
    sweep:
      values:
        i: {start: 0, stop: "${params.n}", step: 1}
    args: {i: "${sweep.i}", m: "${params.m}"}
    resources: {cores: 1, walltime: 10m}
    retries: 1
"""

FRAGMENT = """
apiVersion: orchestrator/v1
name: fragment
params:
  k: 1
stages:
  frag:
    shell: echo ${params.k}
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """tmp/tpl/base.yaml on the template path; tmp/wf/ the workflow directory (cwd)."""
    write(tmp_path / "tpl" / "base.yaml", BASE)
    write(tmp_path / "wf" / "frag.yaml", FRAGMENT)
    monkeypatch.setenv("ORCH_TEMPLATE_PATH", str(tmp_path / "tpl"))
    monkeypatch.chdir(tmp_path / "wf")
    return tmp_path


def test_extends_merges_and_child_overrides(tree):
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        extends:
          path: base
          params: {n: 5}
        params:
          m: 9
        stages:
          s:
            python: mine:run
            args: {extra: true}
            resources: {walltime: 20m}
    """)
    spec = load_spec("main.yaml")
    wf = spec.workflow
    assert wf.name == "main"
    assert wf.description == "from the base"  # inherited
    assert spec.params == {"n": 5, "m": 9}  # extends params set defaults; the child wins
    s = wf.stages["s"]
    assert s.python == "mine:run"
    assert s.args == {"i": "${sweep.i}", "m": 9, "extra": True}  # mappings merge key by key
    assert s.resources.cores == 1 and s.resources.walltime == "20m"
    assert s.retries == 1
    assert spec.declared["n"].min == 1 and spec.declared["n"].help == "tasks"
    assert plan_of("main.yaml").stages["s"].tasks[-1].point == {"i": 4}


def test_extends_as_a_plain_string(tree):
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        extends: base
    """)
    spec = load_spec("main.yaml")
    assert list(spec.workflow.stages) == ["s"]
    assert spec.params == {"n": 2, "m": 7}


def test_include_params_set_template_defaults_and_set_still_overrides(tree):
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        include:
          - path: base.yaml
            params: {n: 3}
          - frag.yaml
        stages:
          gather:
            shell: echo done
            needs: [s, frag]
    """)
    spec = load_spec("main.yaml")
    assert list(spec.workflow.stages) == ["s", "frag", "gather"]
    assert spec.params == {"n": 3, "m": 7, "k": 1}
    assert load_spec("main.yaml", {"n": "6", "k": "4"}).params == {"n": 6, "m": 7, "k": 4}
    plan = plan_of("main.yaml", sets={"n": "6"})
    assert plan.task_count == 6 + 1 + 1
    assert plan.stages["frag"].target == "echo 1"


def test_include_params_are_type_checked_by_the_template(tree):
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        include:
          - path: base
            params: {n: 0}
    """)
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    lines = formatted(info.value)
    assert "main.yaml:5:17: error: params.n.default: 0 is below the minimum 1" in lines
    # the invalid param is reported once, not again at every use as an unknown param
    assert not [line for line in lines if "unknown param" in line]


def test_undeclared_include_param(tree):
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        include:
          - path: base
            params: {nn: 3, zzz: 1}
    """)
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    assert formatted(info.value) == [
        "main.yaml:5:14: error: include[0].params.nn: the template has no such param "
        "(did you mean 'n'?)",
        "main.yaml:5:21: error: include[0].params.zzz: the template has no such param",
    ]
    assert all(d.severity == "error" for d in info.value.diagnostics)


def test_template_search_path_order(tree, monkeypatch):
    write(tree / "tpl2" / "base.yaml", BASE.replace("from the base", "from tpl2"))
    write(tree / "tpl3" / "other" / "template.yaml", FRAGMENT)
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        include: [base, other]
    """)
    monkeypatch.setenv("ORCH_TEMPLATE_PATH", os.pathsep.join(
        [str(tree / "tpl2"), str(tree / "tpl"), str(tree / "tpl3")]))
    spec = load_spec("main.yaml")
    assert spec.workflow.description == "from tpl2"  # first entry wins
    assert "frag" in spec.workflow.stages  # DIR/NAME/template.yaml
    monkeypatch.delenv("ORCH_TEMPLATE_PATH")
    with pytest.raises(SpecError, match="'base' not found next to this file or on the template "
                       "search path"):
        load_spec("main.yaml")


def test_next_to_the_file_beats_the_search_path(tree):
    write(tree / "wf" / "base.yaml", BASE.replace("from the base", "local"))
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\nextends: base.yaml\n")
    assert load_spec("main.yaml").workflow.description == "local"


def test_sources_are_recorded_with_sha256(tree):
    main = write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        extends: base
        include: [frag.yaml]
    """)
    spec = load_spec("main.yaml")
    got = {s.path: s.sha256 for s in spec.sources}
    base = tree / "tpl" / "base.yaml"
    assert got == {"main.yaml": sha(main), str(base.resolve()): sha(base),
                   "frag.yaml": sha(tree / "wf" / "frag.yaml")}
    assert spec.sources[0].path == "main.yaml"
    res = run_cli("plan", "main.yaml", "--site", "laptop", "--format", "json", cwd=".",
                  env={**os.environ, "ORCH_TEMPLATE_PATH": str(tree / "tpl")})
    assert res.rc == 0, res.stderr
    assert {s["path"]: s["sha256"] for s in res.json()["sources"]} == got


def test_diamond_include_lists_each_source_once(tree):
    write(tree / "wf" / "b.yaml", "apiVersion: orchestrator/v1\nname: b\ninclude: [frag.yaml]\n")
    write(tree / "wf" / "c.yaml", "apiVersion: orchestrator/v1\nname: c\ninclude: [frag.yaml]\n")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [b.yaml, c.yaml]\n")
    paths = [s.path for s in load_spec("main.yaml").sources]
    assert sorted(paths) == sorted(set(paths))


def test_diamond_include_is_not_a_cycle(tree):
    write(tree / "wf" / "b.yaml", "apiVersion: orchestrator/v1\nname: b\ninclude: [frag.yaml]\n")
    write(tree / "wf" / "c.yaml", "apiVersion: orchestrator/v1\nname: c\ninclude: [frag.yaml]\n")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [b.yaml, c.yaml]\n")
    assert list(load_spec("main.yaml").workflow.stages) == ["frag"]


def test_include_cycle(tree):
    write(tree / "wf" / "a.yaml", "apiVersion: orchestrator/v1\nname: a\ninclude: [b.yaml]\n")
    write(tree / "wf" / "b.yaml", "apiVersion: orchestrator/v1\nname: b\ninclude:\n  - a.yaml\n")
    with pytest.raises(SpecError) as info:
        load_spec("a.yaml")
    assert formatted(info.value) == [
        "b.yaml:4:5: error: include[0]: include cycle: a.yaml -> b.yaml -> a.yaml"]


def test_self_include(tree):
    write(tree / "wf" / "a.yaml", "apiVersion: orchestrator/v1\nname: a\nextends: a.yaml\n")
    with pytest.raises(SpecError, match=re.escape("include cycle: a.yaml -> a.yaml")):
        load_spec("a.yaml")


def test_include_escaping_the_workflow_dir(tree):
    outside = write(tree / "outside.yaml", FRAGMENT)
    write(tree / "wf" / "main.yaml", """
        apiVersion: orchestrator/v1
        name: main
        include: [../outside.yaml]
    """)
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    assert formatted(info.value) == [
        f"main.yaml:3:11: error: include[0]: '../outside.yaml' resolves to {outside.resolve()}, "
        "outside the workflow's directory and the template search path"]


def test_include_escaping_with_many_dotdots(tree):
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\n"
          "include: [" + "../" * 30 + "etc/passwd]\n")
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    assert "include[0]" in formatted(info.value)[0]
    assert info.value.diagnostics[0].loc.line == 3


def test_include_escaping_through_a_symlink(tree):
    write(tree / "outside.yaml", FRAGMENT)
    (tree / "wf" / "link.yaml").symlink_to(tree / "outside.yaml")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [link.yaml]\n")
    with pytest.raises(SpecError, match="outside the workflow's directory"):
        load_spec("main.yaml")


def test_templates_may_include_their_siblings(tree):
    write(tree / "tpl" / "combo.yaml", "apiVersion: orchestrator/v1\nname: combo\n"
          "include: [base.yaml]\n")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [combo]\n")
    assert list(load_spec("main.yaml").workflow.stages) == ["s"]


def test_absolute_include(tree):
    base = tree / "tpl" / "base.yaml"
    write(tree / "wf" / "main.yaml", f"apiVersion: orchestrator/v1\nname: main\ninclude: [{base}]\n")
    with pytest.raises(SpecError, match="absolute paths are not allowed"):
        load_spec("main.yaml")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [~/x.yaml]\n")
    with pytest.raises(SpecError, match="absolute paths are not allowed"):
        load_spec("main.yaml")


def test_errors_in_included_files_name_that_file(tree):
    write(tree / "tpl" / "broken.yaml", """
        apiVersion: orchestrator/v1
        name: broken
        stages:
          b:
            shell: echo
            retires: 3
    """)
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [broken]\n")
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    (d,) = info.value.diagnostics
    assert d.loc.file == str((tree / "tpl" / "broken.yaml").resolve())
    assert (d.loc.line, d.loc.col) == (6, 5)
    assert d.hint == "did you mean 'retries'?"


def test_include_of_a_non_mapping(tree):
    write(tree / "wf" / "list.yaml", "- a\n- b\n")
    write(tree / "wf" / "main.yaml", "apiVersion: orchestrator/v1\nname: main\ninclude: [list.yaml]\n")
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    assert formatted(info.value) == ["list.yaml:1:1: error: a workflow file must be a mapping of keys"]


@pytest.mark.parametrize(("ref", "message"), [
    ("[]", "include[0]: expected a relative path or template name"),
    ("''", "include[0]: expected a relative path or template name"),
    ("{params: {}}", "include[0]: expected a relative path or template name"),
    ("{path: base, params: [1]}", "include[0].params: expected a mapping of param values"),
])
def test_malformed_include_entries(tree, ref, message):
    write(tree / "wf" / "main.yaml", f"apiVersion: orchestrator/v1\nname: main\ninclude:\n  - {ref}\n")
    with pytest.raises(SpecError) as info:
        load_spec("main.yaml")
    (line,) = formatted(info.value)
    assert line.startswith("main.yaml:4:") and line.endswith(message)


def test_include_path_with_a_nul_byte(tree):
    write(tree / "wf" / "main.yaml",
          'apiVersion: orchestrator/v1\nname: main\ninclude: ["frag' + "\\" + 'x00.yaml"]\n')
    with pytest.raises(SpecError):
        load_spec("main.yaml")
