"""The scheduler contract: every registered scheduler (orchestrator/schedulers/) passes the
same checks, on a shipped site config that uses it. A new scheduler is one module plus a
site config; this file needs no edit to cover it."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, SITE_CONFIGS, cli_env

from orchestrator import schedulers
from orchestrator.errors import SiteError
from orchestrator.plan.build import build_plan
from orchestrator.plan.scripts import write_scripts
from orchestrator.schedulers.base import Capabilities, Scheduler, SchedulerOptions
from orchestrator.site.load import load_site
from orchestrator.site.models import Site
from orchestrator.spec.load import load_spec
from orchestrator.units import parse_walltime

NAMES = schedulers.names()
FAN_IN = FIXTURES / "workflows" / "fan-in.yaml"


@cache
def site_file(name: str) -> Path:
    """The first shipped site config whose scheduler is `name`."""
    for path in sorted(SITE_CONFIGS.glob("*.yaml")):
        if yaml.safe_load(path.read_text()).get("scheduler") == name:
            return path
    raise AssertionError(f"no shipped site config uses scheduler {name!r}: add one")


@cache
def planned(name: str):
    """(scheduler, site, plan) of fan-in on the scheduler's shipped site."""
    site = load_site(site_file(name)).site
    return schedulers.get(name), site, build_plan(load_spec(FAN_IN), load_site(site_file(name)))


def test_registry_finds_the_three_schedulers():
    assert set(NAMES) >= {"local", "slurm", "pbspro"}
    assert all(isinstance(s, Scheduler) and s.name == n for n, s in schedulers.REGISTRY.items())
    # the site's `scheduler:` choices and sections come from the registry
    assert set(Site.model_fields["scheduler"].annotation.__args__) == set(NAMES)
    assert all(n in Site.model_fields for n in NAMES)


def test_every_batch_job_variable_is_read_on_the_workers():
    from orchestrator.backends.placement import JOB_ID_VARS

    for s in schedulers.batch():
        assert s.capabilities.job_id_var in JOB_ID_VARS, s.name


@pytest.mark.parametrize("name", NAMES)
def test_capabilities_are_data(name):
    sched = schedulers.get(name)
    caps = sched.capabilities
    assert isinstance(caps, Capabilities) and caps.label and caps.provider
    assert caps.executors and "htex" in caps.executors
    period, threshold = caps.heartbeat
    assert 0 < period < threshold and caps.strategy_period > 0
    if caps.batch:
        assert caps.directive and caps.directive.startswith("#")
        assert caps.script_suffix and caps.script_suffix.startswith(".")
        assert caps.jobs_file and caps.jobs_file.endswith(".json") and caps.job_id_var
    else:
        assert caps.jobs_file is None and caps.script_suffix is None


@pytest.mark.parametrize("name", NAMES)
def test_time_format_round_trips(name):
    sched = schedulers.get(name)
    for seconds in (60, 90 * 60, 3599, 25 * 3600 + 61, 3 * 86400, 47 * 3600 + 59 * 60):
        text = sched.format_walltime(seconds)
        assert parse_walltime(text) == seconds, (name, text)


@pytest.mark.parametrize("name", NAMES)
def test_options_model_validates_good_and_locates_a_bad_key(name, tmp_path):
    sched = schedulers.get(name)
    assert issubclass(sched.options_model, SchedulerOptions)
    raw = yaml.safe_load(site_file(name).read_text())
    good = raw.get(name) or {}
    assert sched.options_model.model_validate(good) == sched.options(load_site(site_file(name)).site)
    raw[name] = {**good, "no_such_option": 1}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SiteError) as err:
        load_site(path)
    (diag,) = err.value.diagnostics
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "no_such_option" in text)
    assert diag.loc is not None and diag.loc.line == line and diag.loc.file == str(path)
    assert diag.path == f"{name}.no_such_option" and "unknown key" in diag.message


@pytest.mark.parametrize("name", NAMES)
def test_directives_for_a_planned_block_render(name):
    sched, site, plan = planned(name)
    scripts = write_scripts(plan, site, "/scripts")
    used = sorted({s.binding.pool for s in plan.stages.values()})
    caps = sched.capabilities
    if not caps.batch:
        assert scripts == {} and all(sched.directives(site, p) == [] for p in used)
        return
    assert sorted(scripts) == [f"{p}{caps.script_suffix}" for p in used]
    for pool in used:
        text = scripts[f"{pool}{caps.script_suffix}"]
        lines = text.splitlines()
        assert text.startswith("#!/bin/bash\n")
        directives = sched.directives(site, pool)
        assert directives and all(d.startswith(caps.directive + " ") for d in directives)
        assert all(d in lines for d in directives)
        assert f'export JOBNAME="orch.{plan.workflow}.{pool}"' in lines
        queue = sched.queue(site, pool)
        assert queue is None or any(queue in d for d in directives)


