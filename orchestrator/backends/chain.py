"""`orch submit`'s chain of driver jobs: submitting the links, recording them in the run
directory (submit.json), reading their states back, and ending the chain once the run has
ended. Engine-neutral (no Parsl): the scheduler module says how to submit, ask and cancel.

Each link is the same batch script, held until the previous link's job has ended
(`afterany`), so a link killed at its time limit, or lost with its node, is followed by
the next one, which resumes the run directory (the run lock makes sure only one driver
ever runs it). A link that sees the run ended cancels the links still queued.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from orchestrator import schedulers
from orchestrator.errors import UserError
from orchestrator.state.rundir import SUBMIT_NAME, RunDir
from orchestrator.state.submit_jobs import record

ENDED = ("succeeded", "failed")  # run states after which no link has anything to do


def submit_links(scheduler_name: str, script: Path, run_dir: Path, links: int,
                 timeout: float = 30.0) -> list[dict]:
    """Submit `links` jobs of `script`, each held until the one before has ended (the first
    after the run's last recorded link, if that is still queued or running). Each job is
    recorded as soon as it is submitted; a refused first submission is a UserError."""
    scheduler = schedulers.get(scheduler_name)
    rundir = RunDir(Path(run_dir))
    data = record(run_dir) or {"scheduler": scheduler_name, "links": []}
    data["script"] = str(script)
    earlier = data["links"]
    after = None
    if earlier:
        last = str(earlier[-1]["job"])
        states = scheduler.job_states([last])
        if last in states and states[last].split()[0] in ("pending", "running", "configuring",
                                                          "queued", "held", "waiting"):
            after = last
    new: list[dict] = []
    for k in range(len(earlier) + 1, len(earlier) + links + 1):
        cmd = scheduler.submit_command(script, k, after)
        if cmd is None:
            raise UserError(f"{scheduler.capabilities.label} cannot submit jobs")
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                 check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = subprocess.CompletedProcess(cmd, 1, "", str(exc))
        job = scheduler.submitted_id(out.stdout) if out.returncode == 0 else ""
        if not job:
            why = (out.stderr or out.stdout).strip() or f"exit code {out.returncode}"
            if not new and not earlier:
                raise UserError(f"{cmd[0]} refused the driver's job: {why} (the script is "
                                f"{script})")
            raise UserError(f"{cmd[0]} refused chain link {k}: {why}; links "
                            f"{', '.join(str(x['job']) for x in new + earlier)} stay queued")
        entry = {"link": k, "job": job, "submitted": time.time()}
        data["links"].append(entry)
        new.append(entry)
        rundir.write_json(SUBMIT_NAME, data)
        after = job
    return new


def end_chain(run_dir: Path, link: int, timeout: float = 30.0) -> list[str]:
    """Cancel the links after `link` (the run has ended: they would find nothing to do)."""
    data = record(run_dir)
    later = [str(x["job"]) for x in data.get("links", [])
             if isinstance(x, dict) and isinstance(x.get("link"), int) and x["link"] > link]
    if not later:
        return []
    scheduler = schedulers.get(str(data.get("scheduler")))
    cmd = scheduler.cancel_command(later)
    if cmd is None:
        return []
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    return later


def ended_state(run_dir: Path) -> str | None:
    """The run's state when it has ended for good (succeeded, failed), else None: a run
    that is new, interrupted or crashed is the next link's to continue."""
    from orchestrator.state.status import load_status

    if not (Path(run_dir) / "run.json").is_file():
        return None
    try:
        state = load_status(Path(run_dir)).state
    except UserError:
        return None
    return state if state in ENDED else None
