"""Scenario 3, shell injection and paths.

Hostile values (`;`, `$(...)`, backticks, quotes, newlines, globs, leading dashes...) in every
interpolation site (shell commands through params set with --set and through sweep values, a
word glued to text, env values, python args) reach the command as exactly one argv item each,
verbatim, and execute nothing: a real `orch run` on the laptop site, the shell stage writes
its argv with `printf '%s\\0' ...`.

Outputs, includes, extends and task directories that would escape the run root (`..`,
absolute paths, symlinks, sweep values) are rejected before anything runs: exit 1, no run
directory, and the stage that would leave a marker never ran."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import UserError

from .conftest import journal, orch_env, wait_no_processes

pytestmark = pytest.mark.timeout(300)

HOSTILE = [
    "a; touch PWNED1", "$(touch PWNED2)", "`touch PWNED3`", "x && touch PWNED4 || true",
    "| touch PWNED5", "> PWNED6", "< /etc/passwd", "'single'", '"double"', "it's",
    'mixed \'" quotes', "line1\nline2\ttab", "*", "?", "[a-z]*", "~", "$HOME", "${HOME}",
    "-n", "--help", "-e", "-", "--", " leading and trailing ", "", "back\\slash", "!!",
    "#comment", "é ü 中文", "a=b", "{a,b}", "%s%n", "$((1+1))", "\\$(touch PWNED7)",
    "$'\\x41'", "IFS= ; touch PWNED8",
]


def _yaml_str(s: str) -> str:
    """A YAML double-quoted scalar (JSON) holding `s` literally (`$${` escapes `${`)."""
    return json.dumps(s.replace("${", "$${"), ensure_ascii=False)


def _spec(tmp: Path) -> Path:
    values = ", ".join(_yaml_str(v) for v in HOSTILE)
    (tmp / "argvdump.py").write_text(
        "import json\n\ndef dump(a, b, c):\n"
        "    with open('args.json', 'w') as f:\n"
        "        json.dump([a, b, c], f)\n"
        "    return {'ok': True}\n")
    text = f"""\
apiVersion: orchestrator/v1
name: inject
params:
  evil: {{type: str, default: "x"}}
stages:
  by_param:
    shell: "printf '%s\\\\0' ${{params.evil}} pre${{params.evil}}post > argv.bin"
    outputs: [argv.bin]
  by_sweep:
    shell: "printf '%s\\\\0' ${{sweep.v}} > argv.bin; printf '%s\\\\0' \\"$EVIL\\" > env.bin"
    env: {{EVIL: "${{sweep.v}}"}}
    sweep: {{values: {{v: [{values}]}}}}
    outputs: [argv.bin]
  by_env:
    shell: "printf '%s\\\\0' \\"$EVIL\\" > env.bin"
    env: {{EVIL: "${{params.evil}}"}}
  by_python:
    python: argvdump:dump
    args: {{a: "${{params.evil}}", b: "${{sweep.v}}", c: "pre-${{params.evil}}"}}
    sweep: {{values: {{v: [{values}]}}}}
