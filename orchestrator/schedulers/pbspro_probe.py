"""`orch site init`'s view of a PBS Pro server: the read-only commands and their parsers
into the scheduler-neutral probe result (schedulers/probe.py). The PBS Pro scheduler
(pbspro.py) calls `parse_pbs_cluster`; kept apart so that module is what jobs need and this
one what a site draft needs."""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.schedulers.probe import Cluster, Gres, Node, Queue, SchedulerError
from orchestrator.units import parse_walltime

# `orch site init --scheduler pbspro`. PBS Pro (19.1 and later, 2022+ included) prints its
# status as JSON with `-F json`: no text to parse. What each command gives:
# - `qstat -Bf -F json`: the server's name, pbs_version and default_queue;
# - `qstat -Qf -F json`: queues (queue_type Execution/Route, enabled, started,
#   resources_max/resources_default walltime and nodect, route_destinations,
#   from_route_only, default_chunk.Qlist, acl_groups);
# - `pbsnodes -a -F json`: nodes (state, resources_available ncpus, ngpus, mem, Qlist,
#   gpu_type or another host resource naming the GPU, the node's `queue`).
# A node serves a queue when its `queue` names it, or its resources_available.Qlist holds
# the queue's default_chunk.Qlist (the ALCF way); nodes tied to no queue serve every
# execution queue that names none. A route queue serves its destinations' nodes.

QSTAT_SERVER = ["qstat", "-B", "-f", "-F", "json"]
QSTAT_QUEUES = ["qstat", "-Q", "-f", "-F", "json"]
PBSNODES = ["pbsnodes", "-a", "-F", "json"]
_GPU_TYPE_KEYS = ("gpu_type", "gputype", "gpu_model")
_SIZE = re.compile(r"^(\d+)\s*([kmgtp]?)(b|w)?$", re.I)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}
_SKIP = {"arch", "host", "vnode", "mem", "ncpus", "ngpus", "Qlist", "mpiprocs", "ompthreads",
         "naccelerators", "accelerator_memory", "vmem", *_GPU_TYPE_KEYS}


def _json(text: str, what: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchedulerError(f"`{' '.join(what)}` did not print JSON ({exc.msg} at line "
                             f"{exc.lineno}); PBS Pro 19.1 or later prints it") from None
    if not isinstance(data, dict):
        raise SchedulerError(f"`{' '.join(what)}` printed {type(data).__name__}, not an object")
    return data


def pbs_mib(value: Any) -> int | None:
    """A PBS size (`1056467356kb`, `512gb`, `4096mb`, bytes when bare) in MiB."""
    m = _SIZE.match(str(value).strip()) if value is not None else None
    if not m:
        return None
    size = int(m.group(1)) << _SHIFT[m.group(2).lower()]
    if (m.group(3) or "b").lower() == "w":
        size *= 8
    return size >> 20


def pbs_seconds(value: Any) -> int | None:
    """A PBS walltime (`HH:MM:SS`, `MM:SS`, or seconds) in seconds."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    return parse_walltime(text)


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "t", "y")


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(i).strip().split("@")[0] for i in items if str(i).strip()]


def _int(value: Any) -> int | None:
    m = re.match(r"^\d+", str(value).strip()) if value is not None else None
    return int(m.group(0)) if m else None


def parse_pbs_cluster(server: str, queues: str, nodes: str) -> Cluster:
    """A cluster from the captured JSON of the probe's three commands (tests feed fixtures)."""
    srv = _json(server, QSTAT_SERVER)
    qs = _json(queues, QSTAT_QUEUES).get("Queue", {})
    ns = _json(nodes, PBSNODES).get("nodes", {})
    servers = srv.get("Server") or {}
    name, attrs = next(iter(servers.items()), (srv.get("pbs_server"), {}))
    version = str(attrs.get("pbs_version") or srv.get("pbs_version") or "?")
    default_queue = attrs.get("default_queue")
    notes: list[str] = []
    chunk_q = {q: (a.get("default_chunk") or {}).get("Qlist") for q, a in qs.items()}
    served: dict[str, list[str]] = {n: [] for n in ns}
    tied = {n for n, a in ns.items()
            if a.get("queue") or (a.get("resources_available") or {}).get("Qlist")}
    execution = [q for q, a in qs.items() if a.get("queue_type", "Execution") == "Execution"]
    for q in execution:
        for n, a in ns.items():
            qlist = _names((a.get("resources_available") or {}).get("Qlist"))
            if (a.get("queue") == q or (chunk_q[q] and chunk_q[q] in qlist)
                    or (n not in tied and not chunk_q[q]
                        and not any(b.get("queue") == q for b in ns.values()))):
                served[n].append(q)
    for q, a in qs.items():
        if a.get("queue_type") == "Route":
            dests = set(_names(a.get("route_destinations")))
            for n in ns:
                if dests & set(served[n]):
                    served[n].append(q)
    out_queues = []
    for q, a in qs.items():
        if _true(a.get("from_route_only", False)):
            notes.append(f"Queue {q} takes jobs only from a routing queue: left out.")
            continue
        enabled, started = _true(a.get("enabled", True)), _true(a.get("started", True))
        state = "UP" if enabled and started else ("DOWN" if not enabled else "INACTIVE")
        rmax, rdef = a.get("resources_max") or {}, a.get("resources_default") or {}
        acl = tuple(f"acl_{k}={a[f'acl_{k}']}" for k in ("groups", "users")
                    if _true(a.get(f"acl_{k[:-1]}_enable", False)) and a.get(f"acl_{k}"))
        out_queues.append(Queue(
            name=q, default=q == default_queue, state=state,
            max_time_s=pbs_seconds(rmax.get("walltime")),
            default_time_s=pbs_seconds(rdef.get("walltime")),
            max_nodes=_int(rmax.get("nodect")), max_cpus_per_node=None,
            max_mem_per_node_mib=None, oversubscribe="NO", qos=None,
            total_nodes=sum(q in s for s in served.values()), allowed=acl))
    out_nodes = []
    for n, a in ns.items():
        ra = a.get("resources_available") or {}
        ngpus = _int(ra.get("ngpus")) or 0
        gpu_type = next((str(ra[k]) for k in _GPU_TYPE_KEYS if ra.get(k)), None)
        features = tuple(k for k, v in ra.items() if k not in _SKIP and _true(v))
        out_nodes.append(Node(
            name=n, cpus=_int(ra.get("ncpus")) or _int(a.get("pcpus")) or 1,
            threads_per_core=1, memory_mib=pbs_mib(ra.get("mem")),
            gres=(Gres("gpu", gpu_type, ngpus),) if ngpus else (), features=features,
            partitions=tuple(served[n]), state=str(a.get("state", "unknown"))))
    return Cluster(version=version, name=str(name) if name else None,
                   partitions=tuple(out_queues), nodes=tuple(out_nodes),
                   scheduler="pbspro", notes=tuple(notes))
