"""Slurm: blocks are `sbatch` jobs (Parsl's SlurmProvider), watched with `squeue`,
cancelled with `scancel`; `orch site init` probes it with `scontrol` (`Slurm.probe`).

`Slurm.directives` is the single source of the `#SBATCH` options: `orch plan --scripts`
writes them and the provider gets the same lines as `scheduler_options`, so what you
review is what is submitted.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from orchestrator.schedulers.base import (
    Capabilities,
    DriverJob,
    ProviderSpec,
    Scheduler,
    SchedulerOptions,
    ScriptParts,
)
from orchestrator.schedulers.probe import (
    Cluster,
    DraftHints,
    Runner,
)
from orchestrator.schedulers.slurm_probe import draft_header, mpi_notes, probe_cluster
from orchestrator.units import format_walltime, parse_memory, parse_walltime

if TYPE_CHECKING:
    from orchestrator.site.models import Site


class SlurmOptions(SchedulerOptions):
    """Site-wide Slurm settings; pools may override account and qos."""

    account: str | None = None
    qos: str | None = None
    cmd_timeout: int = Field(30, ge=1, description="Seconds before sbatch/squeue/scancel give up.")


# The layout of parsl/providers/slurm/template.py, filled in the same order.
_TEMPLATE = """#!/bin/bash

#SBATCH --job-name={jobname}
#SBATCH --output={script_dir}/{jobname}.submit.stdout
#SBATCH --error={script_dir}/{jobname}.submit.stderr
#SBATCH --nodes={nodes}
#SBATCH --time={minutes}
#SBATCH --ntasks-per-node=1
{scheduler_options}

{worker_init}

export JOBNAME="{jobname}"

{user_script}
"""

# `orch submit`: the driver's own job. The workflow's blocks are job steps of this
# allocation (srun), not jobs of their own; `--signal=B:USR1@T` tells the driver (the batch
# shell, replaced by `exec`) T seconds before the time limit, so it stops cleanly and the
# next link of the chain resumes the run.
_DRIVER_TEMPLATE = """#!/bin/bash

#SBATCH --job-name={jobname}
#SBATCH --output={log_dir}/driver-%j.out
#SBATCH --open-mode=append
#SBATCH --nodes={nodes}
#SBATCH --time={minutes}
#SBATCH --ntasks-per-node=1
#SBATCH --signal=B:USR1@{lead}
{scheduler_options}

{environment}

