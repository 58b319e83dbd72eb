"""Files between stages, run for real: staged upstream outputs, fan-in, output checks,
and a resume that re-runs exactly the readers of a changed file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from needs import require

from .conftest import REPO, journal, orch

SITES = ["laptop", pytest.param("local-slurm", marks=pytest.mark.slurm)]


def _events(run_dir: Path, *kinds: str) -> dict[str, dict]:
    return {r["task"]: r for r in journal(run_dir) if r["ev"] in kinds}


@pytest.mark.parametrize("site", SITES)
def test_fan_in_of_100_files(tmp_path, wf, site):
    n = 100 if site == "laptop" else 20
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "files.yaml"), "--site", site, "--set", f"n={n}",
             "--run-dir", str(run_dir), "-q", timeout=600)
    assert p.returncode == 0, p.stderr + p.stdout
    done = _events(run_dir, "task_done")
    assert len(done) == 2 * n + 2
    # each square task read the file of its own sweep point, staged as a link
    staged = run_dir / "tasks" / "square[7]" / "inputs" / "make[7]" / "part.txt"
    assert staged.is_symlink() and staged.read_text() == "7\n"
    assert os.readlink(staged) == str(run_dir / "tasks" / "make[7]" / "part.txt")
    assert list((run_dir / "tasks" / "square[7]" / "inputs").iterdir()) == [staged.parent]
    # the fan-in saw every point's file, in task order
    gathered = (run_dir / "tasks" / "gather" / "all.txt").read_text().split()
    assert gathered == [str(i * i) for i in range(n)]
    assert len(list((run_dir / "tasks" / "gather" / "inputs").iterdir())) == n
    check = done["check"]["result"]
    assert check == {"total": sum(i * i for i in range(n)), "lines": n, "parts": n,
                     "path": "inputs/gather/all.txt", "is_link": True,
                     "first": "inputs/square[0]/sq.txt"}
    # producers record what they wrote, readers what they read: the same content hash
    wrote = done["square[3]"]["files"]["sq.txt"][0]
    assert done["gather"]["inputs"]["inputs/square[3]/sq.txt"] == wrote
    # a matched reader waits for its own producer only: square[0] may start before make[n-1]
    plan = json.loads((run_dir / "plan.json").read_text())
    needs = {t["id"]: t["needs"] for t in plan["tasks"]}
    assert needs["square[5]"] == ["make[5]"]
    assert len(needs["gather"]) == n


def test_changed_upstream_file_reruns_only_its_descendants(tmp_path, wf):
    run_dir = tmp_path / "run"
    args = ("--site", "laptop", "--set", "n=6")
    p = orch("run", str(wf / "files.yaml"), *args, "--run-dir", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    before = len(journal(run_dir))
    (run_dir / "tasks" / "make[4]" / "part.txt").write_text("10\n")  # edited by hand
    p = orch("run", str(wf / "files.yaml"), *args, "--resume", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    assert "file tasks/make[4]/part.txt differs from what make[4] wrote" in p.stderr
    assert "3 of 14 task(s) that finished before will run again: square[4], gather, check" \
        in p.stderr
    later = journal(run_dir)[before:]
    ran = {r["task"] for r in later if r["ev"] == "task_done"}
    cached = {r["task"] for r in later if r["ev"] == "task_cached"}
    assert ran == {"square[4]", "gather", "check"}
    assert cached == {f"make[{i}]" for i in range(6)} | {f"square[{i}]" for i in range(6)
                                                          if i != 4}
    assert (run_dir / "tasks" / "gather" / "all.txt").read_text().split()[4] == "100"
    # a second resume with nothing changed runs nothing
    before = len(journal(run_dir))
    p = orch("run", str(wf / "files.yaml"), *args, "--resume", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    assert not [r for r in journal(run_dir)[before:] if r["ev"] == "task_done"]


def _spec(tmp_path: Path, stages: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text("apiVersion: orchestrator/v1\nname: t\nstages:\n" + stages)
    return path


def test_missing_output_fails_the_task_naming_the_file(tmp_path):
    spec = _spec(tmp_path, """\
  make:
    shell: "echo hi > other.txt"
    outputs: {model: model.pt}
  use:
    needs: [make]
    shell: "cat ${stages.make.outputs.model}"
