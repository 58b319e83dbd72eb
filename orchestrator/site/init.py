"""`orch site init`: map a probed cluster (`Scheduler.probe()`, schedulers/probe.py) to a
site draft. The rules are scheduler-neutral; how the file names queues, its scheduler
section and MPI launcher come from the scheduler (`Scheduler.draft_hints`).

A draft is plain data (pools with their fields, a comment per field, notes above each
pool); site/init_yaml.py writes it as commented YAML or merges it into an existing file.
The rules, in the order they apply (docs/site.md#orch-site-init):

- one pool per partition (PBS Pro: queue) that is UP and has nodes, the default first;
- device class: a partition whose name says `cpu` is a cpu pool; one whose nodes all
  carry gpu GRES is a gpu pool (accelerators_per_node = the smallest count; Intel types
  such as `pvc` make it an xpu pool, AMD types `mi250`... set backend rocm); one whose
  nodes all have an XPU feature (XPU_FEATURES) is an xpu pool with `constraint`; the rest
  are cpu pools. An XPU feature on some nodes of a cpu partition adds one xpu pool per
  feature (named after it) with `constraint: FEATURE`;
- cores and memory per node: the smallest over the pool's nodes (a comment says so when
  they differ), capped by MaxCPUsPerNode/MaxMemPerNode; memory shared out by OverSubscribe=FORCE:N;
- MaxTime → max_walltime, DefaultTime → walltime (else an hour, at most MaxTime);
- `mpi.launcher: srun`; `fallbacks` to cpu for the device classes no pool serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import UserError
from orchestrator.schedulers.probe import Cluster, DraftHints
from orchestrator.schedulers.probe import Node as SlurmNode
from orchestrator.schedulers.probe import Queue as SlurmPartition
from orchestrator.site.init_envs import EnvDraft, environment_drafts, shipped_environments
from orchestrator.spec.models import NAME_RE
from orchestrator.spec.suggest import did_you_mean
from orchestrator.units import format_walltime

XPU_FEATURES = frozenset({"xpu", "pvc", "ponte_vecchio", "intel_gpu", "max1100", "max1550"})
_INTEL_GPU = re.compile(r"^(pvc|max\d*|intel.*|xe.*|arc.*|flex.*|ponte_vecchio)$", re.I)
_AMD_GPU = re.compile(r"^(mi\d+\w*|amd.*|instinct.*|radeon.*)$", re.I)
_NAME_WORDS = {"cpu": "cpu", "gpu": "gpu", "xpu": "xpu", "pvc": "xpu"}
# Tiles per device of Intel GPU types (Data Center GPU Max 1550, Aurora's: 2; Max 1100: 1)
_TILES = {"pvc": 2, "max1550": 2, "max_1550": 2, "max1100": 1, "max_1100": 1}
DEFAULT_WALLTIME_S = 3600
TASK_WALLTIME_S = 600
MAX_BLOCKS = 4


@dataclass
class PoolDraft:
    name: str
    values: dict[str, Any]                                   # site fields, in file order
    comments: dict[str, str] = field(default_factory=dict)   # key -> trailing comment
    notes: list[str] = field(default_factory=list)           # comment lines above the pool

    @property
    def device(self) -> str:
        return self.values["device"]

    def set(self, key: str, value: Any, comment: str = "") -> None:
        self.values[key] = value
        if comment:
            self.comments[key] = comment


@dataclass
class SiteDraft:
    name: str
    description: str
    header: list[str]
    pools: list[PoolDraft]
    mpi: dict[str, Any]
    mpi_notes: list[str]
    account: str | None = None
    scheduler: str = "slurm"
    hints: DraftHints | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_notes: list[str] = field(default_factory=list)
    fallbacks: dict[str, str] = field(default_factory=dict)
    fallback_notes: list[str] = field(default_factory=list)
    environments: list[EnvDraft] = field(default_factory=list)  # site/init_envs.py


def draft_site(cluster: Cluster, name: str | None = None,
               keep: list[str] | None = None,
               environments: list[EnvDraft] | None = None) -> SiteDraft:
    """The site that describes `cluster`: pools from partitions, then the `keep` filter;
    `environments` (default: those the shipped workflows name, as the laptop site
    defines them) are written for the user to check."""
    from orchestrator import schedulers

    scheduler = schedulers.get(cluster.scheduler or "slurm")
    hints = scheduler.draft_hints(cluster)
    header: list[str] = []
    pools: list[PoolDraft] = []
    for part in _ordered(cluster.partitions):
        nodes = cluster.nodes_of(part.name)
        if part.state != "UP" or not nodes:
            why = f"is {part.state}" if part.state != "UP" else "has no nodes"
            header.append(f"{hints.term('queue').capitalize()} {part.name} {why}: left out.")
            continue
        pools.append(_partition_pool(part, nodes, hints))
    if hints.constraints:
        pools += _feature_pools(cluster, pools, hints)
    _unique_names(pools)
    if keep is not None:
        pools = _keep(pools, keep)
    if not pools:
        raise UserError(f"the cluster has no {hints.term('queue')} that is UP and has nodes: "
                        "nothing to write (`sinfo` or `qstat -Q` shows them)")
    hints = scheduler.draft_hints(cluster, any(p.values.get("oversubscribe") for p in pools))
    draft = SiteDraft(name=_site_name(name, cluster, hints.default_name),
                      header=hints.header + header,
                      pools=pools, mpi=hints.mpi, mpi_notes=hints.mpi_notes,
                      description=hints.description, account=cluster.default_account,
                      scheduler=scheduler.name, hints=hints,
                      environments=environment_drafts(shipped_environments())
                      if environments is None else environments)
    _fallbacks(draft)
    if any(p.values.get("tiles_per_accelerator", 1) > 1 for p in pools):
        draft.env["ZE_FLAT_DEVICE_HIERARCHY"] = "COMPOSITE"
        draft.env_notes.append("tile masks (ZE_AFFINITY_MASK=0.1) name a tile of a device in "
                               "COMPOSITE mode; FLAT mode numbers the tiles 0..N-1 instead")
    return draft


def _ordered(parts: tuple[SlurmPartition, ...]) -> list[SlurmPartition]:
    return sorted(parts, key=lambda p: not p.default)  # stable: the default first


def _name_class(name: str) -> str | None:
    for word in re.split(r"[^a-z]+", name.lower()):
        if word in _NAME_WORDS:
            return _NAME_WORDS[word]
    return None


def _partition_pool(part: SlurmPartition, nodes: list[SlurmNode], hints: DraftHints
                    ) -> PoolDraft:
    said = _name_class(part.name)
    gpu_nodes = [n for n in nodes if n.gres_count("gpu")]
    xpu_feature = _common_feature(nodes)
    pool = PoolDraft(part.name, {})
    if said != "cpu" and len(gpu_nodes) == len(nodes):
        _gpu_pool(pool, part, nodes, hints)
    elif said != "cpu" and ((xpu_feature and hints.constraints) or said == "xpu"):
        _xpu_pool(pool, part, xpu_feature, hints)
    else:
        pool.set("device", "cpu")
        pool.set(hints.queue_field, part.name)
        if gpu_nodes:
            kinds = ", ".join(sorted({_gres_text(n) for n in gpu_nodes}))
            some = "Its nodes" if len(gpu_nodes) == len(nodes) else (
                f"{len(gpu_nodes)} of its {len(nodes)} nodes")
            pool.notes.append(f"{some} also carry GPUs (GRES {kinds}); this cpu pool does not "
                              "ask for them.")
        if said == "gpu":
            pool.notes.append(f"CHECK: named like a GPU {hints.term('queue')}, but its nodes "
                              "have no gpu GRES, so GPUs cannot be requested: a cpu pool.")
    _size(pool, part, nodes, hints)
    return pool


def _gpu_pool(pool: PoolDraft, part: SlurmPartition, nodes: list[SlurmNode],
              hints: DraftHints) -> None:
    count = min(n.gres_count("gpu") for n in nodes)
    types = sorted({t for n in nodes for t in n.gres_types("gpu")})
    intel = bool(types) and all(_INTEL_GPU.match(t) for t in types)
    amd = bool(types) and all(_AMD_GPU.match(t) for t in types)
    pool.set("device", "xpu" if intel else "gpu")
    pool.set(hints.queue_field, part.name)
    shapes = sorted({_gres_text(n) for n in nodes})
    note = f"{hints.term('gres')} " + ", ".join(shapes)
    if len({n.gres_count("gpu") for n in nodes}) > 1:
        note += f"; nodes differ, the smallest count ({count})"
    pool.set("accelerators_per_node", count, note)
    if intel:
        pool.set("backend", "level_zero", "Intel GPUs (type " + ", ".join(types) + ")")
        if hints.intel_gres:
            pool.set("gres", f"gpu:{count}", "xpu pools ask for GRES only when told")
        tiles = {_TILES.get(t.lower()) for t in types}
        if len(tiles) == 1 and None not in tiles:
            n = tiles.pop()
            pool.set("tiles_per_accelerator", n, f"CHECK: from the type ({', '.join(types)}): "
                     "Max 1550 has 2 tiles, Max 1100 one; `orch devices` on a node shows them")
            if n > 1:
                pool.set("pin", "tile", "a worker slot per tile (ZE_AFFINITY_MASK=GPU.TILE)")
        else:
            pool.notes.append("CHECK: tiles_per_accelerator is 1; Data Center GPU Max 1550 has "
                              f"2 tiles (`orch devices` on a node of {part.name} shows them).")
    elif amd:
        pool.set("backend", "rocm", "AMD GPUs (GRES type " + ", ".join(types) + ")")


def _xpu_pool(pool: PoolDraft, part: SlurmPartition, feature: str | None,
              hints: DraftHints) -> None:
    pool.set("device", "xpu")
    pool.set(hints.queue_field, part.name)
    if feature and hints.constraints:
        pool.set("constraint", feature, f"node feature {feature}")
    _xpu_count(pool, part.name, feature)


def _xpu_count(pool: PoolDraft, partition: str, feature: str | None) -> None:
    where = f"-p {partition}" + (f" --constraint={feature}" if feature else "")
    pool.set("accelerators_per_node", 1, "CHECK: Slurm does not count these devices")
    pool.notes.append(f"CHECK: what the XPU nodes carry: `srun {where} orch devices`. Intel "
                      "GPUs: set accelerators_per_node (and tiles_per_accelerator); the OpenCL "
                      'CPU device (as on the local test cluster): backend: opencl, selector: '
                      '"opencl:cpu".')


def _common_feature(nodes: list[SlurmNode]) -> str | None:
    """An XPU feature every node has."""
    common = set.intersection(*(set(n.features) for n in nodes)) if nodes else set()
    found = sorted(f for f in common if f.lower() in XPU_FEATURES)
    return found[0] if found else None


def _feature_pools(cluster: Cluster, pools: list[PoolDraft], hints: DraftHints
                   ) -> list[PoolDraft]:
    """One xpu pool per XPU feature found on nodes of a cpu partition (the first such
    partition, default first), unless a partition pool already serves that feature."""
    done = {p.values.get("constraint") for p in pools if p.device == "xpu"}
    out = []
    for pool in [p for p in pools if p.device == "cpu"]:
        part = next(p for p in cluster.partitions if p.name == pool.values["partition"])
        nodes = cluster.nodes_of(part.name)
        features = sorted({f for n in nodes for f in n.features if f.lower() in XPU_FEATURES})
        for feature in features:
            if feature in done:
                continue
            done.add(feature)
            with_it = [n for n in nodes if feature in n.features]
            xpu = PoolDraft(feature, {})
            xpu.notes.append(f"Nodes of partition {part.name} with feature {feature} "
                             f"({len(with_it)} of {len(nodes)}).")
            _xpu_pool(xpu, part, feature, hints)
            _size(xpu, part, with_it, hints)
            out.append(xpu)
    return out


def _gres_text(node: SlurmNode) -> str:
    return ",".join(f"{g.name}:{g.type + ':' if g.type else ''}{g.count}"
                    for g in node.gres if g.name == "gpu")


def _size(pool: PoolDraft, part: SlurmPartition, nodes: list[SlurmNode],
          hints: DraftHints) -> None:
    """Cores, memory, walltimes, blocks and a description from the partition's nodes."""
    if part.allowed:
        pool.notes.append(f"CHECK: only {', '.join(part.allowed)} may submit here.")
    cores, cores_note = _cores(part, nodes, hints)
    pool.set("cores_per_node", cores, cores_note)
    memory, memory_note = _memory(part, nodes, hints)
    if memory is not None:
        pool.set("memory_per_node", memory, memory_note)
    elif memory_note:
        pool.notes.append(memory_note)
    if part.oversubscribe.startswith("FORCE"):
        pool.set("oversubscribe", True, f"OverSubscribe={part.oversubscribe}: the partition "
                 "shares cores between jobs; MPI stages may run more ranks than cores")
    _walltimes(pool, part, hints)
    blocks = min(len(nodes), MAX_BLOCKS)
    pool.set("max_blocks", blocks, f"jobs of this pool at once; {len(nodes)} node(s) here"
             + ("" if blocks == len(nodes) else ": raise it to use more"))
    accel = pool.values.get("accelerators_per_node")
    what = f", {accel} {pool.device} each" if accel else ""
    pool.values = {"device": pool.values.pop("device"),
                   "description": f"{hints.term('queue')} {part.name}: {len(nodes)} "
                                  f"node(s){what}",
                   **pool.values}