"""
    path = tmp / "inject.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _argv(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data.endswith(b"\0"), data
    return data[:-1].decode().split("\0")


def _markers(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("PWNED*"))


def _run(tmp: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", "run", *args, "-q"],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp,
                          env=orch_env(tmp))


def test_hostile_values_reach_commands_as_single_argv_items(tmp_path, figure):
    spec = _spec(tmp_path)
    evil = ("a b; touch PWNED9 $(touch PWNED10) `touch PWNED11` \"q' \nl2 * -rf --x "
            "${HOME} ${params.evil} $${x}")  # --set values are data, never re-interpolated
    run_dir = tmp_path / "run"
    p = _run(tmp_path, str(spec), "--set", f"evil={evil}", "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr[-3000:]
    tasks = run_dir / "tasks"
    checked = 0
    assert _argv(tasks / "by_param" / "argv.bin") == [evil, f"pre{evil}post"]
    checked += 2
    assert _argv(tasks / "by_env" / "env.bin") == [evil]
    checked += 1
    done = {e["task"]: e for e in journal(run_dir) if e["ev"] == "task_done"}
    for i, v in enumerate(HOSTILE):
        d = tasks / f"by_sweep[{i}]"
        assert _argv(d / "argv.bin") == [v], (i, v)
        assert _argv(d / "env.bin") == [v], (i, v)
        got = json.loads((tasks / f"by_python[{i}]" / "args.json").read_text())
        assert got == [evil, v, f"pre-{evil}"], (i, v)
        assert done[f"by_python[{i}]"]["result"] == {"ok": True}
        checked += 5
    assert _markers(tmp_path) == [], "a hostile value executed"
    assert not wait_no_processes(str(run_dir))
    figure(f"{len(HOSTILE) + 1} hostile values x 5 interpolation sites (--set param in a shell "
           f"command and glued inside a word, sweep value, env value, python args): {checked}/"
           f"{checked} arrived as exactly one verbatim argv item/value, 0 commands injected",
           values=len(HOSTILE) + 1, checks=checked, injected=0)


# ---------------------------------------------------------------- paths

ESCAPES: dict[str, tuple[str, dict[str, str], list[str]]] = {
    # name: (spec text, extra files, --set args)
    "output ..": ("outputs: [../escape.txt]", {}, []),
    "output nested ..": ("outputs: [a/../../escape.txt]", {}, []),
    "output absolute": ("outputs: [/tmp/escape.txt]", {}, []),
    "output home": ("outputs: [~/escape.txt]", {}, []),
    "output backslash ..": ("outputs: ['..\\\\escape.txt']", {}, []),
    "output from --set": ("outputs: ['${params.out}']", {}, ["--set", "out=../../escape"]),
    "output from a sweep value": (
        "outputs: ['${sweep.f}']\n    sweep: {values: {f: [ok.txt, ../../escape.txt]}}", {}, []),
    "output from sweep values combined": (
        "outputs: ['${sweep.a}/${sweep.b}']\n    sweep: {values: {a: ['..', x], b: [y]}}", {},
        []),
}
INCLUDES: dict[str, tuple[str, str]] = {
    # name: (top-level key line, how the referenced file is made)
    "include ..": ("include: [../outside/part.yaml]", "outside"),
    "include absolute": ("include: [{outside}/part.yaml]", "outside"),
    "include symlink to outside": ("include: [link.yaml]", "symlink"),
    "include dir symlink": ("include: [linkdir/part.yaml]", "dirlink"),
    "extends ..": ("extends: ../outside/part.yaml", "outside"),
    "extends symlink to outside": ("extends: link.yaml", "symlink"),
}
PART = "stages:\n  sneaky:\n    shell: touch {marker}\n"


def _rejected(tmp: Path, wf: Path, extra: list[str]) -> tuple[str, str]:
    run_dir = tmp / f"run-{wf.stem}"
    p = _run(tmp, str(wf), *extra, "--run-dir", str(run_dir), timeout=120)
    assert p.returncode == 1, (wf.name, p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr
    first = p.stderr.strip().splitlines()[0]
    assert first.split(":", 1)[0].endswith(wf.name), first  # located in the spec
    assert re.match(r"^[^:]+:\d+:\d+: error: ", first), first
    assert not run_dir.exists(), f"{wf.name}: a run directory was created"
    return first, p.stderr


def test_escaping_paths_are_rejected_before_anything_runs(tmp_path, figure):
    work = tmp_path / "wf"
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = tmp_path / "MARKER-ran"
    (outside / "part.yaml").write_text(PART.format(marker=marker))
    os.symlink(outside / "part.yaml", work / "link.yaml")
    os.symlink(outside, work / "linkdir")
    head = ("apiVersion: orchestrator/v1\nname: esc\nparams:\n  out: {type: str, default: ok}\n")
    rows = []
    for i, (name, (stage_extra, _, sets)) in enumerate(ESCAPES.items()):
        wf = work / f"out{i}.yaml"
        wf.write_text(head + f"stages:\n  first:\n    shell: touch {marker}\n"
                      f"  s:\n    shell: touch ok.txt\n    {stage_extra}\n")
        first, _ = _rejected(tmp_path, wf, sets)
        rows.append(f"{name}: {first}")
    for i, (name, (line, _)) in enumerate(INCLUDES.items()):
        wf = work / f"inc{i}.yaml"
        wf.write_text(head + line.format(outside=outside) + "\n"
                      + f"stages:\n  first:\n    shell: touch {marker}\n")
        first, _ = _rejected(tmp_path, wf, [])
        rows.append(f"{name}: {first}")
    # task directories come from stage names: a name that is a path is not a stage name
    wf = work / "name.yaml"
    wf.write_text(head + f'stages:\n  first:\n    shell: touch {marker}\n  "../up":\n'
                  "    shell: echo\n")
    first, _ = _rejected(tmp_path, wf, [])
    rows.append(f"stage name ../up: {first}")
    assert not marker.exists(), "a stage ran"
    assert not list(tmp_path.rglob("escape*")), "something was written outside"
    figure(f"{len(rows)} escaping paths (outputs via .., absolute, ~, backslash, --set, sweep "
           f"values; includes/extends via .., absolute, file and directory symlinks; a stage "
           f"name that is a path): all rejected with a located error, exit 1, no run directory, "
           f"nothing ran", cases=len(rows), rows=rows)


def test_sweep_output_escape_is_a_plan_error(tmp_path):
    """Regression: a sweep value in `outputs` used to escape the task directory unnoticed."""
    from orchestrator.plan.build import build_plan
    from orchestrator.site.load import load_site
    from orchestrator.spec.load import load_spec

    wf = tmp_path / "wf.yaml"
    wf.write_text("apiVersion: orchestrator/v1\nname: o\nstages:\n  s:\n    shell: touch x\n"
                  "    outputs: ['out/${sweep.f}']\n"
                  "    sweep: {values: {f: [a.txt, ../../b.txt, c.txt]}}\n")
    with pytest.raises(UserError) as info:
        build_plan(load_spec(wf), load_site("laptop"))
    [d] = info.value.diagnostics
    assert (d.loc.line, d.loc.col) == (6, 15)
    assert "leaves the task directory" in d.message and "sweep point 1" in d.message
    wf.write_text(wf.read_text().replace("../../b.txt", "b.txt"))
    assert build_plan(load_spec(wf), load_site("laptop")).task_count == 3


def test_placeholders_inside_values_stay_data(tmp_path):
    """Regression: a --set value containing `${...}` crashed `orch run` (exit 70) when the
    shell command was rendered per sweep point, and `${sweep.v}` inside it was substituted;
    a `$${x}` escape in a sweep value reached the command as `$${x}`."""
    from orchestrator.backends.payload import render_value
    from orchestrator.plan.build import build_plan
    from orchestrator.site.load import load_site
    from orchestrator.spec.load import load_spec

    wf = tmp_path / "wf.yaml"
    wf.write_text("apiVersion: orchestrator/v1\nname: o\nparams:\n  p: {type: str, default: x}\n"
                  "stages:\n  s:\n    shell: echo ${params.p} ${sweep.v} $${HOME}\n"
                  "    env: {E: '${params.p}'}\n"
                  "    sweep: {values: {v: ['$${HOME}', plain]}}\n")
    value = "${HOME} ${sweep.v} $${x} ${params.p}"
    spec = load_spec(wf, {"p": value})
    plan = build_plan(spec, load_site("laptop"))
    stage = spec.workflow.stages["s"]
    points = [t.point for t in plan.stages["s"].tasks]
    assert points == [{"v": "${HOME}"}, {"v": "plain"}]
    import shlex

    for point in points:
        command = render_value(stage.shell, point, quote=True)
        assert shlex.split(command) == ["echo", value, point["v"], "${HOME}"]
        assert render_value(stage.env, point) == {"E": value}
