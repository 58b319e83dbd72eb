"""PBS Pro on the Aurora-like site (site-configs/aurora-like.yaml): the scripts `orch plan
--scripts` writes, the tile masks in them, the site checks, the provider Parsl would
submit with, and qstat/qdel through the reaper. No PBS server here: qsub, qstat and qdel
are stand-ins (docs/schedulers.md says what was not run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import SITE_CONFIGS, orch, spec_text, write

from orchestrator import schedulers
from orchestrator.errors import SiteError
from orchestrator.site.load import load_site

PBS = schedulers.get("pbspro")
AURORA = SITE_CONFIGS / "aurora-like.yaml"

TILES = spec_text("""
    solve:
      shell: "echo ${sweep.i}"
      sweep: {values: {i: {start: 0, stop: 29, step: 1}}}
      resources: {device: xpu, xpus: 1}
    pair:
      shell: echo pair
      needs: [solve]
      sweep: {values: {j: [0, 1, 2, 3, 4, 5, 6, 7]}}
      resources: {device: xpu, xpus: 2}
    ranks:
      shell: ./app
      needs: [pair]
      resources: {device: xpu, xpus: 1, ranks: 24, nodes: 2}
    debug:
      shell: echo debug
      sweep: {values: {k: [0, 1, 2]}}
      resources: {device: xpu, xpus: 1, pool: xpu-debug, walltime: 20m}
    post:
      shell: echo done
      needs: [ranks, debug]
""", name="tiles")


@pytest.fixture
def planned(spec_file, tmp_path):
    """(scripts dir, plan JSON) of the tiles workflow on the Aurora-like site."""
    wf = spec_file(TILES)
    res = orch("plan", wf, "--site", "aurora-like", "--format", "json", "--scripts", "out")
    assert res.rc == 0, res.stderr
    return tmp_path / "out", res.json()


def test_scripts_ask_for_pbs_resources(planned):
    out, plan = planned
    assert sorted(p.name for p in out.iterdir()) == ["cpu.pbs", "xpu-debug.pbs", "xpu.pbs"]
    assert sorted(plan["scripts"]) == [f"out/{n}" for n in ("cpu.pbs", "xpu-debug.pbs",
                                                              "xpu.pbs")]
    xpu = (out / "xpu.pbs").read_text().splitlines()
    for line in ("#PBS -l select=2:ncpus=208:ngpus=6", "#PBS -l place=scatter",
                 "#PBS -l walltime=02:00:00", "#PBS -q prod", "#PBS -A my-project",
                 "#PBS -l filesystems=home:flare", "#PBS -N orch.tiles.xpu",
                 "export ZE_FLAT_DEVICE_HIERARCHY=COMPOSITE"):
        assert line in xpu, line
    assert xpu[0] == "#!/bin/bash"
    assert not any(ln.startswith("#SBATCH") for ln in xpu)
    cpu = (out / "cpu.pbs").read_text().splitlines()
    assert "#PBS -l select=1:ncpus=208" in cpu and not any("ngpus" in ln for ln in cpu)
    debug = (out / "xpu-debug.pbs").read_text().splitlines()
    for line in ("#PBS -q debug", "#PBS -l walltime=01:00:00",
                 "#PBS -l select=1:ncpus=208:ngpus=6"):
        assert line in debug, line
    assert "#PBS -q prod" not in debug
    launcher = next(ln for ln in xpu if "mpiexec" in ln)
    assert "--cpu-bind none --depth=208 --ppn 1 -n 2" in launcher


_RUN = re.compile(r"^(\d+)(?:\.\.(\d+)(?:/(\d+))?)?$")


def _indices(spec: str) -> list[int | None]:
    """`solve[0..24/12,3]` -> [0, 12, 24, 3]; a stage without a sweep -> [None]."""
    if "[" not in spec:
        return [None]
    out: list[int | None] = []
    for run in spec[spec.index("[") + 1:-1].split(","):
        a, b, step = _RUN.match(run).groups()
        out += list(range(int(a), int(b or a) + 1, int(step or 1)))
    return out


def script_masks(text: str) -> dict[str, dict[str, str]]:
    """Task id -> mask, from a script's `# stage S: ... device mask by task:` lines."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        m = re.match(r"^#   (.*): (\S+)$", line)
        if not m:
            continue
        mask = dict(kv.split("=", 1) for kv in m.group(1).split()) if m.group(1) != "-" else {}
        for spec in m.group(2).split(", "):
            stage = spec.split("[")[0]
            for i in _indices(spec):
                out[stage if i is None else f"{stage}[{i}]"] = mask
    return out