def _cores(part: SlurmPartition, nodes: list[SlurmNode], hints: DraftHints
           ) -> tuple[int, str]:
    counts = sorted({n.cpus for n in nodes})
    cores = counts[0]
    notes = [hints.term("cpus")]
    if len(counts) > 1:
        notes.append(f"nodes differ ({counts[0]} to {counts[-1]}): the smallest")
    if part.max_cpus_per_node and part.max_cpus_per_node < cores:
        cores = part.max_cpus_per_node
        notes.append(f"MaxCPUsPerNode={cores}")
    threads = max(n.threads_per_core for n in nodes)
    if threads > 1:
        notes.append(f"{threads} hardware threads per core")
    return cores, "; ".join(notes)


def _memory(part: SlurmPartition, nodes: list[SlurmNode], hints: DraftHints
            ) -> tuple[str | None, str]:
    sizes = sorted({n.memory_mib for n in nodes if n.memory_mib is not None})
    if len(sizes) < len({n.memory_mib for n in nodes}) or not sizes:
        return None, (f"{hints.term('memory')} is not configured on every node: "
                      "memory_per_node left out (memory is then not checked, and blocks give "
                      "no --mem)")
    mib = sizes[0]
    notes = [hints.term("memory") + (f"; nodes differ ({_mem(sizes[0])} to {_mem(sizes[-1])}): the "
                             "smallest" if len(sizes) > 1 else "")]
    if part.max_mem_per_node_mib and part.max_mem_per_node_mib < mib:
        mib = part.max_mem_per_node_mib
        notes.append(f"MaxMemPerNode={mib}")
    m = re.fullmatch(r"FORCE:(\d+)", part.oversubscribe)
    if m and int(m.group(1)) > 1:
        share = int(m.group(1))
        mib //= share
        notes.append(f"a 1/{share} share: OverSubscribe=FORCE:{share} lets {share} jobs share "
                     "a node, so a block leaves room for the others")
    return _mem(mib), "; ".join(notes)


