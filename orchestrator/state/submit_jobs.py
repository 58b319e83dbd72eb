"""The driver jobs of a run `orch submit` started (RUN_DIR/submit.json), and what the
scheduler says of each now: for `orch status` and `orch report` (no Parsl, no backends).
Submitting and ending the chain is backends/chain.py."""

from __future__ import annotations

import contextlib
from pathlib import Path

from orchestrator import schedulers
from orchestrator.state.rundir import SUBMIT_NAME, RunDir


def record(run_dir: Path) -> dict:
    """submit.json: {"scheduler", "script", "links": [{"link", "job", "submitted"}]}; {}
    when the run was not submitted (or the file is unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        data = RunDir(Path(run_dir)).read_json(SUBMIT_NAME)
        if isinstance(data, dict) and isinstance(data.get("links"), list):
            return data
    return {}


def link_states(run_dir: Path) -> list[dict]:
    """Each recorded link with what the scheduler says of its job now: {"link", "job",
    "state"}; "ended" when the scheduler no longer knows it."""
    data = record(run_dir)
    links = [x for x in data.get("links", []) if isinstance(x, dict) and "job" in x]
    if not links:
        return []
    try:
        scheduler = schedulers.get(str(data.get("scheduler")))
    except KeyError:
        return [{"link": x.get("link"), "job": str(x["job"]), "state": "?"} for x in links]
    states = scheduler.job_states([str(x["job"]) for x in links])
    return [{"link": x.get("link"), "job": str(x["job"]),
             "state": states.get(str(x["job"]), "ended")} for x in links]
