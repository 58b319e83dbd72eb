"""Check, from what tasks reported at run time, that a run kept its plan's placement:
each task had exactly its planned cores and device variables, and the tasks running at any
moment never shared a CPU or a device unit, nor used more cores than the node has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PINNING = ("CUDA_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "ONEAPI_DEVICE_SELECTOR",
           "ROCR_VISIBLE_DEVICES")


def observed(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every task's record with its plan entry, the subset that reported what it saw)."""
    from orchestrator.state.results import results_by_task

    plan = {t["id"]: t for t in json.loads((run_dir / "plan.json").read_text())["tasks"]}
    held, probes = [], []
    for task, rec in results_by_task(run_dir).items():
        entry = {"task": task, "plan": plan[task.split("@")[0]], "record": rec,
                 "host": rec.get("host"), "held": rec["placement"]["held"],
                 "cpus": rec["placement"]["cpus"], "units": rec["placement"]["units"]}
        held.append(entry)
        if isinstance(rec["result"], dict) and "cpus" in rec["result"]:
            probes.append({**entry, "seen": rec["result"]})
    return held, probes


def audit(run_dir: Path, node_cores: int, in_process: bool = False) -> dict[str, Any]:
    """Raise AssertionError on the first broken promise; return peak cores and overlaps.
    `in_process`: a threads pool, whose tasks share the process's environment (no per-task
    thread-count variables)."""
    held, probes = observed(run_dir)
    assert probes, f"no task reported in {run_dir}"
    for t in probes:
        want = t["plan"]["resources"]["cores"]
        want = node_cores if want == "all" else want
        cpus = t["seen"]["cpus"]
        assert len(cpus) == want, f"{t['task']}: ran on CPUs {cpus}, planned {want} cores"
        assert sorted(t["cpus"]) == cpus, t
        if not in_process:
            assert t["seen"]["env"].get("OMP_NUM_THREADS") == str(want), t
        mask = t["plan"]["device_mask"]
        env = {k: v for k, v in t["seen"]["env"].items() if k in PINNING}
        assert env == mask, f"{t['task']}: device variables {env}, planned {mask}"
        assert t["units"] == t["plan"]["units"], t
    peak, overlaps = 0, 0
    for t in held:  # at each claim, who else holds part of its host?
        now = t["held"][0]
        running = [u for u in held if u["host"] == t["host"]
                   and u["held"][0] <= now < u["held"][1]]
        overlaps += len(running) > 1
        cpus = [c for u in running for c in u["cpus"]]
        units = [x for u in running for x in u["units"]]
        assert len(cpus) == len(set(cpus)), f"CPUs shared at {now}: {_who(running)}"
        assert len(units) == len(set(units)), f"units shared at {now}: {_who(running)}"
        assert len(cpus) <= node_cores, f"{len(cpus)} cores busy on {node_cores}: {_who(running)}"
        peak = max(peak, len(cpus))
    return {"tasks": len(held), "probes": len(probes), "peak_cores": peak,
            "overlapping_starts": overlaps}


def _who(running: list[dict[str, Any]]) -> str:
    return ", ".join(f"{u['task']} cpus={u['cpus']} units={u['units']}" for u in running)
