"""`orch site init`'s view of a Slurm cluster: the read-only commands (`scontrol show
config|partition|node`, `sacctmgr`, `srun --mpi=list`) and their parsers into the
scheduler-neutral probe result (schedulers/probe.py). The Slurm scheduler (slurm.py) calls
`probe_cluster`; kept apart so that module is what jobs need and this one what a site
draft needs."""

from __future__ import annotations

import getpass
import re
import shutil

from orchestrator.schedulers.probe import (
    Cluster,
    Gres,
    Node,
    Queue,
    Runner,
    SchedulerError,
    optional,
    run_command,
)

# Sources, and why (docs/decisions.md, "orch site init reads scontrol --oneliner"):
# - `sinfo --version`: is Slurm here at all, and which release.
# - `scontrol --oneliner show partition` / `show node`: one `Key=Value ...` record per line,
#   the same keys since Slurm 17.11; each node names its partitions, so no hostlist
#   expressions (`gn[01-04]`) need expanding. `sinfo --json` is not used: its schema changes
#   with every data_parser version (v0.0.38 in 22.05, nested `{set, number}` from 23.02).
# - `scontrol show config`: ClusterName, SelectType(Parameters), GresTypes, MpiDefault.
# - optional, failures ignored: `srun --mpi=list` (local, submits nothing) and
#   `sacctmgr --noheader --parsable2 show user` (the user's default account).
# Every command is an argument list (no shell), bounded by a timeout.
SINFO_VERSION = ["sinfo", "--version"]
SHOW_PARTITION = ["scontrol", "--oneliner", "show", "partition"]
SHOW_NODE = ["scontrol", "--oneliner", "show", "node"]
SHOW_CONFIG = ["scontrol", "show", "config"]
MPI_LIST = ["srun", "--mpi=list"]


def sacctmgr_user(user: str) -> list[str]:
    return ["sacctmgr", "--noheader", "--parsable2", "show", "user", user,
            "format=user,defaultaccount"]


def probe_cluster(runner: Runner | None = None, user: str | None = None) -> Cluster:
    """Query the Slurm cluster this machine submits to."""
    if runner is None:
        if shutil.which("sinfo") is None:
            raise SchedulerError(
                "`sinfo` is not on PATH: `orch site init --scheduler slurm` probes a Slurm "
                "cluster: run it on a login node (after `module load slurm` where the site "
                "needs it), or write a site config by hand (docs/site.md)")
        runner = run_command
    version = runner(SINFO_VERSION)
    partitions = runner(SHOW_PARTITION)
    nodes = runner(SHOW_NODE)
    config = runner(SHOW_CONFIG)
    mpi = optional(runner, MPI_LIST)
    assoc = optional(runner, sacctmgr_user(user or _user()))
    return parse_cluster(version, partitions, nodes, config, mpi, assoc)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def draft_header(cluster: Cluster) -> list[str]:
    conf = cluster.config
    select = conf.get("SelectType", "?")
    if conf.get("SelectTypeParameters") not in (None, "", "(null)", "NONE"):
        select += f" ({conf['SelectTypeParameters']})"
    return [f"Written by `orch site init` from Slurm {cluster.version}, cluster "
            f"{cluster.name or '?'} (scontrol show partition, node, config). Lines marked "
            "CHECK need a look.",
            f"SelectType={select}, GresTypes={conf.get('GresTypes', '?')}, "
            f"MpiDefault={conf.get('MpiDefault', '?')}."]


def mpi_notes(cluster: Cluster) -> list[str]:
    default = cluster.config.get("MpiDefault", "unknown")
    plugins = ", ".join(cluster.mpi_plugins) or "unknown"
    notes = [f"srun starts each MPI stage's ranks inside its block (MpiDefault={default}; "
             f"srun --mpi=list: {plugins})."]
    if default in ("none", "unknown"):
        notes.append("CHECK: with MpiDefault=none srun gives the ranks no PMI: put your MPI's "
                     'in args, e.g. "--mpi=pmix" (Open MPI) or "--mpi=pmi2" (MPICH).')
    else:
        other = ('"--mpi=pmi2" (MPICH)' if default.startswith("pmix")
                 else '"--mpi=pmix" (Open MPI)')
        notes.append(f"An MPI that does not speak {default} needs {other} in args; "
                     "`launcher: mpiexec` (MPICH's Hydra) is the other way.")
    return notes


# ---------------------------------------------------------------- probe: parsing


_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/.\[\]]*)=")
_NONE = {"", "(null)", "N/A", "NONE", "n/a", "UNLIMITED", "INFINITE", "Unknown"}


def parse_records(text: str, first_key: str) -> list[dict[str, str]]:
    """`Key=Value` records of `scontrol show`, one per line (--oneliner) or a block of
    indented lines each. Values may hold spaces (OS=, Reason=): a value runs to the next
    `Key=` that follows whitespace."""
    blocks: list[str] = []
    for line in text.splitlines():
        if line.startswith(f"{first_key}="):
            blocks.append(line)
        elif line.strip() and blocks:
            blocks[-1] += " " + line.strip()
    return [_fields(b) for b in blocks]


def _fields(text: str) -> dict[str, str]:
    marks = list(_KEY.finditer(text))
    out: dict[str, str] = {}
    for m, nxt in zip(marks, [*marks[1:], None], strict=True):
        out.setdefault(m.group(1), text[m.end(): nxt.start() if nxt else len(text)].strip())
    return out


