"""The `orch` command line: exit codes, output formats and the JSON plan contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    FIXTURES,
    REPO,
    SITE_CONFIGS,
    assert_clean_failure,
    cli_env,
    orch,
    run_cli,
    write,
)

from orchestrator import __version__

FAN_IN = FIXTURES / "workflows" / "fan-in.yaml"


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    res = run_cli("plan", FAN_IN, "--site", "laptop", "--format", "json", cwd=tmp)
    assert res.rc == 0, res.stderr
    assert res.stderr == ""
    return res.json()


# ---------------------------------------------------------------- exit codes


def test_version():
    res = run_cli("--version")
    assert res.rc == 0
    assert res.stdout.strip() == f"orch {__version__}"


def test_validate_ok(tmp_path):
    res = orch("validate", FAN_IN)
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == f"ok: {FAN_IN}: workflow 'fan-in': 4 stage(s)"
    res = orch("validate", FAN_IN, "--site", "local-slurm")
    assert res.rc == 0, res.stderr
    assert res.stdout.strip().endswith("4 stage(s), 7 task(s) fit site 'local-slurm'")


def test_validate_warns_about_fallbacks(tmp_path):
    res = orch("validate", FAN_IN, "--site", "laptop")
    assert res.rc == 0
    assert "warning: stage 'train': site 'laptop' has no gpu pool; running on 'cpu' (cpu)" \
        in res.stdout


def test_validate_json(tmp_path):
    res = orch("validate", FAN_IN, "--site", "laptop", "--format", "json")
    assert res.rc == 0
    doc = res.json()
    assert doc["ok"] is True and doc["workflow"] == "fan-in" and doc["stages"] == 4
    assert doc["tasks"] == 7 and doc["site"] == "laptop"
    assert doc["params"] == {"n": 4, "label": "demo run"}
    assert doc["diagnostics"] == [] and len(doc["warnings"]) == 1


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_errors_as_json(tmp_path, command):
    bad = write(tmp_path / "bad.yaml", """
        apiVersion: orchestrator/v1
        name: bad
        stages:
          a:
            shell: echo
            needs: [b]
    """)
    res = run_cli(command, bad.name, "--format", "json", cwd=tmp_path)
    assert_clean_failure(res)
    doc = res.json()
    assert doc == {"ok": False, "diagnostics": [{
        "file": "bad.yaml", "line": 6, "col": 13, "severity": "error",
        "path": "stages.a.needs[0]", "message": "unknown stage 'b'", "hint": None}]}
    assert res.diag_lines == ["bad.yaml:6:13: error: stages.a.needs[0]: unknown stage 'b'"]


@pytest.mark.parametrize("args", [
    ["bogus"],
    ["validate"],
    ["plan"],
    ["plan", str(FAN_IN), "--format", "yaml"],
    ["validate", str(FAN_IN), "--no-such-flag"],
    ["schema", "bogus"],
    [],
])
def test_usage_errors_exit_2(args):
    res = run_cli(*args)
    assert_clean_failure(res, 2)
    assert "usage: orch" in res.stderr


def test_nonexistent_file(tmp_path):
    for cmd in (["validate"], ["plan", "--site", "laptop"]):
        res = run_cli(cmd[0], "missing.yaml", *cmd[1:], cwd=tmp_path)
        assert_clean_failure(res)
        assert res.diag_lines == ["<input>: error: missing.yaml: no such file"]


def test_a_directory_is_not_a_workflow(tmp_path):
    (tmp_path / "d.yaml").mkdir()
    res = run_cli("validate", "d.yaml", cwd=tmp_path)
    assert_clean_failure(res)


def test_unknown_site(tmp_path):
    res = run_cli("plan", FAN_IN, "--site", "nope", cwd=tmp_path)
    assert_clean_failure(res)
    assert res.diag_lines == [
        "<input>: error: --site: 'nope': no such file or shipped site "
        "(shipped sites: aurora-like, gpu-cluster, laptop, local-slurm, xpu-cluster)"]


def test_unknown_site_is_a_user_error(tmp_path):
    res = orch("plan", FAN_IN, "--site", "nope")
    assert_clean_failure(res)
    assert "'nope': no such file or shipped site" in res.stderr


def test_spec_and_site_errors_are_reported_together(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.yaml", "apiVersion: orchestrator/v1\nname: bad\nstages: {}\n")
    write(tmp_path / "site.yaml", """
        apiVersion: orchestrator/v1
        name: broken
        scheduler: slurm
        pools:
          gpu:
            device: gpu
    """)
    res = orch("plan", "bad.yaml", "--site", "site.yaml")
    assert res.rc == 1
    assert len(res.diag_lines) == 2
    assert res.diag_lines[0].startswith("bad.yaml:3:9: error: stages: ")
    assert res.diag_lines[1] == (
        "site.yaml:6:5: error: pools.gpu: a gpu pool needs accelerators_per_node >= 1")


def test_validate_a_site_config(tmp_path):
    res = orch("validate", SITE_CONFIGS / "local-slurm.yaml")
    assert res.rc == 0, res.stderr
    assert "site 'local-slurm' (slurm), pools: cpu (cpu), gpu (gpu), xpu (xpu)" in res.stdout


@pytest.mark.parametrize("name", ["laptop", "local-slurm", "gpu-cluster", "xpu-cluster"])
def test_shipped_sites_load(name):
    from orchestrator.site.load import load_site

    loaded = load_site(name)
    assert loaded.site.name == name
    assert loaded.path == SITE_CONFIGS / f"{name}.yaml"


# ---------------------------------------------------------------- plan --format json


def test_plan_json_contract(plan_json):
    doc = plan_json
    for key in ("workflow", "site", "tasks", "summary", "stages", "params", "sources", "warnings"):
        assert key in doc
    assert doc["workflow"] == "fan-in" and doc["site"] == "laptop"
    assert doc["params"] == {"n": 4, "label": "demo run"}
    summary = doc["summary"]
    for key in ("tasks", "stages", "node_hours", "gpu_hours"):
        assert key in summary
    assert summary["tasks"] == len(doc["tasks"]) == 7
    assert summary["stages"] == 4
    assert isinstance(summary["node_hours"], float) and summary["node_hours"] > 0
    assert summary["gpu_hours"] == 0.0  # train falls back to the cpu pool on a laptop
    for task in doc["tasks"]:
        for key in ("id", "stage", "needs", "pool", "resources", "device_mask"):
            assert key in task, (key, task)
        assert isinstance(task["needs"], list)
        assert isinstance(task["device_mask"], dict)
        assert {"device", "cores", "gpus", "walltime"} <= set(task["resources"])
    assert [t["id"] for t in doc["tasks"]] == [
        "prepare", "work[0]", "work[1]", "work[2]", "work[3]", "train", "report"]


def test_plan_json_needs_are_task_ids_in_order(plan_json):
    tasks = {t["id"]: t for t in plan_json["tasks"]}
    work = [f"work[{i}]" for i in range(4)]
    assert tasks["prepare"]["needs"] == []
    assert all(tasks[w]["needs"] == ["prepare"] for w in work)
    assert tasks["train"]["needs"] == work  # fan-in: every task of the swept stage
    assert tasks["report"]["needs"] == [*work, "train"]
    seen: set[str] = set()
    for t in plan_json["tasks"]:  # tasks come in dependency order
        assert set(t["needs"]) <= seen
        seen.add(t["id"])
    assert [tasks[w]["sweep"] for w in work] == [{"i": i} for i in range(4)]


def test_plan_json_masks_and_fallback(plan_json):
    tasks = {t["id"]: t for t in plan_json["tasks"]}
    assert tasks["train"]["device_mask"] == {"CUDA_VISIBLE_DEVICES": ""}
    assert tasks["train"]["pool"] == "cpu"
    assert tasks["work[0]"]["device_mask"] == {}
    train = next(s for s in plan_json["stages"] if s["name"] == "train")
    assert train["fallback"] is True and train["requested_device"] == "gpu"
    assert plan_json["warnings"] == [
        "stage 'train': site 'laptop' has no gpu pool; running on 'cpu' (cpu)"]


def test_plan_json_on_a_gpu_site(tmp_path):
    res = orch("plan", FAN_IN, "--site", "local-slurm", "--format", "json", "--set", "n=6")
    assert res.rc == 0, res.stderr
    doc = res.json()
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert tasks["train"]["device_mask"] == {"CUDA_VISIBLE_DEVICES": "0"}
    assert tasks["train"]["pool"] == "gpu"
    assert tasks["train"]["resources"]["gpus"] == 1
    assert tasks["train"]["resources"]["memory"] == "1GiB"
    assert doc["summary"]["tasks"] == 9
    assert doc["summary"]["gpu_hours"] == 0.5
    assert doc["warnings"] == []


# ---------------------------------------------------------------- other formats


def test_plan_dot_and_mermaid_have_the_edges(tmp_path):
    dot = orch("plan", FAN_IN, "--site", "laptop", "--format", "dot")
    assert dot.rc == 0
    assert dot.stdout.startswith('digraph "fan-in" {')
    edges = set(re.findall(r'"(\w+)" -> "(\w+)";', dot.stdout))
    assert edges == {("prepare", "work"), ("work", "train"), ("work", "report"),
                     ("train", "report")}
    assert "4 tasks on cpu (cpu)" in dot.stdout
    mermaid = orch("plan", FAN_IN, "--site", "laptop", "--format", "mermaid")
    assert mermaid.rc == 0
    assert mermaid.stdout.startswith("flowchart LR\n")
    assert set(re.findall(r"^  s_(\w+) --> s_(\w+)$", mermaid.stdout, re.M)) == edges


def test_plan_dot_and_mermaid_show_loops(spec_file):
    path = spec_file("""\
