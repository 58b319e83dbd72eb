"""`orch site init` as a command: fake `sinfo`/`scontrol`/`srun`/`sacctmgr` on PATH print
captured output (tests/fixtures/slurm/), so the real subprocess path runs without Slurm."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import FIXTURES, SITE_CONFIGS, assert_clean_failure, orch, write

from orchestrator.site.load import load_site, load_site_text

SLURM = FIXTURES / "slurm"
ANSWERS = {
    "sinfo": {"--version": "sinfo-version.txt"},
    "scontrol": {"--oneliner show partition": "scontrol-show-partition.txt",
                 "--oneliner show node": "scontrol-show-node.txt",
                 "show config": "scontrol-show-config.txt"},
    "srun": {"--mpi=list": "srun-mpi-list.txt"},
    "sacctmgr": {"--noheader --parsable2 show user": "sacctmgr-show-user.txt"},
}


def fake_slurm(bindir: Path, cluster: str, fail: dict[str, str] | None = None,
               hang: str | None = None) -> Path:
    """Scripts that answer as the captured cluster did; `fail` maps a command to the
    stderr it exits 1 with, `hang` is a command that sleeps."""
    bindir.mkdir(parents=True, exist_ok=True)
    for cmd, answers in ANSWERS.items():
        lines = ["#!/bin/sh"]
        if cmd == hang:
            lines.append("exec /bin/sleep 5")
        if fail and cmd in fail:
            lines += [f"echo {shlex.quote(fail[cmd])} >&2", "exit 1"]
        lines.append('case "$*" in')
        for args, name in answers.items():
            path = SLURM / cluster / name
            if path.is_file():
                lines.append(f'  "{args}"*) exec /bin/cat {shlex.quote(str(path))} ;;')
        lines += ['  *) echo "fake $0: no answer for: $*" >&2; exit 1 ;;', "esac"]
        script = bindir / cmd
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)
    return bindir


@pytest.fixture
def slurm_on_path(tmp_path, monkeypatch):
    def make(cluster="local", **kw):
        monkeypatch.setenv("PATH", str(fake_slurm(tmp_path / "bin", cluster, **kw)))
    return make


def lines_kept(before: str, after: str) -> bool:
    """Every line of `before` is in `after`, in the same order."""
    rest = iter(after.splitlines())
    return all(any(line == other for other in rest) for line in before.splitlines())


# ---------------------------------------------------------------- errors


def test_no_sinfo_on_path_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    res = orch("site", "init")
    assert_clean_failure(res)
    assert "no scheduler found: `sinfo` is not on PATH (Slurm), nor are `qstat`" in res.stderr
    assert res.stdout == ""


def test_a_failing_scheduler_command_is_named_with_its_stderr(slurm_on_path):
    slurm_on_path(fail={"scontrol": "slurm_load_partitions: Unable to contact slurm "
                                    "controller (connect failure)"})
    res = orch("site", "init")
    assert_clean_failure(res)
    assert ("`scontrol --oneliner show partition` failed (exit 1): slurm_load_partitions: "
            "Unable to contact slurm controller (connect failure)") in res.stderr


def test_a_hanging_scheduler_command_times_out(slurm_on_path, monkeypatch):
    from orchestrator.schedulers import probe

    monkeypatch.setattr(probe, "TIMEOUT_S", 0.5)
    slurm_on_path(hang="scontrol")
    res = orch("site", "init")
    assert_clean_failure(res)
    assert "`scontrol --oneliner show partition` did not answer in 0.5 s" in res.stderr


def test_missing_accounting_and_mpi_list_are_not_errors(slurm_on_path):
    slurm_on_path(fail={"srun": "srun: error: no", "sacctmgr": "accounting disabled"})
    res = orch("site", "init")
    assert res.rc == 0, res.stderr
    assert "srun --mpi=list: unknown" in re.sub(r"\n *# ", " ", res.stdout)
    assert "slurm: {account: ..., qos: ...}" in res.stdout   # no default account found


@pytest.mark.parametrize("args, message", [
    (["--pools", "cpu,gpus"], "--pools: no pool named 'gpus' on this cluster (did you mean 'gpu'?"),
    (["--name", "9lives"], "--name '9lives': a site name is a letter"),
    (["--merge", "nosuch.yaml"], "--merge nosuch.yaml: no such file"),
])
def test_bad_options_are_clean_errors(slurm_on_path, args, message):
    slurm_on_path()
    res = orch("site", "init", *args)
    assert_clean_failure(res)
    assert message in res.stderr


def test_site_needs_an_action():
    res = orch("site")
    assert res.rc == 2 and "Traceback" not in res.stderr


# ---------------------------------------------------------------- output


def test_stdout_by_default_and_it_validates(slurm_on_path, tmp_path):
    slurm_on_path()
    res = orch("site", "init")
    assert res.rc == 0, res.stderr
    site = load_site_text(res.stdout, tmp_path / "s.yaml").site
    assert [(n, p.device) for n, p in site.pools.items()] == [
        ("cpu", "cpu"), ("gpu", "gpu"), ("xpu", "xpu")]
    assert "Slurm 22.05.8, cluster localcluster" in res.stderr
    assert "wrote standard output" in res.stderr


def test_output_file_is_never_overwritten_without_force(slurm_on_path, tmp_path):
    slurm_on_path("hetero")
    out = tmp_path / "conf" / "hetero.yaml"
    res = orch("site", "init", "-o", out, "--pools", "standard,gpu,pvc", "--name", "lab")
    assert res.rc == 0, res.stderr
    loaded = load_site(out)
    assert loaded.site.name == "lab" and list(loaded.site.pools) == ["standard", "gpu", "pvc"]
    assert loaded.site.slurm.account == "proj-chem"
    assert f"orch validate {out}" in out.read_text()
    out.write_text("# mine\n")
    res = orch("site", "init", "-o", out)
    assert_clean_failure(res)
    assert "exists; pass --force" in res.stderr and out.read_text() == "# mine\n"
    assert orch("site", "init", "-o", out, "--force").rc == 0
    assert len(load_site(out).site.pools) == 6
    assert sorted(p.name for p in out.parent.iterdir()) == ["hetero.yaml"]  # no temp files


def test_output_to_a_directory_is_refused(slurm_on_path, tmp_path):
    slurm_on_path()
    res = orch("site", "init", "-o", tmp_path)
    assert_clean_failure(res)
    assert "is a directory" in res.stderr


def test_generated_site_plans_through_the_cli(slurm_on_path, tmp_path):
    slurm_on_path("hetero")
    out = tmp_path / "hetero.yaml"
    assert orch("site", "init", "-o", out).rc == 0
    assert orch("validate", out).rc == 0
    res = orch("plan", Path(__file__).parents[2] / "workflows/hello-sweep/workflow.yaml",
               "--site", out, "--format", "json")
    assert res.rc == 0, res.stderr
    assert {t["pool"] for t in res.json()["tasks"]} == {"standard"}


# ---------------------------------------------------------------- merge


def test_merge_into_the_shipped_local_site_adds_nothing_and_notes_differences(
        slurm_on_path, tmp_path):
    slurm_on_path()
    mine = tmp_path / "local-slurm.yaml"
    before = (SITE_CONFIGS / "local-slurm.yaml").read_text()
    mine.write_text(before)
    res = orch("site", "init", "--merge", mine)
    assert res.rc == 0, res.stderr
    assert mine.read_text() == before   # byte for byte
    assert "added: nothing" in res.stderr and "already there: cpu, gpu, xpu" in res.stderr
    assert ("pool cpu: the file says max_walltime: 01:00:00, Slurm now says 04:00:00 "
            "(kept as written)") in res.stderr


def test_merge_adds_new_partitions_and_keeps_every_line(slurm_on_path, tmp_path):
    slurm_on_path("hetero")
    mine = tmp_path / "gpu-cluster.yaml"
    before = (SITE_CONFIGS / "gpu-cluster.yaml").read_text()
    mine.write_text(before)
    res = orch("site", "init", "--merge", mine)
    assert res.rc == 0, res.stderr
    after = mine.read_text()
    assert lines_kept(before, after)
    site = load_site(mine).site
    assert list(site.pools) == ["cpu", "gpu", "standard", "debug", "bigmem", "gpu_shared", "pvc"]
    assert site.pools["gpu"].worker_init.startswith("module load")   # the user's pool as is
    assert "already there: gpu" in res.stderr
    assert "pool gpu: the file says cores_per_node: 64, Slurm now says 128" in res.stderr
    assert "max_walltime" not in res.stderr   # 24:00:00 in the file is Slurm's 1-00:00:00


def test_merge_inserts_before_the_next_top_level_key(slurm_on_path, tmp_path):
    slurm_on_path()
    mine = write(tmp_path / "mine.yaml", """
        apiVersion: orchestrator/v1
        kind: site
        name: mine
        scheduler: slurm
        pools:
            big:                  # my own name, 4-space indents
                device: cpu
                partition: cpu
                cores_per_node: 2

        # my environments
        environments:
          solver: {env: {LC_ALL: C}}
        """)
    before = mine.read_text()
    res = orch("site", "init", "--merge", mine)
    assert res.rc == 0, res.stderr
    after = mine.read_text()
    assert lines_kept(before, after)
    assert after.index("    gpu:\n        device: gpu") < after.index("# my environments")
    site = load_site(mine).site
    assert list(site.pools) == ["big", "gpu", "xpu"] and "solver" in site.environments


def test_merge_into_a_file_without_a_final_newline(slurm_on_path, tmp_path):
    slurm_on_path()
    mine = tmp_path / "mine.yaml"
    before = ("apiVersion: orchestrator/v1\nkind: site\nname: mine\nscheduler: slurm\n"
              "pools:\n  cpu:\n    device: cpu\n    partition: cpu  # mine")
    mine.write_text(before)
    res = orch("site", "init", "--merge", mine)
    assert res.rc == 0, res.stderr
    after = mine.read_text()
    assert after.startswith(before + "\n") and lines_kept(before, after)
    assert list(load_site(mine).site.pools) == ["cpu", "gpu", "xpu"]


def test_merge_renames_a_new_pool_whose_name_is_taken(slurm_on_path, tmp_path):
    slurm_on_path()
    mine = write(tmp_path / "mine.yaml", """
        apiVersion: orchestrator/v1
        kind: site
        name: mine
        scheduler: slurm
        pools:
          gpu: {device: cpu, partition: other, cores_per_node: 8}
        """)
    res = orch("site", "init", "--merge", mine, "-o", tmp_path / "out.yaml")
    assert res.rc == 0, res.stderr
    assert "gpu: {device: cpu, partition: other" in mine.read_text()   # -o: untouched
    pools = load_site(tmp_path / "out.yaml").site.pools
    assert list(pools) == ["gpu", "cpu", "gpu-2", "xpu"]
    assert pools["gpu-2"].partition == "gpu" and pools["gpu-2"].device == "gpu"


@pytest.mark.parametrize("text, message", [
    ("pools: {cpu: {device: cpu, partition: cpu, cores_per_node: 2}}\n",
     "is not a block mapping"),
    ("pools:\n  cpu: {device: cpu}\nscheduler: local\n", "is a local site"),
])
def test_merge_refusals(slurm_on_path, tmp_path, text, message):
    slurm_on_path()
    head = "apiVersion: orchestrator/v1\nkind: site\nname: mine\n"
    if "scheduler" not in text:
        head += "scheduler: slurm\n"
    mine = tmp_path / "mine.yaml"
    mine.write_text(head + text)
    res = orch("site", "init", "--merge", mine)
    assert_clean_failure(res)
    assert message in res.stderr
    assert mine.read_text() == head + text


def test_merge_into_an_invalid_file_reports_its_errors(slurm_on_path, tmp_path):
    slurm_on_path()
    mine = write(tmp_path / "mine.yaml", """
        apiVersion: orchestrator/v1
        kind: site
        name: mine
        scheduler: slurm
        pools:
          cpu: {device: cpu, partitoin: cpu}
        """)
    res = orch("site", "init", "--merge", mine)
    assert_clean_failure(res)
    assert f"{mine}:6:" in res.stderr and "partitoin" in res.stderr


def test_command_output_that_is_not_utf8_is_read_with_replacements():
    from orchestrator.schedulers.probe import run_command

    assert run_command(["printf", "Reason=caf\\351 down"]) == "Reason=caf\ufffd down"