@pytest.mark.parametrize("name", NAMES)
def test_provider_config_builds_from_the_plan(name, tmp_path):
    pytest.importorskip("parsl")
    from parsl.launchers import SimpleLauncher

    from orchestrator.backends.parsl.providers import build

    sched, site, plan = planned(name)
    for pool_name in sorted({s.binding.pool for s in plan.stages.values()}):
        pool = site.pools[pool_name]
        provider = build(sched.provider(site, pool_name, "echo init", run_dir=tmp_path))
        assert type(provider).__name__ == sched.capabilities.provider
        assert "echo init" in provider.worker_init
        if sched.capabilities.batch:
            assert provider.nodes_per_block == pool.nodes_per_block
            assert provider.max_blocks == pool.max_blocks
            assert provider.walltime == sched.format_walltime(parse_walltime(pool.walltime))
            # every directive, partition or queue included, is in the submitted script
            assert provider.scheduler_options.rstrip("\n") == "\n".join(
                sched.directives(site, pool_name))
        else:
            assert (provider.init_blocks, provider.max_blocks) == (1, 1)
        mpi = build(sched.provider(site, pool_name, "echo init", mpi=True, run_dir=tmp_path))
        assert type(mpi).__name__ == sched.capabilities.provider
        assert isinstance(mpi.launcher, SimpleLauncher)


@pytest.mark.parametrize("name", NAMES)
def test_status_and_cancel_are_argument_lists(name):
    sched = schedulers.get(name)
    ids = ["1234", "1235"]
    status, cancel = sched.status_command(ids), sched.cancel_command(ids)
    if not sched.capabilities.batch:
        assert status is None and cancel is None and sched.job_notes(ids) == []
        return
    for command in (status, cancel):
        assert isinstance(command, list) and all(isinstance(a, str) for a in command)
        assert " " not in command[0] and all(i in " ".join(command) for i in ids)
    assert sched.valid_job_id("1234") and not sched.valid_job_id("12; rm -rf /")
    assert sched.still_queued(ids, 0, "", "") == []
    assert sched.still_queued(ids, 1, "", "connection refused") is None


@pytest.mark.parametrize("name", NAMES)
def test_plan_and_scripts_import_no_parsl(name, tmp_path):
    code = ("import sys\nfrom orchestrator.cli.app import main\n"
            f"rc = main(['plan', {str(FAN_IN)!r}, '--site', {str(site_file(name))!r}, "
            f"'--format', 'json', '--scripts', {str(tmp_path / 'out')!r}])\n"
            "bad = [m for m in ('parsl', 'torch', 'dpctl') if m in sys.modules]\n"
            "assert rc == 0 and not bad, (rc, bad)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=cli_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", NAMES)
def test_driver_job_renders_and_submits_as_arguments(name, tmp_path):
    """`orch submit`: a batch scheduler renders the driver's script (its directives, the
    driver's command as its last line), submits it as an argument list, and runs the blocks
    inside the driver's allocation with a LocalProvider; a local site has no driver job."""
    from orchestrator.schedulers.base import DriverJob

    sched, site, plan = planned(name)
    pool = sorted({s.binding.pool for s in plan.stages.values()})[0]
    job = DriverJob(jobname="orch.fan-in.driver", pool=pool, nodes=1, walltime_s=3600,
                    signal_lead_s=90, log=str(tmp_path), environment="export X=1",
                    command="orch run wf.yaml --run-dir /r")
    text = sched.driver_script(site, job)
    script = Path("/scripts/driver.x")  # no digits: the job id must come from `after` alone
    submit = sched.submit_command(script, 2, after="41")
    if not sched.capabilities.batch:
        assert text is None and submit is None
        assert sched.allocation_provider(site, pool, "x") is None
        return
    lines = text.splitlines()
    assert text.startswith("#!/bin/bash\n") and "export X=1" in lines
    assert all(d in lines for d in sched.directives(site, pool))
    assert lines[-1] == 'exec orch run wf.yaml --run-dir /r --chain-link "${ORCH_CHAIN_LINK:-1}"'
    assert isinstance(submit, list) and all(isinstance(a, str) for a in submit)
    assert submit[-1] == str(script)
    assert any("ORCH_CHAIN_LINK=2" in a for a in submit) and any("41" in a for a in submit)
    assert not any("41" in a for a in sched.submit_command(script, 1))
    pytest.importorskip("parsl")
    from orchestrator.backends.parsl.providers import build

    for mpi in (False, True):
        provider = build(sched.allocation_provider(site, pool, "echo init", mpi=mpi))
        assert type(provider).__name__ == "LocalProvider" and provider.max_blocks == 1
        assert "echo init" in provider.worker_init


