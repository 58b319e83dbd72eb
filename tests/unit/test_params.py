"""Typed params: defaults, `--set` overrides, `${params.x}` interpolation and shell quoting."""

from __future__ import annotations

import pytest
from conftest import assert_clean_failure, formatted, orch, plan_of, run_cli, spec_text

from orchestrator.errors import SpecError
from orchestrator.spec.load import load_spec, parse_sets

PARAMS = """
n:
  type: int
  default: 8
  min: 1
  max: 1000
rate:
  type: float
  default: 0.5
  min: 0
verbose:
  type: bool
  default: false
label:
  default: run one
mode:
  default: fast
  choices: [fast, slow]
out:
  type: path
  default: results/
"""

STAGES = """
work:
  python: m:work
  sweep:
    values:
      i: {start: 0, stop: "${params.n}", step: 1}
  args:
    i: "${sweep.i}"
    rate: "${params.rate}"
    verbose: "${params.verbose}"
    text: "n=${params.n}, rate=${params.rate}"
gather:
  shell: echo ${params.label} ${params.verbose} ${params.mode}
  needs: [work]
"""


@pytest.fixture
def wf(spec_file):
    return spec_file(spec_text(STAGES, params=PARAMS))


def test_defaults_and_types(wf):
    spec = load_spec(wf)
    assert spec.params == {"n": 8, "rate": 0.5, "verbose": False, "label": "run one",
                           "mode": "fast", "out": "results/"}
    args = spec.workflow.stages["work"].args
    # a string that is exactly one placeholder keeps the param's type
    assert args["rate"] == 0.5 and isinstance(args["rate"], float)
    assert args["verbose"] is False
    assert args["text"] == "n=8, rate=0.5"
    assert args["i"] == "${sweep.i}"  # sweep values are filled in per task, not here
    assert spec.workflow.stages["work"].sweep.values["i"].stop == 8


def test_shell_values_are_quoted(wf):
    shell = load_spec(wf).workflow.stages["gather"].shell
    assert shell == "echo 'run one' false fast"


def test_shell_quoting_defuses_metacharacters(spec_file):
    path = spec_file(spec_text("a:\n  shell: echo ${params.msg}\n",
                               params="msg: \"x'; rm -rf / #\"\n"))
    assert load_spec(path).workflow.stages["a"].shell == "echo 'x'\"'\"'; rm -rf / #'"


def test_dollar_escape_keeps_a_literal_placeholder(spec_file):
    path = spec_file(spec_text("a:\n  python: m:f\n  args: {x: \"$${params.n} and ${params.n}\"}\n",
                               params="n: 3\n"))
    assert load_spec(path).workflow.stages["a"].args["x"] == "$${params.n} and 3"


@pytest.mark.parametrize(("sets", "expected"), [
    ({"n": "40"}, {"n": 40}),
    ({"n": "1_000"}, {"n": 1000}),
    ({"rate": "1e-3"}, {"rate": 0.001}),
    ({"rate": "2"}, {"rate": 2.0}),
    ({"label": "x y"}, {"label": "x y"}),
    ({"mode": "slow"}, {"mode": "slow"}),
    ({"out": "/scratch/out"}, {"out": "/scratch/out"}),
    ({"verbose": "true"}, {"verbose": True}),
    ({"verbose": "TRUE"}, {"verbose": True}),
    ({"verbose": "yes"}, {"verbose": True}),
    ({"verbose": "on"}, {"verbose": True}),
    ({"verbose": "1"}, {"verbose": True}),
    ({"verbose": "False"}, {"verbose": False}),
    ({"verbose": "no"}, {"verbose": False}),
    ({"verbose": "off"}, {"verbose": False}),
    ({"verbose": "0"}, {"verbose": False}),
])
def test_set_overrides_are_parsed_by_type(wf, sets, expected):
    params = load_spec(wf, sets).params
    for k, v in expected.items():
        assert params[k] == v
        assert type(params[k]) is type(v)


@pytest.mark.parametrize(("sets", "line"), [
    ({"n": "abc"}, "<input>: error: --set n: expected an int, got 'abc'"),
    ({"n": "1.5"}, "<input>: error: --set n: expected an int, got '1.5'"),
    ({"n": ""}, "<input>: error: --set n: expected an int, got ''"),
    ({"n": "0"}, "<input>: error: --set n: 0 is below the minimum 1"),
    ({"n": "1001"}, "<input>: error: --set n: 1001 is above the maximum 1000"),
    ({"rate": "fast"}, "<input>: error: --set rate: expected a float, got 'fast'"),
    ({"rate": "-1"}, "<input>: error: --set rate: -1.0 is below the minimum 0"),
    ({"verbose": "maybe"}, "<input>: error: --set verbose: expected true or false, got 'maybe'"),
    ({"mode": "medium"}, "<input>: error: --set mode: 'medium' is not one of ['fast', 'slow']"),
    ({"nn": "3"}, "<input>: error: --set nn: the workflow has no such param (did you mean 'n'?)"),
    ({"zzz": "3"}, "<input>: error: --set zzz: the workflow has no such param "
                   "(params: label, mode, n, out, rate, verbose)"),
])
def test_bad_set_overrides(wf, sets, line):
    with pytest.raises(SpecError) as info:
        load_spec(wf, sets)
    assert formatted(info.value) == [line]
    assert info.value.diagnostics[0].loc is None