def _mem(mib: int) -> str:
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


def _walltimes(pool: PoolDraft, part: SlurmPartition, hints: DraftHints) -> None:
    limit = part.max_time_s
    queue, max_time, default_time = (hints.term(k) for k in ("queue", "max_time",
                                                             "default_time"))
    if part.default_time_s:
        block, note = part.default_time_s, f"the {queue}'s {default_time}"
    else:
        block = min(DEFAULT_WALLTIME_S, limit or DEFAULT_WALLTIME_S)
        note = f"each block (pilot job); no {default_time} here"
    pool.set("walltime", format_walltime(block), note)
    if limit:
        pool.set("max_walltime", format_walltime(limit), f"the {queue}'s {max_time}")
    else:
        pool.notes.append(f"{max_time}=UNLIMITED: no max_walltime, so the block walltime is "
                          "each task's limit.")
    if block < TASK_WALLTIME_S:
        pool.set("task_walltime", format_walltime(block), "estimate for stages without one")


def _unique_names(pools: list[PoolDraft]) -> None:
    seen: set[str] = set()
    for pool in pools:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", pool.name).strip("-") or "pool"
        if not re.match(NAME_RE, base):
            base = f"p-{base}"
        name, n = base, 2
        if name in seen and pool.device != "cpu":
            name = f"{base}-{pool.device}"
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        pool.name = name