def parse_config(text: str) -> dict[str, str]:
    """`scontrol show config`: `Key = value` lines."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s*=\s?(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def parse_gres(text: str) -> tuple[Gres, ...]:
    """`gpu:a100:4(S:0-1),nvme:1`: commas inside parentheses separate sockets, not GRES."""
    if text in _NONE:
        return ()
    out = []
    for item in re.split(r",(?![^(]*\))", text):
        item = re.sub(r"\(.*\)$", "", item.strip())
        parts = item.split(":")
        if not parts[0]:
            continue
        count = _count(parts[-1]) if len(parts) > 1 else None
        if count is None:  # `gpu` or `gpu:a100` without a count: one
            out.append(Gres(parts[0], parts[1] if len(parts) > 1 else None, 1))
        else:
            out.append(Gres(parts[0], parts[1] if len(parts) > 2 else None, count))
    return tuple(out)


def _count(text: str) -> int | None:
    m = re.fullmatch(r"(\d+)([KMG]?)", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def slurm_seconds(text: str | None) -> int | None:
    """Slurm time (`30`, `30:00`, `4:00:00`, `2-00:00:00`, `1-12`) in seconds; None for
    UNLIMITED/INFINITE/NONE."""
    if text is None or text.strip() in _NONE:
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a Slurm time")
    days, a, b, c = m.groups()
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # days-hours[:minutes[:seconds]]
        nums += [0] * (3 - len(nums))
        return int(days) * 86400 + nums[0] * 3600 + nums[1] * 60 + nums[2]
    if len(nums) == 1:    # minutes
        return nums[0] * 60
    if len(nums) == 2:    # minutes:seconds
        return nums[0] * 60 + nums[1]
    return nums[0] * 3600 + nums[1] * 60 + nums[2]


def _int(text: str | None) -> int | None:
    if text is None or text.strip() in _NONE:
        return None
    m = re.match(r"^\d+", text.strip())
    return int(m.group(0)) if m else None


def _list(text: str | None) -> tuple[str, ...]:
    if text is None or text.strip() in _NONE:
        return ()
    return tuple(x for x in (s.strip() for s in text.split(",")) if x)


def parse_node(rec: dict[str, str]) -> Node:
    cpus = _int(rec.get("CPUEfctv")) or _int(rec.get("CPUTot")) or 1
    real = _int(rec.get("RealMemory"))
    spec = _int(rec.get("MemSpecLimit")) or 0
    memory = real - spec if real and real > 1 else None  # RealMemory=1: not configured
    features = rec.get("AvailableFeatures", rec.get("Features"))
    return Node(name=rec["NodeName"], cpus=cpus,
                     threads_per_core=_int(rec.get("ThreadsPerCore")) or 1,
                     memory_mib=memory, gres=parse_gres(rec.get("Gres", "")),
                     features=_list(features), partitions=_list(rec.get("Partitions")),
                     state=rec.get("State", "UNKNOWN"))


def parse_partition(rec: dict[str, str]) -> Queue:
    max_mem = rec.get("MaxMemPerNode")
    return Queue(
        name=rec["PartitionName"], default=rec.get("Default", "NO").upper() == "YES",
        state=rec.get("State", "UP").upper(), max_time_s=slurm_seconds(rec.get("MaxTime")),
        default_time_s=slurm_seconds(rec.get("DefaultTime")),
        max_nodes=_int(rec.get("MaxNodes")), max_cpus_per_node=_int(rec.get("MaxCPUsPerNode")),
        max_mem_per_node_mib=_int(max_mem),
        oversubscribe=rec.get("OverSubscribe", rec.get("Shared", "NO")).upper(),
        qos=None if rec.get("QoS", "N/A") in _NONE else rec.get("QoS"),
        total_nodes=_int(rec.get("TotalNodes")) or 0,
        allowed=tuple(f"{key}={rec[key]}" for key in ("AllowGroups", "AllowAccounts", "AllowQos")
                      if rec.get(key, "ALL") not in ("ALL", *_NONE)))


def parse_version(text: str) -> str:
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
    if not m:
        raise SchedulerError(f"`sinfo --version` said {text.strip()[:200]!r}: not a Slurm "
                             "version (is this Slurm's sinfo?)")
    return m.group(1)


def parse_mpi_list(text: str) -> tuple[str, ...]:
    """`srun --mpi=list`: plugin names, one per indented line (22.05: `\\tpmi2`; older:
    `srun: mpi/pmi2`)."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"\s*(?:srun: )?(?:mpi/)?([a-z][a-z0-9_]*)\s*", line)
        if m and m.group(1) not in ("mpi", "specific"):
            out.append(m.group(1))
    return tuple(dict.fromkeys(out))


def parse_account(text: str) -> str | None:
    """`sacctmgr -nP show user U format=user,defaultaccount`: `U|account`."""
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[1]:
            return parts[1]
    return None


def parse_cluster(version: str, partitions: str, nodes: str, config: str,
                  mpi_list: str = "", assoc: str = "") -> Cluster:
    """A cluster from the captured text of the probe's commands (tests feed fixtures)."""
    conf = parse_config(config)
    release = parse_version(version)
    try:
        parts = tuple(parse_partition(r) for r in parse_records(partitions, "PartitionName"))
        node_list = tuple(parse_node(r) for r in parse_records(nodes, "NodeName"))
    except (KeyError, ValueError) as exc:
        raise SchedulerError(f"cannot read scontrol's output ({exc}); Slurm {release} may "
                             "print a format this probe does not know") from None
    name = conf.get("ClusterName")
    return Cluster(version=release, scheduler="slurm", name=name if name not in _NONE else None,
                        partitions=parts, nodes=node_list, config=conf,
                        mpi_plugins=parse_mpi_list(mpi_list),
                        default_account=parse_account(assoc))
