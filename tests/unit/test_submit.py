"""`orch submit`: the driver's batch script (Slurm and PBS Pro), the chain of links it
submits and ends, and its errors. `sbatch`, `squeue` and `scancel` here are stand-ins that
record their arguments; tests/integration/test_submit_slurm.py submits for real."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap

import pytest
from conftest import FIXTURES, REPO, SITE_CONFIGS, assert_clean_failure, cli_env, orch, write

from orchestrator import schedulers
from orchestrator.plan.build import build_plan
from orchestrator.plan.driver_job import driver_job, driver_script
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec

HELLO = REPO / "workflows" / "hello-sweep" / "workflow.yaml"
XPU_ONLY = """\
apiVersion: orchestrator/v1
name: tiles
stages:
  simulate:
    shell: echo ${sweep.i}
    sweep:
      values:
        i: {start: 0, stop: 14, step: 1}
    resources: {device: xpu}
"""
TWO_PARTITIONS = """\
apiVersion: orchestrator/v1
name: mixed
stages:
  a:
    shell: echo a
  b:
    shell: echo b
    needs: [a]
    resources: {device: gpu}
"""


def _driver(workflow, site_name, tmp_path, **kw):
    loaded = load_site(site_name)
    plan = build_plan(load_spec(workflow, kw.pop("params", {})), loaded)
    return plan, loaded.site, driver_script(
        plan, loaded.site, workflow=str(workflow), site_ref=str(loaded.path),
        run_dir=tmp_path / "run", sets=kw.pop("sets", []), cwd=tmp_path, **kw)


def test_slurm_driver_script_asks_for_one_block_and_warns_before_the_end(tmp_path):
    _, site, (name, text) = _driver(HELLO, "local-slurm", tmp_path, sets=["n=4"],
                                    params={"n": "4"}, time="00:20:00")
    lines = text.splitlines()
    assert name == "driver.sbatch" and text.startswith("#!/bin/bash\n")
    slurm = schedulers.get("slurm")
    # the allocation asks what one block of the pool asks: the same #SBATCH lines
    assert all(d in lines for d in slurm.directives(site, "cpu"))
    for want in ("#SBATCH --nodes=1", "#SBATCH --time=20", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --signal=B:USR1@90", "#SBATCH --job-name=orch.hello-sweep.driver",
                 f"#SBATCH --output={tmp_path}/run/submit/driver-%j.out", f"cd {tmp_path}"):
        assert want in lines, want
    exec_line = next(ln for ln in lines if ln.startswith("exec "))
    argv = shlex.split(exec_line)
    assert argv[1].endswith("/orch") and argv[2] == "run" and argv[3] == str(HELLO)
    assert argv[argv.index("--run-dir") + 1] == str(tmp_path / "run")
    assert argv[argv.index("--set") + 1] == "n=4"
    assert argv[-2:] == ["--chain-link", "${ORCH_CHAIN_LINK:-1}"]
    assert "# stage work: 4 task(s), masks: -" in lines
    # the interpreter that runs orch is first on PATH in the job, as in every block
    assert f'export PATH="{os.path.dirname(sys.executable)}:$PATH"' in lines


def test_signal_lead_is_at_most_a_quarter_of_a_short_job(tmp_path):
    _, _, (_, text) = _driver(HELLO, "local-slurm", tmp_path, time="00:01:00")
    assert "#SBATCH --signal=B:USR1@15" in text.splitlines()
    assert "#SBATCH --time=1" in text.splitlines()


def test_pbs_driver_script_selects_the_block_and_lists_every_tile_mask(tmp_path):
    wf = write(tmp_path / "tiles.yaml", XPU_ONLY)
    plan, site, (name, text) = _driver(wf, "aurora-like", tmp_path, time="01:30:00")
    lines = text.splitlines()
    pbs = schedulers.get("pbspro")
    assert name == "driver.pbs"
    assert "#PBS -l walltime=01:30:00" in lines
    assert "#PBS -l select=2:ncpus=208:ngpus=6" in lines  # nodes_per_block 2 of the xpu pool
    assert all(d in lines for d in pbs.directives(site, "xpu"))
    assert "#PBS -j oe" in lines and f"#PBS -o {tmp_path}/run/submit/" in lines
    assert "#PBS -q prod" in lines and any(ln.startswith("#PBS -A ") for ln in lines)
    # every task's tile mask, as the plan gives it
    for task in plan.stages["simulate"].tasks:
        mask = task.device_mask["ZE_AFFINITY_MASK"]
        assert any(f"ZE_AFFINITY_MASK={mask} " in ln and ln.startswith("#   ") for ln in lines)
    assert "#   ZE_AFFINITY_MASK=0.0 ONEAPI_DEVICE_SELECTOR=level_zero:gpu: simulate[0,12]" \
        in lines
    assert lines[-1].startswith("exec ") and lines[-1].endswith('--chain-link '
                                                               '"${ORCH_CHAIN_LINK:-1}"')


def test_pools_that_need_different_jobs_are_refused(tmp_path):
    wf = write(tmp_path / "mixed.yaml", TWO_PARTITIONS)
    res = orch("submit", wf, "--site", "local-slurm", "--run-dir", tmp_path / "run",
               "--dry-run")
    assert_clean_failure(res)
    assert "one Slurm job" in res.stderr and "cpu:" in res.stderr and "gpu:" in res.stderr
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("args, rc, message", [
    (["--site", "laptop"], 1, "has no batch system"),
    (["--site", "local-slurm", "--time", "02:00:00"], 1, "over pool 'cpu''s max_walltime"),
    (["--site", "local-slurm", "--time", "soon"], 1, "--time 'soon'"),
    (["--site", "local-slurm", "--time", "00:00:30"], 1, "at least one minute"),
    (["--site", "local-slurm", "--chain", "0"], 2, "--chain 0"),
    (["--site", "no-such-site"], 1, "no-such-site"),
])
def test_submit_errors_have_exit_codes(tmp_path, args, rc, message):
    res = orch("submit", HELLO, *args, "--run-dir", tmp_path / "run", "--dry-run")
    assert_clean_failure(res, rc)
    assert message in res.stderr


def test_run_dir_that_holds_something_else_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    res = orch("submit", HELLO, "--site", "local-slurm", "--run-dir", tmp_path / "run")
    assert_clean_failure(res)
    assert "not empty (notes.txt)" in res.stderr


def test_plan_driver_needs_scripts(tmp_path):
    res = orch("plan", HELLO, "--site", "local-slurm", "--driver")
    assert_clean_failure(res, 2)
    res = orch("plan", HELLO, "--site", "local-slurm", "--scripts", tmp_path, "--driver")
    assert res.rc == 0, res.stderr
    assert (tmp_path / "driver.sbatch").is_file() and (tmp_path / "cpu.sbatch").is_file()
    assert "--signal=B:USR1@" in (tmp_path / "driver.sbatch").read_text()


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch printing ids 501, 502, ...; squeue listing the ids in SQUEUE_IDS as pending;
    scancel recording its arguments. All first on PATH."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    counter = tmp_path / "next-id"
    counter.write_text("501")
    write(bin_dir / "sbatch", f"""\
        #!/bin/sh
        echo "sbatch $*" >> {log}
        id=$(cat {counter}); echo $((id + 1)) > {counter}
        echo "$id;localcluster"
        """)
    write(bin_dir / "squeue", f"""\
        #!/bin/sh
        echo "squeue $*" >> {log}
        for id in $SQUEUE_IDS; do echo "$id|PENDING|Dependency|cpu|"; done
        """)
    write(bin_dir / "scancel", f'#!/bin/sh\necho "scancel $*" >> {log}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_chain_links_wait_for_each_other_and_are_recorded(tmp_path, fake_slurm, monkeypatch):
    run = tmp_path / "run"
    res = orch("submit", HELLO, "--site", "local-slurm", "--run-dir", run, "--chain", "3",
               "--format", "json")
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert [j["job"] for j in doc["jobs"]] == ["501", "502", "503"]
    calls = [c.split() for c in fake_slurm.read_text().splitlines()]
    script = str(run / "submit" / "driver.sbatch")
    assert calls[0] == ["sbatch", "--parsable", "--export=ALL,ORCH_CHAIN_LINK=1", script]
    assert calls[1] == ["sbatch", "--parsable", "--export=ALL,ORCH_CHAIN_LINK=2",
                        "--dependency=afterany:501", "--kill-on-invalid-dep=yes", script]
    assert calls[2][3] == "--dependency=afterany:502"
    recorded = json.loads((run / "submit.json").read_text())
    assert recorded["scheduler"] == "slurm" and recorded["script"] == script
    assert [(x["link"], x["job"]) for x in recorded["links"]] == [(1, "501"), (2, "502"),
                                                                  (3, "503")]
    # before any link has started: status says so, with the jobs' states
    monkeypatch.setenv("SQUEUE_IDS", "501 502 503")
    res = orch("status", run)
    assert res.rc == 0, res.stderr
    assert "submitted; no driver job has started the run yet" in res.stdout
    assert "driver job 502 (link 2 of 3): pending (Dependency)" in res.stdout
    monkeypatch.setenv("SQUEUE_IDS", "503")
    res = orch("status", run, "--format", "json")
    assert res.json()["state"] == "submitted"
    assert [x["state"] for x in res.json()["submit"]] == ["ended", "ended",
                                                          "pending (Dependency)"]


def test_a_link_that_finds_the_run_ended_cancels_the_rest(tmp_path, fake_slurm):
    from orchestrator.backends.chain import end_chain, submit_links

    run = tmp_path / "run"
    run.mkdir()
    script = write(run / "submit" / "driver.sbatch", "#!/bin/bash\n")
    assert [x["job"] for x in submit_links("slurm", script, run, 3)] == ["501", "502", "503"]
    assert end_chain(run, 1) == ["502", "503"]
    assert fake_slurm.read_text().splitlines()[-1] == "scancel 502 503"
    assert end_chain(run, 3) == []


def test_a_refused_submission_is_a_user_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    write(bin_dir / "sbatch", "#!/bin/sh\necho 'sbatch: error: Invalid partition name' >&2\n"
                              "exit 1\n").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    res = orch("submit", HELLO, "--site", "local-slurm", "--run-dir", tmp_path / "run")
    assert_clean_failure(res)
    assert "sbatch refused the driver's job: sbatch: error: Invalid partition name" in res.stderr


def test_allocation_blocks_are_job_steps_not_jobs():
    """Inside the driver's job each pool's block is started by a launcher on the job's
    nodes (LocalProvider): srun on Slurm, mpiexec on PBS Pro; never sbatch or qsub."""
    pytest.importorskip("parsl")
    from parsl.launchers import MpiExecLauncher, SimpleLauncher, SrunLauncher
    from parsl.providers import LocalProvider

    from orchestrator.backends.parsl.providers import build

    site = load_site("local-slurm").site
    block = build(schedulers.get("slurm").allocation_provider(site, "cpu", "echo init"))
    assert isinstance(block, LocalProvider) and isinstance(block.launcher, SrunLauncher)
    assert "--overlap" in block.launcher.overrides and "--nodes=1" in block.launcher.overrides
    assert (block.init_blocks, block.max_blocks, block.nodes_per_block) == (1, 1, 1)
    mpi = build(schedulers.get("slurm").allocation_provider(site, "cpu", "x", mpi=True))
    assert isinstance(mpi.launcher, SimpleLauncher)
    aurora = load_site("aurora-like").site
    block = build(schedulers.get("pbspro").allocation_provider(aurora, "xpu", "echo init"))
    assert isinstance(block, LocalProvider) and isinstance(block.launcher, MpiExecLauncher)
    assert block.nodes_per_block == 2
    assert schedulers.get("local").allocation_provider(site, "cpu", "x") is None


def test_submit_dry_run_imports_no_parsl(tmp_path):
    code = textwrap.dedent(f"""\
        import sys
        from orchestrator.cli.app import main
        rc = main(["submit", {str(HELLO)!r}, "--site", "local-slurm", "--run-dir",
                   {str(tmp_path / 'run')!r}, "--dry-run"])
        assert rc == 0, rc
        bad = [m for m in ("parsl", "torch", "dpctl", "mpi4py") if m in sys.modules]
        assert not bad, bad
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env(tmp_path), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "submit" / "driver.sbatch").is_file()