def test_all_bad_overrides_are_reported_together(wf):
    with pytest.raises(SpecError) as info:
        load_spec(wf, {"n": "abc", "verbose": "maybe", "nope": "1"})
    assert {d.path for d in info.value.diagnostics} == {"--set n", "--set verbose", "--set nope"}


def test_parse_sets():
    assert parse_sets(["a=1", "b=x=y", "a=2", " c =3"]) == {"a": "2", "b": "x=y", "c": "3"}
    assert parse_sets(None) == {}
    assert parse_sets(["a="]) == {"a": ""}
    for bad in (["novalue"], ["=3"]):
        with pytest.raises(SpecError, match="is not NAME=VALUE"):
            parse_sets(bad)


def test_set_values_reach_the_plan(wf):
    assert plan_of(wf).task_count == 8 + 1
    plan = plan_of(wf, sets={"n": "40"})
    assert plan.task_count == 40 + 1
    assert plan.params["n"] == 40
    assert [t.point["i"] for t in plan.stages["work"].tasks] == list(range(40))


def test_set_on_the_command_line(wf):
    res = run_cli("plan", wf, "--site", "laptop", "--format", "json", "--set", "n=40",
                  "--set", "verbose=yes", cwd=".")
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert doc["summary"]["tasks"] == 41
    assert doc["params"]["n"] == 40
    assert doc["params"]["verbose"] is True
    gather = next(s for s in doc["stages"] if s["name"] == "gather")
    assert gather["target"] == "echo 'run one' true fast"


@pytest.mark.parametrize(("args", "line"), [
    (["--set", "n=abc"], "<input>: error: --set n: expected an int, got 'abc'"),
    (["--set", "nn=3"], "<input>: error: --set nn: the workflow has no such param "
                        "(did you mean 'n'?)"),
    (["--set", "n"], "<input>: error: --set: 'n' is not NAME=VALUE"),
])
def test_bad_set_on_the_command_line(wf, args, line):
    for cmd in (["validate", wf], ["plan", wf, "--site", "laptop"]):
        res = orch(*cmd, *args)
        assert res.rc == 1
        assert res.diag_lines == [line]


def test_bad_set_in_a_subprocess(wf):
    res = run_cli("plan", wf, "--site", "laptop", "--set", "n=abc", cwd=".")
    assert_clean_failure(res)
    assert res.diag_lines == ["<input>: error: --set n: expected an int, got 'abc'"]


def test_optional_param_without_default_is_null(spec_file):
    path = spec_file(spec_text(
        "a:\n  python: m:f\n  args: {x: \"${params.opt}\"}\nb:\n  shell: run ${params.opt}\n",
        params="opt:\n  type: int\n"))
    spec = load_spec(path)
    assert spec.params == {"opt": None}
    assert spec.workflow.stages["a"].args["x"] is None
    assert spec.workflow.stages["b"].shell == "run ''"
    assert load_spec(path, {"opt": "5"}).workflow.stages["a"].args["x"] == 5


def test_required_param_given_with_set(spec_file):
    path = spec_file(spec_text("a:\n  shell: ls ${params.data}\n",
                               params="data:\n  type: path\n  required: true\n"))
    assert load_spec(path, {"data": "/d"}).workflow.stages["a"].shell == "ls /d"


@pytest.mark.parametrize(("decl", "value"), [
    ("3", 3), ("3.0", 3.0), ("'3'", "3"), ("true", True), ("yes", "yes"),
    ("{type: float, default: 2}", 2.0), ("{type: int, default: 2.0}", 2),
    ("{type: str, default: 5}", "5"),
])
def test_param_type_inference_and_coercion(spec_file, decl, value):
    path = spec_file(spec_text("a:\n  shell: echo\n", params=f"p: {decl}\n"))
    got = load_spec(path).params["p"]
    assert got == value and type(got) is type(value)


def test_params_are_not_interpolated_in_keys(spec_file):
    path = spec_file(spec_text(
        "a:\n  python: m:f\n  args: {\"${params.n}\": 1}\n", params="n: 1\n"))
    assert load_spec(path).workflow.stages["a"].args == {"${params.n}": 1}


def test_other_placeholder_scopes_are_errors(spec_file):
    path = spec_file(spec_text("a:\n  shell: echo ${env.HOME}\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert formatted(info.value) == [
        "wf.yaml:5:12: error: stages.a.shell: '${env.HOME}': only ${params.NAME}, "
        "${sweep.NAME} and ${stages.STAGE.outputs.OUT} may be interpolated (no expressions)"]


def test_a_list_default_is_one_error_naming_the_types_a_param_can_have(tmp_path):
    from conftest import write

    spec = write(tmp_path / "wf.yaml", spec_text("a:\n  shell: echo\n",
                                                 params="t:\n  default: [1, 2]\n"))
    res = orch("validate", spec)
    assert res.rc == 1
    errors = [x for x in res.stderr.splitlines() if ": error: " in x]
    assert len(errors) == 1, res.stderr
    assert errors[0].endswith("params.t.default: expected a valid integer, number, string "
                              "or boolean")
