"""Files between stages, without running anything: references, located errors, the
plan's views of the files, staging and output checks on a directory."""

from __future__ import annotations

import os

import pytest
from conftest import assert_clean_failure, formatted, orch, plan_of, spec_text

from orchestrator.backends.files import (
    FileProblem,
    check_outputs,
    content_hash,
    current_hash,
    stage_in,
)
from orchestrator.backends.payload import render_value
from orchestrator.errors import UserError
from orchestrator.plan.inputs import staged_inputs
from orchestrator.spec.load import load_spec

CHAIN = """\
make:
  sweep: {values: {i: [1, 2, 3]}}
  shell: "echo ${sweep.i} > out.txt"
  outputs: {data: out.txt}
train:
  shell: "touch model.pt"
  outputs: [model.pt, logs/train.log]
use:
  needs: [make, train]
  sweep: {values: {i: [3, 1], j: [0, 1]}}
  shell: "cat ${stages.make.outputs.data} ${stages.train.outputs.model} > y"
all:
  needs: [make]
  python: m:f
  args: {paths: "${stages.make.outputs.data}", one: "x ${stages.make.outputs.data}"}
  env: {FILES: "${stages.make.outputs.data}"}
"""


def test_modes_and_matching(spec_file):
    plan = plan_of(spec_file(spec_text(CHAIN)))
    use = {i.stage: i for i in plan.stages["use"].inputs}
    assert (use["train"].mode, use["train"].path) == ("one", "model.pt")
    # use sweeps i (with j): each task reads make's file at its own i
    assert use["make"].mode == "match"
    assert use["make"].matches == (2, 2, 0, 0)
    assert plan.stages["all"].inputs[0].mode == "all"
    assert plan.stages["use"].matched_needs() == {"make": (2, 2, 0, 0)}
    task = plan.stages["use"].tasks[1]
    assert plan.task_needs(task) == ["make[2]", "train"]


def test_rendered_paths_are_relative_quoted_and_typed(spec_file):
    plan = plan_of(spec_file(spec_text(CHAIN)))
    use = plan.stages["use"]
    values, files = staged_inputs(plan, use, use.tasks[0], "/run/tasks", None)
    assert values == {"make.outputs.data": "inputs/make[2]/out.txt",
                      "train.outputs.model": "inputs/train/model.pt"}
    assert files[0] == ["/run/tasks/make[2]/out.txt", "inputs/make[2]/out.txt", "make[2]",
                        "out.txt"]
    shell = render_value("cat ${stages.make.outputs.data}", use.tasks[0].point, True, values)
    assert shell == "cat 'inputs/make[2]/out.txt'"  # [ ] would glob: quoted
    fan = plan.stages["all"]
    values, files = staged_inputs(plan, fan, fan.tasks[0], "/run/tasks", None)
    args = {"paths": "${stages.make.outputs.data}", "one": "x ${stages.make.outputs.data}"}
    assert render_value(args, {}, False, values) == {
        "paths": ["inputs/make[0]/out.txt", "inputs/make[1]/out.txt", "inputs/make[2]/out.txt"],
        "one": "x inputs/make[0]/out.txt inputs/make[1]/out.txt inputs/make[2]/out.txt"}
    assert len(files) == 3


def test_hostile_output_names_stay_data(spec_file):
    plan = plan_of(spec_file(spec_text("""\
        a:
          shell: "touch x"
          outputs: {f: "my file $(rm -rf ~);'q'.txt"}
        b:
          needs: [a]
          shell: "wc -c ${stages.a.outputs.f} $${stages.a.outputs.f}"
    """)))
    b = plan.stages["b"]
    values, _ = staged_inputs(plan, b, b.tasks[0], "/r", None)
    out = render_value("wc -c ${stages.a.outputs.f} $${stages.a.outputs.f}", {}, True, values)
    assert out == ("wc -c 'inputs/a/my file $(rm -rf ~);'\"'\"'q'\"'\"'.txt' "
                   "${stages.a.outputs.f}")


@pytest.mark.parametrize(("stages", "expected"), [
    ("a:\n  shell: x\n  outputs: {m: m}\nb:\n  needs: [a]\n  shell: cat ${stages.aa.outputs.m}\n",
     "stages.b.shell: unknown stage 'aa' (did you mean 'a'?)"),
    ("a:\n  shell: x\n  outputs: {m: m}\nb:\n  shell: cat ${stages.a.outputs.m}\n",
     "stages.b.shell: 'a' is not in this stage's needs, so its files may not exist yet "
     "(add it: needs: [a])"),
    ("a:\n  shell: x\n  outputs: {model: m}\nb:\n  needs: [a]\n"
     "  shell: cat ${stages.a.outputs.modle}\n",
     "stages.b.shell: stage 'a' has no output 'modle' (did you mean 'model'?)"),
    ("a:\n  shell: x\nb:\n  needs: [a]\n  shell: cat ${stages.a.outputs.m}\n",
     "stages.b.shell: stage 'a' declares no outputs (add outputs: {m: PATH} to a)"),
    ("a:\n  shell: x\n  outputs: [u.npy, out/u.txt]\nb:\n  needs: [a]\n"
     "  shell: cat ${stages.a.outputs.u}\n",
     "stages.b.shell: 'a' has several outputs named 'u' by their stem "
     "(name them: outputs: {u: PATH, ...})"),
    ("a:\n  shell: x ${stages.a.outputs.m}\n  outputs: {m: m}\n",
     "stages.a.shell: a stage cannot read its own outputs (they are files in its own "
     "directory)"),
    ("a:\n  shell: x\n  outputs: {m: m}\nb:\n  needs: [a]\n  shell: x\n"
     "  outputs: {c: '${stages.a.outputs.m}'}\n",
     "stages.b.outputs.c: an output is a file this task writes; it cannot name another "
     "stage's"),
    ("a:\n  shell: x\n  outputs: {m: ../m}\n",
     "stages.a.outputs.m: '../m' leaves the task directory ('..' is not allowed)"),
])
def test_reference_errors_are_located(spec_file, stages, expected):
    path = spec_file(spec_text(stages))
    with pytest.raises(UserError) as info:
        plan_of(path)
    lines = formatted(info.value)
    assert len(lines) == 1 and lines[0].startswith("wf.yaml:") and lines[0].endswith(expected), \
        lines