def test_every_tasks_mask_in_the_script_is_the_plans(planned):
    out, plan = planned
    for pool in ("xpu", "xpu-debug", "cpu"):
        listed = script_masks((out / f"{pool}.pbs").read_text())
        tasks = {t["id"]: t["device_mask"] for t in plan["tasks"] if t["pool"] == pool}
        assert listed == tasks, pool
    solve = {t["id"]: t["device_mask"]["ZE_AFFINITY_MASK"]
             for t in plan["tasks"] if t["stage"] == "solve"}
    tiles = [f"{d}.{t}" for d in range(6) for t in range(2)]
    assert solve == {f"solve[{i}]": tiles[i % 12] for i in range(29)}  # one tile each, 12 a node
    assert {t["device_mask"]["ZE_AFFINITY_MASK"] for t in plan["tasks"]
            if t["stage"] == "pair"} == {f"{d}.0,{d}.1" for d in range(6)}
    assert all(t["device_mask"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:gpu"
               for t in plan["tasks"] if t["pool"].startswith("xpu"))


def test_walltime_past_a_day_has_no_day_field():
    assert PBS.format_walltime(30 * 3600 + 5) == "30:00:05"
    assert PBS.format_walltime(59) == "00:00:59"


# ---------------------------------------------------------------- site checks

def _aurora(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(AURORA.read_text())
    edit(raw)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _errors(path: Path) -> list[str]:
    with pytest.raises(SiteError) as err:
        load_site(path)
    return [d.format() for d in err.value.diagnostics]


@pytest.mark.parametrize(("edit", "where", "message"), [
    (lambda r: r["pools"]["xpu"].update(partition="gpu"), "pools.xpu.partition",
     "partition is a Slurm setting; PBS Pro does not read it (PBS Pro pools use queue)"),
    (lambda r: r["pools"]["xpu"].update(gres="gpu:6"), "pools.xpu.gres",
     "ngpus comes from accelerators_per_node"),
    (lambda r: r["pools"]["cpu"].update(scheduler_options=["#PBS -l debug=true", "#SBATCH -x"]),
     "pools.cpu.scheduler_options[1]", "'#SBATCH -x' must be one '#PBS ...' line"),
    (lambda r: r["pbspro"].update(place="everywhere"), "pbspro.place", "is not a placement"),
    (lambda r: r["pbspro"].update(filesystems="home flare"), "pbspro.filesystems",
     "is not a filesystems list"),
    (lambda r: r["pbspro"].update(queue="prod\n#PBS -l x"), "pbspro.queue", "not a PBS name"),
    (lambda r: r["pools"]["xpu"].update(account="a b"), "pools.xpu.account", "not a PBS name"),
    (lambda r: r["pbspro"].update(block_launcher="single"), "pools.xpu.nodes_per_block",
     "blocks of several nodes need pbspro.block_launcher: mpiexec"),
    (lambda r: r.update(slurm={"account": "x"}), "slurm",
     "settings for slurm, but this site's scheduler is pbspro"),
    (lambda r: r["pools"]["cpu"].update(executor="threads"), "",
     "only on a local site (use htex with PBS Pro)"),
])
def test_what_pbs_cannot_honour_is_located(tmp_path, edit, where, message):
    errors = _errors(_aurora(tmp_path, edit))
    assert any(message in e and f": {where}: " in e if where else message in e
               for e in errors), errors
    assert all(re.match(r"^.*site\.yaml:\d+:\d+: error: ", e) for e in errors), errors


def test_a_slurm_site_rejects_pbs_settings(tmp_path):
    raw = yaml.safe_load((SITE_CONFIGS / "gpu-cluster.yaml").read_text())
    raw["pools"]["gpu"]["queue"] = "debug"
    raw["pbspro"] = {"queue": "debug"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    errors = _errors(path)
    assert any(": pools.gpu.queue: queue is a PBS Pro setting; Slurm does not read it "
               "(Slurm pools use partition)" in e for e in errors), errors
    assert any(": pbspro: settings for pbspro" in e for e in errors), errors


def test_a_local_site_keeps_either_batch_systems_lines(tmp_path):
    """A cluster's site config can be tried on this machine by changing only `scheduler:`."""
    path = _aurora(tmp_path, lambda r: (r.update(scheduler="local"), r.pop("pbspro"),
                                        r["pools"]["cpu"].update(
                                            scheduler_options=["#PBS -l debug=true"])))
    assert load_site(path).site.pools["cpu"].queue is None
    bad = _aurora(tmp_path, lambda r: (r.update(scheduler="local"),
                                       r["pools"]["cpu"].update(scheduler_options=["-x"])))
    assert any("'-x' must be one '#PBS ...' or '#SBATCH ...' line" in e for e in _errors(bad))


def test_exclusive_pool_places_exclusively(tmp_path):
    site = load_site(_aurora(tmp_path, lambda r: r["pools"]["xpu"].update(exclusive=True))).site
    assert "#PBS -l place=scatter:excl" in PBS.directives(site, "xpu")
    assert "#PBS -l place=scatter" in PBS.directives(site, "cpu")


# ---------------------------------------------------------------- the provider (Parsl)

def test_provider_is_parsls_aurora_recipe():
    pytest.importorskip("parsl")
    from parsl.launchers import MpiExecLauncher
    from parsl.providers import PBSProProvider

    from orchestrator.backends.parsl.providers import build

    site = load_site("aurora-like").site
    provider = build(PBS.provider(site, "xpu", "module load frameworks"))
    assert isinstance(provider, PBSProProvider)
    assert (provider.account, provider.queue) == (None, None)  # both are in the script
    assert provider.select_options == ":ngpus=6" and provider.cpus_per_node == 208
    assert (provider.nodes_per_block, provider.max_blocks) == (2, 4)
    assert provider.walltime == "02:00:00"
    assert isinstance(provider.launcher, MpiExecLauncher)
    assert (provider.launcher.bind_cmd, provider.launcher.overrides) == (
        "--cpu-bind", "--depth=208 --ppn 1")


def test_planned_script_is_what_parsl_submits(tmp_path, planned):
    """Parsl's PBSProProvider writes its submit script (qsub is a stand-in that records its
    arguments): its #PBS lines are the planned script's."""
    pytest.importorskip("parsl")
    from orchestrator.backends.parsl.executors import make_executor

    out, _ = planned
    site = load_site("aurora-like").site
    executor = make_executor(site, "xpu", tmp_path / "run")
    provider = executor.provider
    assert type(provider).__name__ == "PBSProProvider"
    submitted: list[str] = []
    provider.execute_wait = lambda cmd, timeout=None: (submitted.append(cmd)
                                                       or (0, "4242.aurora-pbs\n", ""))
    provider.script_dir = str(tmp_path)
    job = provider.submit("process_worker_pool.py --options", 1, "parsl.xpu.block-0")
    assert job == "4242.aurora-pbs" and PBS.valid_job_id(job)
    (cmd,) = submitted
    assert cmd.split()[0] == "qsub" and " -q " not in cmd and " -A " not in cmd
    script = Path(cmd.split()[-1]).read_text()

    def pbs_lines(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if ln.startswith("#PBS")
                and not ln.startswith(("#PBS -N", "#PBS -o", "#PBS -e"))]

    assert pbs_lines(script) == pbs_lines((out / "xpu.pbs").read_text())
    assert "mpiexec --cpu-bind none --depth=208 --ppn 1 -n $WORKERCOUNT" in script


def test_every_pool_of_the_plan_gets_a_pbs_executor(spec_file, tmp_path):
    """make_executors: one per pool the plan uses, and the MPI-mode one where a multi-rank
    stage runs, all on PBSProProvider (built, not started)."""
    pytest.importorskip("parsl")
    from parsl.launchers import MpiExecLauncher, SimpleLauncher

    from orchestrator.backends.parsl.executors import make_executors
    from orchestrator.plan.build import build_plan
    from orchestrator.spec.load import load_spec

    loaded = load_site("aurora-like")
    plan = build_plan(load_spec(spec_file(TILES)), loaded)
    executors = {ex.label: ex for ex in make_executors(plan, loaded.site, tmp_path / "run")}
    assert sorted(executors) == ["cpu", "xpu", "xpu-debug", "xpu.mpi"]
    assert {type(ex.provider).__name__ for ex in executors.values()} == {"PBSProProvider"}
    assert isinstance(executors["xpu"].provider.launcher, MpiExecLauncher)
    mpi = executors["xpu.mpi"]
    assert isinstance(mpi.provider.launcher, SimpleLauncher) and mpi.mpi_launcher == "mpiexec"
    assert mpi.provider.nodes_per_block == 2 and mpi.max_workers_per_block == 2
    assert executors["xpu"].max_workers_per_node == 12  # one worker slot per tile
    assert "#PBS -q debug" in executors["xpu-debug"].provider.scheduler_options
    assert executors["xpu-debug"].provider.walltime == "01:00:00"


# ---------------------------------------------------------------- qstat / qdel

QSTAT_JSON = {"Jobs": {
    "101.aurora-pbs": {"job_state": "Q", "queue": "prod",
                       "comment": "Not Running: Insufficient amount of resource: ngpus"},
    "102.aurora-pbs": {"job_state": "R", "queue": "prod", "exec_host": "x4000c0s0b0n0/0*208"},
}}


def test_still_queued_reads_qstat_json():
    ids = ["101.aurora-pbs-0001.hostmgmt", "102.aurora-pbs-0001.hostmgmt", "103.aurora"]
    assert PBS.still_queued(ids, 35, json.dumps(QSTAT_JSON), "qstat: Unknown Job Id 103") \
        == ids[:2]
    assert PBS.still_queued(ids, 153, "", "qstat: Unknown Job Id 101.aurora") == []
    assert PBS.still_queued(ids, 35, "", "qstat: 101.aurora Job has finished, use -x") == []
    assert PBS.still_queued(ids, 2, "", "pbs_connect: Connection refused") is None
    assert PBS.still_queued(ids, 0, "{not json", "") is None


@pytest.fixture
def fake_pbs(tmp_path, monkeypatch):
    """qstat answering QSTAT_JSON and qdel recording its arguments, first on PATH."""
    bin_dir = tmp_path / "bin"
    log = tmp_path / "calls.txt"
    write(bin_dir / "qstat", f"""\
        #!/bin/sh
        echo "qstat $*" >> {log}
        cat <<'EOF'
        {json.dumps(QSTAT_JSON)}
        EOF
        """)
    write(bin_dir / "qdel", f'#!/bin/sh\necho "qdel $*" >> {log}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return log


def test_reaper_cancels_pbs_jobs_with_qdel(tmp_path, fake_pbs):
    from orchestrator.backends import reaper

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    reaper.record_jobs(run_dir, ["101.aurora-pbs", "102.aurora-pbs", "99.aurora-pbs"], "pbspro")
    assert json.loads((run_dir / "pbspro-jobs.json").read_text()) == [
        "101.aurora-pbs", "102.aurora-pbs", "99.aurora-pbs"]
    assert not (run_dir / "slurm-jobs.json").exists()
    assert reaper.cancel_jobs(run_dir) == 2  # 99 is no longer queued
    calls = fake_pbs.read_text().splitlines()
    assert calls[0] == "qstat -f -F json 101.aurora-pbs 102.aurora-pbs 99.aurora-pbs"
    assert "qdel 101.aurora-pbs 102.aurora-pbs" in calls


def test_job_notes_say_why_a_block_waits(fake_pbs):
    notes = PBS.job_notes(["101.aurora-pbs", "102.aurora-pbs"])
    assert notes == [
        "PBS job 101.aurora-pbs (prod): queued (Not Running: Insufficient amount of "
        "resource: ngpus)",
        "PBS job 102.aurora-pbs (prod): running on x4000c0s0b0n0/0*208"]