apiVersion: orchestrator/v1
name: al
stages:
  train: {shell: echo}
  pick: {shell: echo, needs: [train]}
loops:
  active:
    stages: [train, pick]
    max_iterations: 4
    until: {stage: pick, metric: err, op: "<", value: 0.1}
    feedback: [{from: pick, to: train}]
""")
    dot = orch("plan", path, "--format", "dot").stdout
    assert 'subgraph "cluster_active"' in dot and "max 4" in dot
    assert '"pick" -> "train" [style=dashed, label="next iteration"];' in dot
    mermaid = orch("plan", path, "--format", "mermaid").stdout
    assert "  s_pick -. next iteration .-> s_train" in mermaid
    text = " ".join(orch("plan", path).stdout.split())  # Rich wraps long lines
    assert "loop active: train, pick (until pick.err < 0.1, max 4; feedback pick -> next train)" \
        in text


def test_plan_text(tmp_path):
    res = orch("plan", FAN_IN, "--site", "laptop")
    assert res.rc == 0
    for needle in ("workflow fan-in", "site laptop (local)", "work[0]", "i=0", "prepare -> work[4]",
                   "work, train -> report", "total 7 tasks in 4 stages"):
        assert needle in res.stdout, needle
    assert "warning:" in res.stdout


# ---------------------------------------------------------------- --scripts


def test_scripts_on_local_slurm(tmp_path):
    out = tmp_path / "scripts"
    res = orch("plan", FAN_IN, "--site", "local-slurm", "--scripts", out)
    assert res.rc == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["cpu.sbatch", "gpu.sbatch"]
    assert f"wrote {out / 'gpu.sbatch'}" in res.stdout
    gpu = (out / "gpu.sbatch").read_text()
    cpu = (out / "cpu.sbatch").read_text()
    assert gpu.startswith("#!/bin/bash\n")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gres=gpu:4", "#SBATCH --time=30",
                 "#SBATCH --nodes=1", "#SBATCH --mem=4096M", "#SBATCH --job-name=orch.fan-in.gpu"):
        assert line in gpu.splitlines(), line
    assert "#SBATCH --partition=cpu" in cpu.splitlines()
    assert "--gres" not in cpu
    assert "# stage train: 1 task(s), masks: CUDA_VISIBLE_DEVICES=0" in gpu
    assert (out / "gpu.sbatch").stat().st_mode & 0o111  # executable


def test_scripts_json_lists_them(tmp_path):
    out = tmp_path / "s"
    res = orch("plan", FAN_IN, "--site", "gpu-cluster", "--format", "json", "--scripts", out)
    assert res.rc == 0, res.stderr
    assert sorted(res.json()["scripts"]) == [str(out / "cpu.sbatch"), str(out / "gpu.sbatch")]
    gpu = (out / "gpu.sbatch").read_text().splitlines()
    for line in ("#SBATCH --account=my-project", "#SBATCH --qos=normal", "#SBATCH --gres=gpu:4",
                 "#SBATCH --time=240", "#SBATCH --nodes=1"):
        assert line in gpu, line


def test_scripts_for_an_xpu_pool(spec_file):
    path = spec_file("apiVersion: orchestrator/v1\nname: x\nstages:\n"
                     "  s: {shell: echo, resources: {device: xpu}}\n")
    res = orch("plan", path, "--site", "xpu-cluster", "--scripts", "out")
    assert res.rc == 0, res.stderr
    script = Path("out/xpu.sbatch").read_text().splitlines()
    for line in ("#SBATCH --partition=workq", "#SBATCH --constraint=xpu", "#SBATCH --nodes=2",
                 "#SBATCH --time=120"):
        assert line in script, line
    assert not any(ln.startswith("#SBATCH --gres") for ln in script)


def test_scripts_on_laptop_write_nothing(tmp_path):
    out = tmp_path / "scripts"
    res = orch("plan", FAN_IN, "--site", "laptop", "--scripts", out)
    assert res.rc == 0, res.stderr
    assert "site 'laptop' is not a Slurm site: no batch scripts to write" in res.stdout
    assert not out.exists() or not any(out.iterdir())


def test_scripts_into_a_file_is_a_user_error(tmp_path):
    (tmp_path / "afile").write_text("")
    res = run_cli("plan", FAN_IN, "--site", "local-slurm", "--scripts", "afile", cwd=tmp_path)
    assert res.rc in (1, 2)
    assert "internal error" not in res.stderr


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize(("kind", "props"), [
    ("workflow", {"apiVersion", "name", "params", "stages", "loops", "include", "extends"}),
    ("site", {"apiVersion", "name", "scheduler", "pools", "fallbacks"}),
])
def test_schema(kind, props):
    res = orch("schema", kind)
    assert res.rc == 0
    schema = json.loads(res.stdout)
    assert props <= set(schema["properties"])
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"  # what editors read
    assert schema["title"] == f"orchestrator {kind}"


def test_schema_defaults_to_workflow():
    assert json.loads(orch("schema").stdout)["title"] == "orchestrator workflow"


# ---------------------------------------------------------------- pipes


@pytest.mark.parametrize("fmt", [
    "json", "dot", "text",
])
def test_closed_stdout_is_not_an_error(tmp_path, fmt):
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "plan", str(FAN_IN),
                             "--site", "laptop", "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env=cli_env(tmp_path))
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "internal error" not in err


def test_module_and_script_entry_points_agree(tmp_path):
    orch = REPO / ".venv" / "bin" / "orch"
    if not orch.exists():
        pytest.skip("no orch script in .venv")
    a = subprocess.run([str(orch), "--version"], capture_output=True, text=True)
    assert a.stdout == run_cli("--version").stdout


def test_lone_surrogate_escape_is_not_a_crash(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "apiVersion: orchestrator/v1\nname: s\nstages:\n  a:\n    shell: echo\n"
        '    sweep: {values: {i: ["' + "\\" + 'ud800"]}}\n')
    res = run_cli("plan", "s.yaml", "--site", "laptop", cwd=tmp_path)
    assert res.rc in (0, 1), res.stderr
    assert "internal error" not in res.stderr


@pytest.mark.parametrize("value", ["[/]", "[red]x"])
def test_plan_text_prints_param_values_literally(spec_file, value):
    path = spec_file("apiVersion: orchestrator/v1\nname: m\nparams:\n"
                     f"  label: '{value}'\nstages:\n  a: {{shell: echo}}\n")
    res = run_cli("plan", path, "--site", "laptop", cwd=".")
    assert res.rc == 0, res.stderr
    assert f"label='{value}'" in res.stdout


def test_mermaid_node_ids_avoid_reserved_words(spec_file):
    path = spec_file("apiVersion: orchestrator/v1\nname: m\nstages:\n"
                     "  end: {shell: echo}\n  b: {shell: echo, needs: [end]}\n")
    res = orch("plan", path, "--format", "mermaid")
    assert res.rc == 0
    ids = re.findall(r"^\s+(\w+)\[", res.stdout, re.M)
    ids += [w for edge in re.findall(r"^\s+(\w+) --> (\w+)$", res.stdout, re.M) for w in edge]
    assert ids and "end" not in ids