""")
    run_dir = tmp_path / "run"
    p = orch("run", str(spec), "--site", "laptop", "--run-dir", str(run_dir), "-q")
    assert p.returncode == 3, p.stderr
    failed = _events(run_dir, "task_failed")
    assert "declared outputs missing: model.pt" in failed["make"]["error"]
    assert "use" in _events(run_dir, "task_dep_failed")


def test_output_linking_outside_the_task_directory_fails(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    spec = _spec(tmp_path, f"""\
  leak:
    shell: "ln -s {secret} out.txt"
    outputs: [out.txt]
""")
    run_dir = tmp_path / "run"
    p = orch("run", str(spec), "--site", "laptop", "--run-dir", str(run_dir), "-q")
    assert p.returncode == 3, p.stderr
    error = _events(run_dir, "task_failed")["leak"]["error"]
    assert "link outside" in error and f"out.txt -> {secret}" in error


def test_copy_staging_where_links_do_not_resolve(tmp_path, wf):
    site = (REPO / "site-configs" / "laptop.yaml").read_text()
    site_file = tmp_path / "copying.yaml"
    site_file.write_text(site.replace("name: laptop", "name: copying", 1)
                         + "\nstage_inputs: copy\n")
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "files.yaml"), "--site", str(site_file), "--set", "n=3",
             "--run-dir", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    staged = run_dir / "tasks" / "square[2]" / "inputs" / "make[2]" / "part.txt"
    assert staged.is_file() and not staged.is_symlink() and staged.read_text() == "2\n"
    p = orch("plan", str(wf / "files.yaml"), "--site", str(site_file), "--set", "n=3")
    assert "files (staged into each task's directory: copies)" in p.stdout


def test_readme_files_pipeline(tmp_path):
    """The README's tour workflow: executables reading each other's files."""
    run_dir = tmp_path / "run"
    p = orch("run", str(REPO / "workflows" / "files-pipeline" / "workflow.yaml"), "--site",
             "laptop", "--run-dir", str(run_dir), "-q")
    assert p.returncode == 0, p.stderr
    lines = (run_dir / "tasks" / "summary" / "summary.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == [f"inputs/decay[{i}]/u.txt" for i in range(4)]
    assert float(lines[0].split()[1]) == pytest.approx(0.606531)  # exp(-0.01 * 50)


@pytest.mark.parametrize("site", ["laptop", "podman",
                                  pytest.param("local-slurm", marks=pytest.mark.slurm)])
def test_executable_sweep_template_moves_between_sites(tmp_path, site):
    """The template's solver (an executable reading the mesh stage's file, in the site's
    `solver` environment) gives the same numbers with each site's meaning of `solver`:
    variables on the laptop and Slurm, a container image under podman."""
    site_arg = site
    if site == "podman":
        from .test_environments_run import IMAGE, _podman_problem

        require(_podman_problem())
        text = (REPO / "site-configs" / "laptop.yaml").read_text()
        assert "    env: {LC_ALL: C}\n" in text
        site_file = tmp_path / "podman.yaml"
        site_file.write_text(text.replace("name: laptop", "name: laptop-podman", 1).replace(
            "    env: {LC_ALL: C}\n", f'    container: {{image: "{IMAGE}"}}\n', 1))
        site_arg = str(site_file)
    run_dir = tmp_path / "run"
    template = REPO / "workflows" / "templates" / "executable-sweep" / "template.yaml"
    p = orch("run", str(template), "--site", site_arg, "--set", "n_cases=3",
             "--run-dir", str(run_dir), "-q", timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout
    last = (run_dir / "tasks" / "collect" / "last.txt").read_text().split("\n")
    values = [float(line.split()[1]) for line in last if line]
    expected = [(1 - 0.1 * (k + 1) * 0.1) ** 100 for k in range(3)]
    assert values == pytest.approx(expected, rel=1e-5)
    staged = run_dir / "tasks" / "solve[1]" / "inputs" / "mesh" / "mesh.txt"
    assert staged.is_symlink()