# ---------------------------------------------------------------- orch site init: probe

WRITES = {"sbatch", "salloc", "scancel", "scontrol update", "qsub", "qdel", "qalter",
          "qmgr", "pbsnodes -o", "pbsnodes -r"}


def stand_in(name: str) -> tuple[list[list[str]], object]:
    """A runner answering the scheduler's probe commands from tests/fixtures/probe/NAME.json
    (argv joined by spaces -> fixture file, matched as a prefix), and the commands it ran."""
    import json

    from orchestrator.schedulers.probe import SchedulerError

    index = FIXTURES / "probe" / f"{name}.json"
    assert index.is_file(), f"scheduler {name!r} needs stand-in probe output: add {index}"
    answers = {k: FIXTURES / v for k, v in json.loads(index.read_text()).items()
               if not k.startswith("_")}
    ran: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        ran.append(argv)
        shown = " ".join(argv)
        for key, path in answers.items():
            if shown.startswith(key):
                return path.read_text()
        raise SchedulerError(f"`{shown}` failed (exit 1): no stand-in output")
    return ran, runner


@pytest.mark.parametrize("name", NAMES)
def test_probe_writes_a_site_of_its_own_scheduler_that_plans(name, tmp_path):
    """`orch site init`: a batch scheduler's probe runs read-only commands only (argument
    lists) and returns the cluster's queues and nodes; the site drafted from them names
    this scheduler, its pools name their queue in the scheduler's own pool field, it loads,
    and the contract's workflow plans on it. A scheduler without a batch system says it
    has nothing to probe (a clean error, exit 1)."""
    from orchestrator.errors import OrchestratorError
    from orchestrator.schedulers.probe import Cluster
    from orchestrator.site.init import draft_site
    from orchestrator.site.init_yaml import render_site
    from orchestrator.site.load import load_site_text

    sched = schedulers.get(name)
    if not sched.capabilities.batch:
        with pytest.raises(OrchestratorError, match="nothing to probe"):  # CLI: exit 1
            sched.probe(runner=lambda argv: "")
        return
    ran, runner = stand_in(name)
    cluster = sched.probe(runner=runner)
    assert isinstance(cluster, Cluster) and cluster.scheduler == name
    assert cluster.partitions and cluster.nodes and cluster.version
    assert ran and all(isinstance(a, list) and all(isinstance(x, str) for x in a) for a in ran)
    assert not [a for a in ran if any(" ".join(a).startswith(w) for w in WRITES)]
    # auto-detection (`orch site init` without --scheduler) looks for these on PATH
    assert sched.probe_commands and {a[0] for a in ran} >= set(sched.probe_commands)
    draft = draft_site(cluster)
    hints = draft.hints
    assert hints.queue_field in sched.capabilities.pool_fields | {"queue", "partition"}
    loaded = load_site_text(render_site(draft), tmp_path / "probed.yaml")
    site = loaded.site
    assert site.scheduler == name and sched.check_site(site) == []
    queues = {q.name for q in cluster.partitions}
    assert all(getattr(p, hints.queue_field) in queues for p in site.pools.values())
    assert build_plan(load_spec(FAN_IN), loaded).task_count > 0


@pytest.mark.parametrize("name", [n for n in NAMES if schedulers.get(n).capabilities.batch])
def test_probe_command_that_fails_is_a_located_error(name):
    """A required probe command that fails is named in the error, with its stderr."""
    from orchestrator.schedulers.probe import SchedulerError

    def runner(argv: list[str]) -> str:
        raise SchedulerError(f"`{' '.join(argv)}` failed (exit 1): cannot connect to server")

    with pytest.raises(SchedulerError, match=r"failed \(exit 1\): cannot connect to server"):
        schedulers.get(name).probe(runner=runner)
