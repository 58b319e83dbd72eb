"""`orch site init` on PBS Pro: the JSON of `qstat -Bf`, `qstat -Qf` and `pbsnodes -a`
(tests/fixtures/pbs/, written by hand in PBS Pro 2022's layout, not captured from a live
server) becomes a `scheduler: pbspro` site with a pool per queue; through the CLI with
stand-in `qstat`/`pbsnodes` scripts on PATH."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, assert_clean_failure, orch

from orchestrator.schedulers.pbspro_probe import parse_pbs_cluster, pbs_mib, pbs_seconds
from orchestrator.schedulers.probe import SchedulerError
from orchestrator.site.init import draft_site
from orchestrator.site.init_yaml import render_site
from orchestrator.site.load import load_site, load_site_text

PBS = FIXTURES / "pbs" / "aurora-like"
FILES = ("qstat-Bf.json", "qstat-Qf.json", "pbsnodes-a.json")
WORKFLOWS = sorted((REPO / "workflows").glob("*/workflow.yaml"))


def captured(**replace: str):
    texts = {f: replace.get(f, (PBS / f).read_text()) for f in FILES}
    return parse_pbs_cluster(*(texts[f] for f in FILES))


def pools(draft) -> dict[str, dict]:
    return {p.name: p.values for p in draft.pools}


# ---------------------------------------------------------------- parsing


def test_server_queues_and_nodes_are_read():
    c = captured()
    assert (c.scheduler, c.name, c.version) == ("pbspro", "aurora-pbs-0001",
                                               "2022.1.1.20220926110806")
    q = {p.name: p for p in c.partitions}
    assert set(q) == {"cpu", "debug", "maint", "prod"}       # from_route_only ones left out
    assert any("small takes jobs only from a routing queue" in n for n in c.notes)
    assert q["prod"].default and not q["debug"].default       # server default_queue
    assert (q["prod"].max_time_s, q["prod"].default_time_s) == (86400, None)
    assert (q["debug"].max_time_s, q["debug"].default_time_s, q["debug"].max_nodes) == (
        3600, 1800, 2)
    assert q["maint"].state == "DOWN" and q["maint"].allowed == ("acl_users=root",)
    nodes = {n.name: n for n in c.nodes}
    gpu = nodes["x4102c0s0b0n0"]
    assert (gpu.cpus, gpu.memory_mib, gpu.gres_count("gpu"), gpu.gres_types("gpu")) == (
        208, 1056467356 // 1024, 6, ("pvc",))
    # a route queue serves its destinations' nodes; Qlist ties nodes to queues
    assert set(gpu.partitions) >= {"prod", "small", "large"} and "debug" not in gpu.partitions
    assert [n.name for n in c.nodes_of("cpu")] == ["x4300c0s0b0n0", "x4300c0s1b0n0"]
    assert nodes["x4300c0s0b0n0"].gres == ()


@pytest.mark.parametrize("text, mib", [("1056467356kb", 1031706), ("512gb", 524288),
                                       ("4096mb", 4096), ("1073741824", 1024),
                                       ("128mw", 1024), ("lots", None), (None, None)])
def test_pbs_sizes(text, mib):
    assert pbs_mib(text) == mib


def test_pbs_walltimes():
    assert [pbs_seconds(t) for t in ("01:00:00", "30:00", "7200", None)] == [
        3600, 1800, 7200, None]


def test_nodes_tied_to_no_queue_serve_every_queue_that_names_none():
    server = json.dumps({"pbs_version": "2022.1.3", "Server": {"pbs1": {
        "default_queue": "workq"}}})
    queues = json.dumps({"Queue": {"workq": {"queue_type": "Execution", "enabled": "True",
                                             "started": "True"}}})
    nodes = json.dumps({"nodes": {"n1": {"state": "free", "resources_available": {
        "ncpus": 64, "mem": "256gb"}}}})
    c = parse_pbs_cluster(server, queues, nodes)
    assert [n.partitions for n in c.nodes] == [("workq",)]
    got = pools(draft_site(c))
    assert got["workq"]["queue"] == "workq" and got["workq"]["cores_per_node"] == 64


@pytest.mark.parametrize("which", FILES)
def test_output_that_is_not_json_is_a_located_error(which):
    with pytest.raises(SchedulerError, match=r"did not print JSON"):
        captured(**{which: "qstat: illegal option -- F\nusage: qstat ...\n"})


# ---------------------------------------------------------------- the site it writes


def test_queues_become_pools_of_a_pbspro_site():
    draft = draft_site(captured())
    got = pools(draft)
    assert list(got) == ["prod", "cpu", "debug"]               # the default queue first
    prod = got["prod"]
    assert (prod["device"], prod["queue"], prod["backend"], prod["accelerators_per_node"],
            prod["tiles_per_accelerator"], prod["pin"]) == (
        "xpu", "prod", "level_zero", 6, 2, "tile")
    assert not {"partition", "gres", "constraint"} & set(prod)  # Slurm's fields
    assert (prod["walltime"], prod["max_walltime"]) == ("01:00:00", "1-00:00:00")
    assert (got["debug"]["walltime"], got["debug"]["max_walltime"]) == ("00:30:00", "01:00:00")
    assert got["cpu"]["device"] == "cpu" and got["cpu"]["cores_per_node"] == 208
    assert draft.scheduler == "pbspro" and draft.mpi == {"launcher": "mpiexec"}
    assert draft.fallbacks == {"gpu": "cpu"}
    assert draft.env == {"ZE_FLAT_DEVICE_HIERARCHY": "COMPOSITE"}


def test_rendered_site_loads_with_the_pbspro_section(tmp_path):
    text = render_site(draft_site(captured()))
    site = load_site_text(text, tmp_path / "pbs.yaml").site
    assert site.scheduler == "pbspro" and site.pbspro.place == "scatter"
    assert site.pools["prod"].units_per_node == 12                # 6 GPUs x 2 tiles
    assert "# CHECK: add `account: PROJECT`" in text and "Queue maint is DOWN" in text


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.parent.name)
def test_shipped_workflows_plan_on_the_generated_site(workflow, tmp_path):
    from orchestrator.plan.build import build_plan
    from orchestrator.spec.load import load_spec

    site = load_site_text(render_site(draft_site(captured())), tmp_path / "site.yaml")
    assert build_plan(load_spec(workflow), site).task_count > 0


# ---------------------------------------------------------------- the command


def fake_pbs(bindir: Path) -> Path:
    """`qstat` and `pbsnodes` scripts that answer as the fixture server does."""
    bindir.mkdir(parents=True, exist_ok=True)
    answers = {"qstat": {"-B -f -F json": "qstat-Bf.json", "-Q -f -F json": "qstat-Qf.json"},
               "pbsnodes": {"-a -F json": "pbsnodes-a.json"}}
    for cmd, cases in answers.items():
        lines = ["#!/bin/sh", 'case "$*" in']
        lines += [f'  "{a}") exec /bin/cat {shlex.quote(str(PBS / f))} ;;'
                  for a, f in cases.items()]
        lines += ['  *) echo "fake $0: no answer for: $*" >&2; exit 1 ;;', "esac"]
        (bindir / cmd).write_text("\n".join(lines) + "\n")
        (bindir / cmd).chmod(0o755)
    return bindir


def test_site_init_finds_pbs_on_path_and_the_site_plans(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_pbs(tmp_path / "bin")))
    out = tmp_path / "aurora.yaml"
    res = orch("site", "init", "-o", out, "--name", "aurora")
    assert res.rc == 0, res.stderr
    assert "PBS Pro 2022.1.1.20220926110806, cluster aurora-pbs-0001: 4 queue(s)" in res.stderr
    assert "pools: prod (xpu), cpu (cpu), debug (xpu)" in res.stderr
    site = load_site(out).site
    assert (site.name, site.scheduler, site.pools["debug"].queue) == ("aurora", "pbspro",
                                                                      "debug")
    res = orch("plan", REPO / "workflows/hello-sweep/workflow.yaml", "--site", out,
               "--scripts", tmp_path / "scripts")
    assert res.rc == 0, res.stderr
    script = (tmp_path / "scripts" / "cpu.pbs").read_text()   # hello-sweep runs on cpu
    assert "#PBS -q cpu" in script and ":ncpus=208" in script


def test_scheduler_named_whose_commands_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    res = orch("site", "init", "--scheduler", "pbspro")
    assert_clean_failure(res)
    assert "`qstat` is not on PATH: `orch site init --scheduler pbspro`" in res.stderr
    res = orch("site", "init", "--scheduler", "slurm")
    assert_clean_failure(res)
    assert "`sinfo` is not on PATH" in res.stderr


def test_local_has_nothing_to_probe_and_unknown_names_are_usage_errors():
    res = orch("site", "init", "--scheduler", "local")
    assert_clean_failure(res)
    assert "scheduler 'local' has nothing to probe" in res.stderr
    res = orch("site", "init", "--scheduler", "lsf")
    assert_clean_failure(res, 2)
    assert "--scheduler 'lsf': not a scheduler (choose from auto, local, pbspro, slurm)" in (
        res.stderr)


def test_slurm_comes_first_when_its_pbs_wrappers_are_on_path_too(tmp_path, monkeypatch):
    """Slurm's torque wrappers install `qstat` and `pbsnodes`: `sinfo` decides."""
    from test_site_init_cli import fake_slurm

    bindir = fake_pbs(tmp_path / "bin")
    fake_slurm(bindir, "local")
    monkeypatch.setenv("PATH", str(bindir))
    res = orch("site", "init")
    assert res.rc == 0, res.stderr
    assert "scheduler: slurm" in res.stdout