def _keep(pools: list[PoolDraft], keep: list[str]) -> list[PoolDraft]:
    names = [p.name for p in pools]
    unknown = [k for k in keep if k not in names]
    if unknown:
        hint = did_you_mean(unknown[0], names)
        raise UserError(f"--pools: no pool named {unknown[0]!r} on this cluster "
                        f"({hint + ' ' if hint else ''}pools: {', '.join(names)})")
    return [p for p in pools if p.name in keep]


def _site_name(name: str | None, cluster: Cluster, default: str) -> str:
    if name is not None:
        if not re.match(NAME_RE, name) or len(name) > 128:
            raise UserError(f"--name {name!r}: a site name is a letter, then letters, digits, "
                            "'_', '.' or '-'")
        return name
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", cluster.name or "").strip("-")
    return base if re.match(NAME_RE, base) else default


def _fallbacks(draft: SiteDraft) -> None:
    classes = {p.device for p in draft.pools}
    if "cpu" not in classes:
        return
    for missing in ("gpu", "xpu"):
        if missing not in classes:
            draft.fallbacks[missing] = "cpu"
    if draft.fallbacks:
        draft.fallback_notes.append(
            "No pool of " + " or ".join(draft.fallbacks) + ": those stages run on the first "
            "cpu pool (CUDA sees no GPU; SYCL uses the OpenCL CPU device).")
