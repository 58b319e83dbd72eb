"""`orch site init`'s probe parsing and pool mapping, on captured Slurm output
(tests/fixtures/slurm/: `local` from scripts/local-slurm.sh, `hetero` a bigger cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

from orchestrator.errors import UserError
from orchestrator.schedulers.probe import Cluster as SlurmCluster
from orchestrator.schedulers.probe import Gres, SchedulerError
from orchestrator.schedulers.probe import Node as SlurmNode
from orchestrator.schedulers.probe import Queue as SlurmPartition
from orchestrator.schedulers.slurm_probe import (
    parse_cluster,
    parse_gres,
    parse_mpi_list,
    parse_records,
    slurm_seconds,
)
from orchestrator.site.init import draft_site
from orchestrator.site.init_envs import shipped_environments
from orchestrator.site.init_yaml import render_site, scalar
from orchestrator.site.load import load_site_text

SLURM = FIXTURES / "slurm"
WORKFLOWS = sorted((REPO / "workflows").glob("*/workflow.yaml"))


def captured(name: str) -> SlurmCluster:
    d = SLURM / name

    def text(f: str) -> str:
        return (d / f).read_text() if (d / f).is_file() else ""

    return parse_cluster(text("sinfo-version.txt"), text("scontrol-show-partition.txt"),
                         text("scontrol-show-node.txt"), text("scontrol-show-config.txt"),
                         text("srun-mpi-list.txt"), text("sacctmgr-show-user.txt"))


def pools(draft) -> dict[str, dict]:
    return {p.name: p.values for p in draft.pools}


def comments(draft, pool: str) -> dict[str, str]:
    return next(p for p in draft.pools if p.name == pool).comments


def notes(draft, pool: str) -> str:
    return " ".join(next(p for p in draft.pools if p.name == pool).notes)


# ---------------------------------------------------------------- parsing


def test_local_cluster_output_is_read():
    c = captured("local")
    assert (c.version, c.name) == ("22.05.8", "localcluster")
    cpu, gpu = c.partitions
    assert (cpu.name, cpu.default, cpu.max_time_s, cpu.default_time_s) == ("cpu", True, 4 * 3600,
                                                                           None)
    assert cpu.oversubscribe == "FORCE:4" and not gpu.default
    (node,) = c.nodes
    assert (node.cpus, node.memory_mib, node.features, node.partitions) == (
        2, 22900, ("xpu",), ("cpu", "gpu"))
    assert node.gres == (Gres("gpu", None, 4),)
    assert c.config["MpiDefault"] == "pmi2" and c.config["GresTypes"] == "gpu"
    assert "pmi2" in c.mpi_plugins and c.default_account is None


def test_hetero_cluster_output_is_read():
    c = captured("hetero")
    assert (c.version, c.name, c.default_account) == ("23.11.10", "hetero", "proj-chem")
    assert [p.name for p in c.partitions] == ["debug", "standard", "bigmem", "gpu",
                                              "gpu_shared", "pvc", "maint"]
    gn04 = next(n for n in c.nodes if n.name == "gn04")
    # a Reason with spaces and `count=12` in it does not disturb the other keys
    assert gn04.state == "IDLE+DRAIN" and gn04.partitions == ("gpu", "gpu_shared")
    assert gn04.gres == (Gres("gpu", "a100", 4),) and gn04.threads_per_core == 2
    assert c.mpi_plugins == ("none", "cray_shasta", "pmi2", "pmix")


@pytest.mark.parametrize("text, expected", [
    ("gpu:a100:4(S:0-1),nvme:1", (Gres("gpu", "a100", 4), Gres("nvme", None, 1))),
    ("gpu:tesla:2(S:0,1),gpu:k80:1", (Gres("gpu", "tesla", 2), Gres("gpu", "k80", 1))),
    ("gpu:nvidia_a100-sxm4-40gb:4(S:0-1)", (Gres("gpu", "nvidia_a100-sxm4-40gb", 4),)),
    ("gpu:2(S:0)", (Gres("gpu", None, 2),)),
    ("mps:400,gpu:1", (Gres("mps", None, 400), Gres("gpu", None, 1))),
    ("gpu", (Gres("gpu", None, 1),)),
    ("(null)", ()),
    ("", ()),
])
def test_gres_strings(text, expected):
    assert parse_gres(text) == expected


@pytest.mark.parametrize("text, seconds", [
    ("30", 1800), ("30:00", 1800), ("4:00:00", 14400), ("04:00:00", 14400),
    ("2-00:00:00", 172800), ("1-12", 129600), ("1-0:30", 88200),
    ("UNLIMITED", None), ("INFINITE", None), ("NONE", None), (None, None),
])
def test_slurm_times(text, seconds):
    assert slurm_seconds(text) == seconds


def test_a_bad_slurm_time_is_an_error():
    with pytest.raises(ValueError, match="not a Slurm time"):
        slurm_seconds("soon")


def test_records_in_block_form_and_values_with_spaces():
    text = ("PartitionName=compute\n   AllowGroups=ALL Default=YES QoS=N/A\n"
            "   MaxTime=2-00:00:00 Nodes=m[01-48]\n   State=UP TotalNodes=48\n\n"
            "PartitionName=fat\n   Default=NO MaxTime=UNLIMITED State=UP\n")
    recs = parse_records(text, "PartitionName")
    assert [r["PartitionName"] for r in recs] == ["compute", "fat"]
    assert recs[0]["Nodes"] == "m[01-48]" and recs[1]["MaxTime"] == "UNLIMITED"
    (node,) = parse_records("NodeName=a OS=Linux 6.1 #1 SMP PREEMPT Mon Jan 1 RealMemory=9 "
                            "Reason=disk gone [root@2024]", "NodeName")
    assert node["OS"] == "Linux 6.1 #1 SMP PREEMPT Mon Jan 1" and node["RealMemory"] == "9"
    assert node["Reason"] == "disk gone [root@2024]"


def test_mpi_plugin_list_old_and_new_forms():
    assert parse_mpi_list("MPI plugin types are...\n\tnone\n\tpmi2\n") == ("none", "pmi2")
    assert parse_mpi_list("srun: MPI types are...\nsrun: none\nsrun: mpi/pmix\n") == (
        "none", "pmix")


def test_unreadable_output_names_the_version():
    with pytest.raises(SchedulerError, match=r"Slurm 99\.1"):
        parse_cluster("slurm 99.1\n", "PartitionName=x MaxTime=soon", "", "")


# ---------------------------------------------------------------- the local cluster


def test_local_cluster_pools():
    draft = draft_site(captured("local"))
    got = pools(draft)
    assert list(got) == ["cpu", "gpu", "xpu"]   # the default partition first
    assert got["cpu"] | {"description": None} == {
        "device": "cpu", "description": None, "partition": "cpu", "cores_per_node": 2,
        "memory_per_node": "5725MiB", "oversubscribe": True, "walltime": "01:00:00",
        "max_walltime": "04:00:00", "max_blocks": 1}
    assert got["gpu"]["device"] == "gpu" and got["gpu"]["accelerators_per_node"] == 4
    assert got["gpu"]["partition"] == "gpu" and "gres" not in got["gpu"]
    assert got["xpu"]["device"] == "xpu" and got["xpu"]["constraint"] == "xpu"
    assert got["xpu"]["partition"] == "cpu" and got["xpu"]["accelerators_per_node"] == 1
    assert "FORCE:4" in comments(draft, "cpu")["memory_per_node"]   # 22900 MiB / 4 jobs
    assert "also carry GPUs (GRES gpu:4)" in notes(draft, "cpu")
    assert "CHECK" in notes(draft, "xpu")
    assert draft.mpi == {"launcher": "srun", "args": ["--overcommit"]}   # oversubscribed pools
    assert "MpiDefault=pmi2" in draft.mpi_notes[0]
    assert draft.fallbacks == {} and draft.name == "localcluster"


# ---------------------------------------------------------------- a heterogeneous cluster


def test_hetero_cluster_pools():
    draft = draft_site(captured("hetero"))
    got = pools(draft)
    assert list(got) == ["standard", "debug", "bigmem", "gpu", "gpu_shared", "pvc"]
    std = got["standard"]
    assert (std["device"], std["cores_per_node"], std["memory_per_node"]) == (
        "cpu", 128, "257000MiB")
    assert "nodes differ (128 to 192): the smallest" in comments(draft, "standard")[
        "cores_per_node"]
    assert (std["walltime"], std["max_walltime"], std["max_blocks"]) == (
        "01:00:00", "2-00:00:00", 4)
    assert (got["bigmem"]["cores_per_node"], got["bigmem"]["memory_per_node"]) == (
        192, "1031000MiB")
    gpu = got["gpu"]
    assert (gpu["device"], gpu["accelerators_per_node"], gpu["cores_per_node"]) == ("gpu", 4, 128)
    assert "gpu:a100:4" in comments(draft, "gpu")["accelerators_per_node"]
    assert "2 hardware threads per core" in comments(draft, "gpu")["cores_per_node"]
    assert (gpu["walltime"], gpu["max_walltime"]) == ("02:00:00", "1-00:00:00")
    shared = got["gpu_shared"]   # MaxCPUsPerNode=32, OverSubscribe=FORCE:2
    assert (shared["cores_per_node"], shared["memory_per_node"], shared["oversubscribe"]) == (
        32, "257500MiB", True)
    debug = got["debug"]         # MaxTime=00:30:00, no DefaultTime; cn + 2 of the gn nodes
    assert (debug["device"], debug["walltime"], debug["max_walltime"]) == (
        "cpu", "00:30:00", "00:30:00")
    assert "2 of its 6 nodes also carry GPUs" in notes(draft, "debug")
    pvc = got["pvc"]
    assert (pvc["device"], pvc["constraint"], pvc["cores_per_node"]) == ("xpu", "pvc", 208)
    assert "maint" not in got and any("maint is DOWN" in h for h in draft.header)
    assert draft.account == "proj-chem" and draft.fallbacks == {}
    assert "oversubscribe" not in std
    assert draft.mpi["args"] == ["--overcommit"]   # for gpu_shared


@pytest.mark.parametrize("cluster", ["local", "hetero"])
def test_rendered_site_validates_and_keeps_the_draft(cluster, tmp_path):
    draft = draft_site(captured(cluster))
    text = render_site(draft)
    site = load_site_text(text, tmp_path / "site.yaml").site
    assert site.scheduler == "slurm" and site.mpi.launcher == "srun"
    assert list(site.pools) == [p.name for p in draft.pools]
    for p in draft.pools:
        pool = site.pools[p.name]
        for key, value in p.values.items():
            assert getattr(pool, key) == value, (p.name, key)
    assert "# CHECK" in text


@pytest.mark.parametrize("cluster", ["local", "hetero", "cpu-only"])
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.parent.name)
def test_shipped_workflows_plan_on_the_generated_site(cluster, workflow, tmp_path):
    from orchestrator.plan.build import build_plan
    from orchestrator.spec.load import load_spec

    c = cpu_only() if cluster == "cpu-only" else captured(cluster)
    site = load_site_text(render_site(draft_site(c)), tmp_path / "site.yaml")
    plan = build_plan(load_spec(workflow), site)
    assert plan.task_count > 0


# ---------------------------------------------------------------- rules, one at a time


def node(name="n1", cpus=64, memory=256_000, gres=(), features=(), parts=("p",), tpc=1):
    return SlurmNode(name, cpus, tpc, memory, tuple(gres), tuple(features), tuple(parts), "IDLE")


def part(name="p", default=True, max_time="1-00:00:00", default_time=None, **kw):
    base = dict(max_nodes=None, max_cpus_per_node=None, max_mem_per_node_mib=None,
                oversubscribe="NO", qos=None, total_nodes=1, state="UP")
    return SlurmPartition(name=name, default=default, max_time_s=slurm_seconds(max_time),
                          default_time_s=slurm_seconds(default_time), **{**base, **kw})


def cluster(parts, nodes, name="c"):
    return SlurmCluster("23.11.1", name, tuple(parts), tuple(nodes),
                        {"MpiDefault": "none"}, ("none", "pmix"))


def cpu_only() -> SlurmCluster:
    return cluster([part("batch")], [node(parts=("batch",))])


def test_a_cpu_only_cluster_falls_back_to_cpu_for_gpu_and_xpu_stages():
    draft = draft_site(cpu_only())
    assert list(pools(draft)) == ["batch"] and draft.fallbacks == {"gpu": "cpu", "xpu": "cpu"}
    assert draft.mpi == {"launcher": "srun"}
    assert any("MpiDefault=none" in n for n in draft.mpi_notes)


def test_intel_gpu_gres_makes_an_xpu_pool_that_asks_for_the_gres():
    c = cluster([part("gpu-intel")], [node(gres=[Gres("gpu", "max1550", 4)],
                                           parts=("gpu-intel",))])
    got = pools(draft_site(c))["gpu-intel"]
    assert (got["device"], got["backend"], got["gres"], got["accelerators_per_node"]) == (
        "xpu", "level_zero", "gpu:4", 4)
    # a known Intel GPU Max type gives its tiles (Max 1550: 2), pinned per tile
    assert (got["tiles_per_accelerator"], got["pin"]) == (2, "tile")


def test_amd_gpu_gres_sets_the_rocm_backend():
    c = cluster([part("mi")], [node(gres=[Gres("gpu", "mi250x", 8)], parts=("mi",))])
    got = pools(draft_site(c))["mi"]
    assert (got["device"], got["backend"], got["accelerators_per_node"]) == ("gpu", "rocm", 8)


def test_gpu_counts_that_differ_take_the_smallest():
    c = cluster([part("acc")], [node("a", gres=[Gres("gpu", "a100", 4)], parts=("acc",)),
                                node("b", gres=[Gres("gpu", "h100", 8)], parts=("acc",))])
    draft = draft_site(c)
    assert pools(draft)["acc"]["accelerators_per_node"] == 4
    assert "smallest count (4)" in comments(draft, "acc")["accelerators_per_node"]


def test_a_gpu_named_partition_without_gres_is_a_cpu_pool_with_a_check():
    draft = draft_site(cluster([part("gpu")], [node(parts=("gpu",))]))
    assert pools(draft)["gpu"]["device"] == "cpu"
    assert "CHECK" in notes(draft, "gpu")


def test_an_xpu_feature_on_some_nodes_adds_a_constrained_pool():
    c = cluster([part("batch")], [node("a", parts=("batch",)),
                                  node("b", cpus=32, features=("pvc", "ib"), parts=("batch",))])
    got = pools(draft_site(c))
    assert list(got) == ["batch", "pvc"]
    assert (got["pvc"]["partition"], got["pvc"]["constraint"], got["pvc"]["cores_per_node"]) == (
        "batch", "pvc", 32)   # sized from the feature's nodes only


def test_limits_unlimited_short_and_capped():
    c = cluster([part("free", max_time="UNLIMITED"),
                 part("tiny", default=False, max_time="5", max_mem_per_node_mib=1000,
                      max_cpus_per_node=8)],
                [node(parts=("free", "tiny"))])
    draft = draft_site(c)
    free, tiny = pools(draft)["free"], pools(draft)["tiny"]
    assert free["walltime"] == "01:00:00" and "max_walltime" not in free
    assert "MaxTime=UNLIMITED" in notes(draft, "free")
    assert (tiny["walltime"], tiny["max_walltime"], tiny["task_walltime"]) == (
        "00:05:00", "00:05:00", "00:05:00")
    assert (tiny["memory_per_node"], tiny["cores_per_node"]) == ("1000MiB", 8)


def test_partitions_only_some_may_use_say_so():
    rec = parse_records("PartitionName=lab AllowGroups=chem,bio AllowAccounts=ALL "
                        "AllowQos=ALL MaxTime=1:00:00 State=UP", "PartitionName")[0]
    from orchestrator.schedulers.slurm_probe import parse_partition

    lab = parse_partition(rec)
    assert lab.allowed == ("AllowGroups=chem,bio",)
    draft = draft_site(cluster([lab], [node(parts=("lab",))]))
    assert "CHECK: only AllowGroups=chem,bio may submit here." in notes(draft, "lab")


def test_unconfigured_memory_is_left_out():
    draft = draft_site(cluster([part()], [node(memory=None)]))
    assert "memory_per_node" not in pools(draft)["p"]
    assert "RealMemory is not configured" in notes(draft, "p")


def test_partition_names_become_valid_unique_pool_names():
    c = cluster([part("1st+q"), part("1st q", default=False)],
                [node(parts=("1st+q", "1st q"))])
    assert list(pools(draft_site(c))) == ["p-1st-q", "p-1st-q-2"]


def test_pools_filter_and_its_errors():
    draft = draft_site(captured("local"), keep=["gpu", "cpu"])
    assert list(pools(draft)) == ["cpu", "gpu"] and draft.fallbacks == {"xpu": "cpu"}
    with pytest.raises(UserError, match=r"no pool named 'gpus'.*did you mean 'gpu'"):
        draft_site(captured("local"), keep=["gpus"])


def test_site_name_from_option_or_cluster():
    assert draft_site(captured("local"), name="my-lab").name == "my-lab"
    with pytest.raises(UserError, match="--name '9lives'"):
        draft_site(captured("local"), name="9lives")
    assert draft_site(cluster([part()], [node()], name="Big Iron!")).name == "Big-Iron"
    assert draft_site(cluster([part()], [node()], name=None)).name == "slurm-cluster"


def test_no_usable_partition_is_an_error():
    with pytest.raises(UserError, match="no partition that is UP"):
        draft_site(cluster([part(state="DOWN")], [node()]))


def test_environments_the_shipped_workflows_name_are_defined():
    names = shipped_environments()
    assert "dpgen" in names and "workflows/dpgen/workflow.yaml" in names["dpgen"]
    draft = draft_site(captured("local"))
    dpgen = next(e for e in draft.environments if e.name == "dpgen")
    assert Path(dpgen.values["prefix"]).is_absolute()   # relative in laptop.yaml


@pytest.mark.parametrize("value, text", [
    ("04:00:00", '"04:00:00"'), ("5725MiB", "5725MiB"), ("yes", '"yes"'), ("gpu", "gpu"),
    ("a: b", '"a: b"'), (True, "true"), (4, "4"), (["--mpi=pmix"], '["--mpi=pmix"]'),
    ({"LC_ALL": "C"}, "{LC_ALL: C}"), ("opencl:cpu", '"opencl:cpu"'),
])
def test_yaml_scalars_read_back_as_written(value, text):
    import yaml

    assert scalar(value) == text
    assert yaml.safe_load(f"k: {text}")["k"] == value