# the driver; the workflow's tasks run on this job's nodes (each pool's block is a job
# step: srun); ORCH_CHAIN_LINK: this job's link in the chain (sbatch --export)
exec {command} --chain-link "${{ORCH_CHAIN_LINK:-1}}"
"""

SHOWN = 5  # job notes: at most this many lines


class Slurm(Scheduler):
    name = "slurm"
    options_model = SlurmOptions
    probe_commands = ("sinfo",)
    probe_order = 10
    capabilities = Capabilities(
        label="Slurm", batch=True, directive="#SBATCH", script_suffix=".sbatch",
        provider="SlurmProvider",
        pool_fields=frozenset({"partition", "account", "qos", "constraint", "gres",
                               "exclusive"}),
        executors=("htex",), jobs_file="slurm-jobs.json", job_id_var="SLURM_JOB_ID",
        heartbeat=(5, 20), strategy_period=1.0)
    instead = {"queue": "Slurm pools use partition"}

    # ---- plan side ------------------------------------------------------------------------
    def directives(self, site: Site, pool_name: str) -> list[str]:
        """`#SBATCH` lines for one pool (besides nodes, time and ntasks that Parsl writes)."""
        pool = site.pools[pool_name]
        lines = []
        if pool.exclusive:
            lines.append("#SBATCH --exclusive")
        if pool.partition:
            lines.append(f"#SBATCH --partition={pool.partition}")
        account = pool.account or site.slurm.account
        if account:
            lines.append(f"#SBATCH --account={account}")
        qos = pool.qos or site.slurm.qos
        if qos:
            lines.append(f"#SBATCH --qos={qos}")
        if pool.constraint:
            lines.append(f"#SBATCH --constraint={pool.constraint}")
        if isinstance(pool.cores_per_node, int) and not pool.exclusive:
            # the block asks for the cores the plan packs tasks onto (one Parsl manager per node)
            lines.append(f"#SBATCH --cpus-per-task={pool.cores_per_node}")
        gres = pool.gres or (f"gpu:{pool.for_class('gpu').accelerators_per_node}"
                             if "gpu" in pool.devices else None)
        if gres:
            lines.append(f"#SBATCH --gres={gres}")
        if pool.memory_per_node not in (None, "auto"):
            mib = parse_memory(pool.memory_per_node) // (1024 * 1024)
            lines.append(f"#SBATCH --mem={mib}M")
        lines.extend(pool.scheduler_options)
        return lines

    def queue(self, site: Site, pool_name: str) -> str | None:
        return site.pools[pool_name].partition

    def script(self, site: Site, pool_name: str, parts: ScriptParts) -> str:
        pool = site.pools[pool_name]
        return _TEMPLATE.format(
            jobname=parts.jobname,
            script_dir=parts.script_dir,
            nodes=pool.nodes_per_block,
            minutes=max(1, parse_walltime(pool.walltime) // 60),
            scheduler_options="\n".join(self.directives(site, pool_name)),
            worker_init=parts.worker_init,
            user_script=parts.user_script,
        )

    def driver_script(self, site: Site, job: DriverJob) -> str:
        return _DRIVER_TEMPLATE.format(
            jobname=job.jobname, log_dir=job.log, nodes=job.nodes,
            minutes=max(1, job.walltime_s // 60), lead=job.signal_lead_s,
            scheduler_options="\n".join(self.directives(site, job.pool)),
            environment=job.environment, command=job.command)

    # ---- run side -------------------------------------------------------------------------
    def allocation_provider(self, site: Site, pool_name: str, worker_init: str, *,
                            mpi: bool = False) -> ProviderSpec:
        """Inside the driver's allocation: the pool's block is a job step on its nodes
        (Parsl's LocalProvider with SrunLauncher, as Parsl documents for running inside an
        allocation), one worker pool per node with every CPU of the node (`--overlap`: the
        MPI stages' own `srun` steps share them). An MPI-mode block is a process beside the
        driver that starts each task's ranks with srun."""
        pool = site.pools[pool_name]
        blocks = {"nodes_per_block": pool.nodes_per_block, "init_blocks": 1,
                  "min_blocks": 1, "max_blocks": 1, "worker_init": worker_init}
        if mpi:
            return ProviderSpec("LocalProvider", blocks, ("SimpleLauncher", {}))
        step = (f"--nodes={pool.nodes_per_block} --ntasks-per-node=1 "
                "--cpus-per-task=$SLURM_CPUS_ON_NODE --cpu-bind=none --overlap")
        return ProviderSpec("LocalProvider", blocks, ("SrunLauncher", {"overrides": step}))

    def submit_command(self, script: Path, link: int, after: str | None = None) -> list[str]:
        """`afterany`: the next link starts once the previous job has ended, however it
        ended (time limit, node failure); a link whose run has finished cancels the rest."""
        cmd = ["sbatch", "--parsable", f"--export=ALL,ORCH_CHAIN_LINK={link}"]
        if after:
            cmd += [f"--dependency=afterany:{after}", "--kill-on-invalid-dep=yes"]
        return [*cmd, str(script)]

    def submitted_id(self, stdout: str) -> str:
        """`sbatch --parsable` prints `ID` or `ID;CLUSTER`."""
        return stdout.strip().splitlines()[-1].split(";")[0] if stdout.strip() else ""

    def job_states(self, job_ids: list[str]) -> dict[str, str]:
        """squeue's word on each job, ended ones too while Slurm keeps them (MinJobAge)."""
        return {b.job: b.state_text() for b in blocks(job_ids, every_state=True)}

    def provider(self, site: Site, pool_name: str, worker_init: str, *, mpi: bool = False,
                 run_dir: Path | None = None) -> ProviderSpec:
        """A pool's blocks as Slurm jobs; every #SBATCH option comes from `directives`."""
        pool = site.pools[pool_name]
        return ProviderSpec("SlurmProvider", dict(
            partition=None,
            scheduler_options="\n".join(self.directives(site, pool_name)),
            exclusive=False,
            nodes_per_block=pool.nodes_per_block,
            init_blocks=pool.init_blocks,
            min_blocks=pool.min_blocks,
            max_blocks=pool.max_blocks,
            walltime=format_walltime(parse_walltime(pool.walltime)),
            worker_init=worker_init,
            cmd_timeout=site.slurm.cmd_timeout,
        ), self._block_launcher(pool.nodes_per_block, mpi))

    @staticmethod
    def _block_launcher(nodes: int, mpi: bool) -> tuple[str, dict] | None:
        """An MPI-mode block is one process that starts each task's ranks with srun; a block
        of several nodes starts one worker pool per node (srun, one task per node: Parsl's
        default launcher would start them all on the batch host); one node: Parsl's default."""
        if mpi:
            return ("SimpleLauncher", {})
        if nodes > 1:
            return ("SrunLauncher", {"overrides": "--cpu-bind=none"})
        return None

    # ---- orch site init ------------------------------------------------------------------
    def probe(self, runner: Runner | None = None, user: str | None = None) -> Cluster:
        """Query the Slurm cluster this machine submits to (read-only commands)."""
        return probe_cluster(runner, user)

    def draft_hints(self, cluster: Cluster, oversubscribed: bool = False) -> DraftHints:
        """srun as the MPI launcher (with what MpiDefault means for it), the user's default
        account, GRES for Intel GPUs; --overcommit where a pool is oversubscribed."""
        mpi: dict[str, Any] = {"launcher": "srun"}
        notes = mpi_notes(cluster)
        if oversubscribed:
            mpi["args"] = ["--overcommit"]
            notes.append("--overcommit: an oversubscribed pool's MPI stages may run more ranks "
                         "than the block has CPUs, which srun refuses without it (`More "
                         "processors requested than permitted`).")
        called = f" {cluster.name}" if cluster.name else ""
        options = ([("account", cluster.default_account,
                     "your default account (sacctmgr); pools may set their own")]
                   if cluster.default_account else [])
        return DraftHints(
            queue_field="partition", header=draft_header(cluster), mpi=mpi, mpi_notes=notes,
            description=f"Slurm {cluster.version} cluster{called}, probed by orch site init.",
            options=options, options_note="slurm: {account: ..., qos: ...} where jobs must "
            "name them (sacctmgr found no default account for you).",
            default_name="slurm-cluster", intel_gres=True, constraints=True)

    def status_command(self, job_ids: list[str]) -> list[str]:
        return ["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)]

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["scancel", *job_ids]

    def still_queued(self, job_ids: list[str], returncode: int, stdout: str, stderr: str
                     ) -> list[str] | None:
        if returncode != 0:  # squeue errors out when none of the ids is known any more
            return [] if "Invalid job id" in stderr else None
        listed = set(stdout.split())
        return [j for j in job_ids if j in listed]

    def valid_job_id(self, job_id: str) -> bool:
        return job_id.isdigit()

    def job_notes(self, job_ids: list[str]) -> list[str]:
        """Pending blocks first, with squeue's reason (Priority, Resources,
        QOSMaxJobsPerUserLimit, ...: a block pending for hours is the most common reason
        a run "does nothing"); at most SHOWN lines."""
        found = sorted(blocks(job_ids), key=lambda b: (b.state != "PENDING", b.job))
        lines = [b.text() for b in found[:SHOWN]]
        if len(found) > SHOWN:
            lines.append(f"... and {len(found) - SHOWN} more Slurm jobs")
        return lines


@dataclass(frozen=True)
class Block:
    """What squeue says of one block."""

    job: str
    state: str  # PENDING, RUNNING, CONFIGURING, ...
    reason: str
    partition: str
    nodes: str

    def text(self) -> str:
        return f"Slurm job {self.job} ({self.partition}): {self.state_text()}"

    def state_text(self) -> str:
        if self.state == "PENDING":
            return f"pending ({self.reason})"
        if self.state not in ("RUNNING", "CONFIGURING", "COMPLETING"):
            return self.state.lower()
        where = f" on {self.nodes}" if self.nodes and self.nodes != "(null)" else ""
        return f"{self.state.lower()}{where}"


def blocks(job_ids: list[str], timeout: float = 5.0, every_state: bool = False
           ) -> list[Block]:
    """The run's jobs squeue still knows; [] when squeue is missing or does not answer.
    `every_state`: ended jobs too (squeue keeps them for MinJobAge)."""
    ids = [j for j in job_ids if j.replace("_", "").isdigit()]
    squeue = shutil.which("squeue")
    if not ids or squeue is None:
        return []
    try:
        states = ["-t", "all"] if every_state else []
        out = subprocess.run([squeue, "-h", *states, "-j", ",".join(ids),
                              "-o", "%i|%T|%r|%P|%N"],
                             capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5:
            found.append(Block(*parts))
    return found


SCHEDULER = Slurm()