def test_merge_into_the_aurora_like_site_adds_the_queues_it_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_pbs(tmp_path / "bin")))
    mine = tmp_path / "aurora.yaml"
    before = (REPO / "site-configs/aurora-like.yaml").read_text()
    mine.write_text(before)
    res = orch("site", "init", "--merge", mine)
    assert res.rc == 0, res.stderr
    assert "added: prod (xpu), cpu-2 (cpu)" in res.stderr
    assert "already there: debug (as xpu-debug)" in res.stderr     # device and queue match
    assert "cores_per_node: 104, PBS Pro now says 208" in res.stderr
    after = mine.read_text()
    assert after.startswith(before) and list(load_site(mine).site.pools) == [
        "cpu", "xpu", "xpu-debug", "prod", "cpu-2"]
    res = orch("site", "init", "--merge", REPO / "site-configs/local-slurm.yaml", "-o", "-")
    assert_clean_failure(res)
    assert "is a slurm site; pools from pbspro belong in a pbspro one" in res.stderr


def test_a_failing_qstat_is_named_with_its_stderr(tmp_path, monkeypatch):
    bindir = fake_pbs(tmp_path / "bin")
    (bindir / "qstat").write_text("#!/bin/sh\necho 'Connection refused' >&2\nexit 2\n")
    monkeypatch.setenv("PATH", str(bindir))
    res = orch("site", "init")
    assert_clean_failure(res)
    assert "`qstat -B -f -F json` failed (exit 2): Connection refused" in res.stderr