def test_unmatched_sweep_point_is_a_plan_error(spec_file):
    path = spec_file(spec_text("""\
        a:
          sweep: {values: {i: [1, 2]}}
          shell: x
          outputs: {m: m}
        b:
          needs: [a]
          sweep: {values: {i: [2, 5]}}
          shell: cat ${stages.a.outputs.m}
    """))
    res = orch("validate", path, "--site", "laptop")
    assert_clean_failure(res)
    assert "wf.yaml:11:12: error: stages.b.shell: ${stages.a.outputs.m}: task 1 (i=5) has no " \
        "task of 'a' at the same values" in res.stderr


def test_plan_views_show_the_files(spec_file):
    path = spec_file(spec_text(CHAIN))
    res = orch("plan", path, "--site", "laptop", "--format", "json")
    assert res.rc == 0, res.stderr
    doc = res.json()
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert tasks["use[0]"]["inputs"] == [
        {"path": "inputs/make[2]/out.txt", "task": "make[2]", "file": "out.txt"},
        {"path": "inputs/train/model.pt", "task": "train", "file": "model.pt"}]
    assert tasks["use[0]"]["needs"] == ["make[2]", "train"]
    assert "inputs" not in tasks["make[0]"]
    stage = next(s for s in doc["stages"] if s["name"] == "use")
    assert stage["inputs"][0] == {"ref": "make.outputs.data", "stage": "make",
                                  "output": "data", "path": "out.txt", "mode": "match"}
    dot = orch("plan", path, "--site", "laptop", "--format", "dot").stdout
    assert '"make" -> "use" [label="out.txt", style=bold];' in dot
    mermaid = orch("plan", path, "--site", "laptop", "--format", "mermaid").stdout
    assert 's_train ==>|"model.pt"| s_use' in mermaid
    text = orch("plan", path, "--site", "laptop").stdout
    assert "make[i]/out.txt -> use: ${stages.make.outputs.data} = inputs/make[i]/out.txt" in text


def test_outputs_checked_and_hashed(tmp_path):
    (tmp_path / "ok.txt").write_text("data")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("1")
    files = check_outputs(["ok.txt", "d"], str(tmp_path))
    assert files["ok.txt"][0] == content_hash(str(tmp_path / "ok.txt"))[0]
    assert files["ok.txt"][1] == 4
    os.symlink("ok.txt", tmp_path / "inside")  # a link that stays inside is fine
    check_outputs(["inside"], str(tmp_path))
    os.symlink("/etc/hostname", tmp_path / "outside")
    with pytest.raises(FileProblem, match="link outside it: outside -> /etc/hostname"):
        check_outputs(["outside"], str(tmp_path))
    os.symlink("gone", tmp_path / "dangling")
    with pytest.raises(FileProblem, match="missing: dangling \\(a broken link\\), nope"):
        check_outputs(["dangling", "nope"], str(tmp_path))


def test_recorded_hash_is_trusted_only_while_size_and_mtime_match(tmp_path):
    f = tmp_path / "f"
    f.write_text("one")
    recorded = content_hash(str(f))
    fake = ["not-a-real-hash", *recorded[1:]]
    assert current_hash(str(f), fake) == "not-a-real-hash"  # not read again
    f.write_text("two!")
    assert current_hash(str(f), fake) == content_hash(str(f))[0]
    assert current_hash(str(tmp_path / "missing"), fake) is None


@pytest.mark.parametrize("mode", ["link", "copy"])
def test_stage_in_places_files_and_replaces_an_earlier_attempts(tmp_path, mode):
    src = tmp_path / "up" / "a.txt"
    src.parent.mkdir()
    src.write_text("A")
    task = tmp_path / "task"
    task.mkdir()
    entry = [str(src), "inputs/up/a.txt", "up", "a.txt"]
    for _ in range(2):
        read = stage_in([entry], str(task), mode, {})
    staged = task / "inputs" / "up" / "a.txt"
    assert staged.read_text() == "A" and staged.is_symlink() == (mode == "link")
    assert read == {"inputs/up/a.txt": content_hash(str(src))[0]}
    src.unlink()
    with pytest.raises(FileProblem, match=r"input inputs/up/a\.txt: up has no 'a\.txt'"):
        stage_in([entry], str(task), mode, {})


def test_list_outputs_keep_their_key_shape(spec_file):
    """Outputs declared as a list plan and serialise as before: the stage definition that
    task keys hash is unchanged, so runs made before mappings existed still resume."""
    path = spec_file(spec_text("a:\n  shell: x\n  outputs: [a.txt]\n"))
    plan = plan_of(path)
    assert plan.stages["a"].outputs == ("a.txt",) and plan.stages["a"].inputs == ()
    dumped = load_spec(path).workflow.stages["a"].model_dump(mode="json")
    assert dumped["outputs"] == ["a.txt"] and "environment" not in dumped
