"""What Slurm says of a run's blocks (`squeue`): a block pending for hours is the most
common reason a run "does nothing", and squeue's reason (Priority, Resources,
QOSMaxJobsPerUserLimit, ...) says what to do about it. No Parsl."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

SHOWN = 5


@dataclass(frozen=True)
class Block:
    job: str
    state: str  # PENDING, RUNNING, CONFIGURING, ...
    reason: str
    partition: str
    nodes: str

    def text(self) -> str:
        if self.state == "PENDING":
            return f"Slurm job {self.job} ({self.partition}): pending ({self.reason})"
        where = f" on {self.nodes}" if self.nodes and self.nodes != "(null)" else ""
        return f"Slurm job {self.job} ({self.partition}): {self.state.lower()}{where}"


def blocks(job_ids: list[str], timeout: float = 5.0) -> list[Block]:
    """The run's jobs squeue still knows; [] when squeue is missing or does not answer."""
    ids = [j for j in job_ids if j.replace("_", "").isdigit()]
    squeue = shutil.which("squeue")
    if not ids or squeue is None:
        return []
    try:
        out = subprocess.run([squeue, "-h", "-j", ",".join(ids), "-o", "%i|%T|%r|%P|%N"],
                             capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5:
            found.append(Block(*parts))
    return found


def job_notes(job_ids: list[str]) -> list[str]:
    """Pending blocks first, with their reason; at most SHOWN lines."""
    found = sorted(blocks(job_ids), key=lambda b: (b.state != "PENDING", b.job))
    lines = [b.text() for b in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"... and {len(found) - SHOWN} more Slurm jobs")
    return lines