def test_driver_job_sizes_the_allocation_from_the_largest_block(tmp_path):
    loaded = load_site(SITE_CONFIGS / "aurora-like.yaml")
    wf = write(tmp_path / "tiles.yaml", XPU_ONLY)
    plan = build_plan(load_spec(wf), loaded)
    job = driver_job(plan, loaded.site, workflow=str(wf), site_ref="s", run_dir=tmp_path,
                     sets=[])
    assert (job.pool, job.nodes, job.walltime_s) == ("xpu", 2, 7200)
    assert FIXTURES.is_dir()


def test_resume_submits_further_links_after_the_last(tmp_path, fake_slurm, monkeypatch):
    run = tmp_path / "run"
    assert orch("submit", HELLO, "--site", "local-slurm", "--run-dir", run).rc == 0  # 501
    monkeypatch.setenv("SQUEUE_IDS", "501")  # still pending: the new link waits for it
    res = orch("submit", "--resume", run, "--chain", "2")
    assert res.rc == 0, res.stderr
    assert "submitted job 502: link 2" in res.stdout and "submitted job 503: link 3" in res.stdout
    calls = fake_slurm.read_text().splitlines()
    assert "--export=ALL,ORCH_CHAIN_LINK=2 --dependency=afterany:501" in calls[-2]
    links = json.loads((run / "submit.json").read_text())["links"]
    assert [(x["link"], x["job"]) for x in links] == [(1, "501"), (2, "502"), (3, "503")]
    monkeypatch.setenv("SQUEUE_IDS", "")  # all gone: no dependency on an unknown job
    assert orch("submit", "--resume", run).rc == 0
    assert "afterany" not in fake_slurm.read_text().splitlines()[-1]


@pytest.mark.parametrize("args, rc, message", [
    (["--resume", "RUN", HELLO], 2, "give no WORKFLOW"),
    ([HELLO], 2, "give a WORKFLOW and --site"),
    (["--resume", "RUN"], 1, "not a run `orch submit` started"),
])
def test_resume_errors(tmp_path, args, rc, message):
    (tmp_path / "RUN").mkdir()
    res = orch("submit", *[tmp_path / "RUN" if a == "RUN" else a for a in args])
    assert_clean_failure(res, rc)
    assert message in res.stderr
