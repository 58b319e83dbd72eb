"""PBS Pro: blocks are `qsub` jobs (Parsl's PBSProProvider), watched with `qstat`,
cancelled with `qdel`. Written for ALCF-style machines (Aurora, Polaris): whole nodes
placed with `place=scatter`, `-l filesystems=...`, one worker pool per node started by
PALS `mpiexec` with CPU binding, devices counted as `ngpus`.

Everything the script says comes from here: `directives` (queue, account, place,
filesystems, the pool's own `#PBS` lines) goes to the provider as `scheduler_options`,
queue and account included, so qsub gets no options of its own and `orch plan --scripts`
shows what is submitted. The select line is Parsl's template's:
`select=NODES:ncpus=CPUS` followed by `select_options` (`:ngpus=N` and the site's extra
chunk resources).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from orchestrator import device_kinds
from orchestrator.schedulers.base import (
    Capabilities,
    DriverJob,
    Problem,
    ProviderSpec,
    Scheduler,
    SchedulerOptions,
    ScriptParts,
)
from orchestrator.schedulers.pbspro_probe import (
    PBSNODES,
    QSTAT_QUEUES,
    QSTAT_SERVER,
    parse_pbs_cluster,
)
from orchestrator.schedulers.probe import (
    Cluster,
    DraftHints,
    Runner,
    SchedulerError,
    run_command,
)
from orchestrator.units import parse_walltime

if TYPE_CHECKING:
    from orchestrator.site.models import Pool, Site

_TOKEN = re.compile(r"^[A-Za-z0-9_.@+-]+$")
_FILESYSTEMS = re.compile(r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)*$")
_PLACE = re.compile(r"^(free|pack|scatter|vscatter)(:(excl|exclhost|shared))?(:group=\w+)?$")
_CHUNK = re.compile(r"^[A-Za-z_]\w*=[A-Za-z0-9_.+-]+$")
_JOB_ID = re.compile(r"^\d+(\[\d*\])?(\.[A-Za-z0-9_.-]+)?$")


def _checked(value: str | None, pattern: re.Pattern, what: str) -> str | None:
    if value is not None and not pattern.match(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


class PBSProOptions(SchedulerOptions):
    """Site-wide PBS Pro settings; pools may override account and queue."""

    account: str | None = Field(None, description="Project charged (#PBS -A).")
    queue: str | None = Field(None, description="Queue of every pool's blocks (#PBS -q).")
    filesystems: str | None = Field(
        None, description="File systems the jobs need (#PBS -l filesystems=...), e.g. home:flare.")
    place: str = Field("scatter", description="Chunk placement (#PBS -l place=...): scatter "
                       "puts each node's chunk on its own host; a pool's exclusive: true adds "
                       ":excl.")
    select_options: list[str] = Field(
        default_factory=list, description="Extra chunk resources of the select line, each "
        "NAME=VALUE (e.g. system=polaris); ngpus is added from accelerators_per_node.")
    threads_per_core: int = Field(
        1, ge=1, le=8, description="Hardware threads PBS counts per core: the select line asks "
        "ncpus = cores_per_node x threads_per_core (2 on Aurora: 104 cores, ncpus=208).")
    block_launcher: Literal["mpiexec", "single"] = Field(
        "mpiexec", description="How a block starts its worker pools: mpiexec (one per node, "
        "PALS/MPICH, as Parsl's Aurora and Polaris configs do) or single (one, first node).")
    cpu_bind: str = Field("--cpu-bind", description="The block launcher's binding option "
                          "(mpiexec CPU_BIND none): --cpu-bind for PALS, --bind-to elsewhere.")
    cmd_timeout: int = Field(30, ge=1, description="Seconds before qsub/qstat/qdel give up.")

    @field_validator("account", "queue")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        return _checked(v, _TOKEN, "a PBS name (letters, digits, _ . @ + -)")

    @field_validator("filesystems")
    @classmethod
    def _filesystems(cls, v: str | None) -> str | None:
        return _checked(v, _FILESYSTEMS, "a filesystems list such as home:flare")

    @field_validator("place")
    @classmethod
    def _place(cls, v: str) -> str:
        return _checked(v, _PLACE, "a placement such as scatter, pack, free or scatter:excl")

    @field_validator("select_options")
    @classmethod
    def _chunk(cls, v: list[str]) -> list[str]:
        for item in v:
            _checked(item, _CHUNK, "a chunk resource NAME=VALUE such as system=polaris")
        return v

    @field_validator("cpu_bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        return _checked(v, re.compile(r"^-{1,2}[A-Za-z][\w-]*$"), "an option such as --cpu-bind")


# The layout of parsl/providers/pbspro/template.py, filled in the same order.
_TEMPLATE = """#!/bin/bash

#PBS -S /bin/bash
#PBS -N {jobname}
#PBS -m n
#PBS -l walltime={walltime}
#PBS -l select={nodes}:ncpus={ncpus}{select_options}
#PBS -o {script_dir}/{jobname}.submit.stdout
#PBS -e {script_dir}/{jobname}.submit.stderr
{scheduler_options}

{worker_init}

export JOBNAME="{jobname}"

{launcher}
{user_script}
"""

# `orch submit`: the driver's own job. PBS Pro has no early warning like Slurm's --signal:
# at the walltime it sends SIGTERM, then SIGKILL after the server's kill_delay; the
# driver stops on SIGTERM (journal flushed, lock released) and the next link resumes.
_DRIVER_TEMPLATE = """#!/bin/bash

#PBS -S /bin/bash
#PBS -N {jobname}
#PBS -m n
#PBS -l walltime={walltime}
#PBS -l select={nodes}:ncpus={ncpus}{select_options}
#PBS -j oe
#PBS -o {log_dir}/
{scheduler_options}

{environment}

# the driver; the workflow's tasks run on this job's nodes ($PBS_NODEFILE: each pool's
# block is started there with mpiexec); ORCH_CHAIN_LINK: this job's link (qsub -v)
exec {command} --chain-link "${{ORCH_CHAIN_LINK:-1}}"
"""

SHOWN = 5  # job notes: at most this many lines


class PBSPro(Scheduler):
    name = "pbspro"
    options_model = PBSProOptions
    probe_commands = ("qstat", "pbsnodes")
    probe_order = 20
    capabilities = Capabilities(
        label="PBS Pro", batch=True, directive="#PBS", script_suffix=".pbs",
        provider="PBSProProvider", pool_fields=frozenset({"queue", "account", "exclusive"}),
        executors=("htex",), jobs_file="pbspro-jobs.json", job_id_var="PBS_JOBID",
        heartbeat=(5, 20), strategy_period=1.0, task_masks_in_script=True)
    instead = {"partition": "PBS Pro pools use queue",
               "qos": "PBS Pro has no QOS; use queue",
               "constraint": "add the node resource to pbspro.select_options",
               "gres": "ngpus comes from accelerators_per_node"}

    # ---- plan side ------------------------------------------------------------------------
    def directives(self, site: Site, pool_name: str) -> list[str]:
        """`#PBS` lines for one pool (besides name, walltime, select and output paths, which
        Parsl's template writes)."""
        pool = site.pools[pool_name]
        opts: PBSProOptions = site.pbspro
        lines = []
        queue = self.queue(site, pool_name)
        if queue:
            lines.append(f"#PBS -q {queue}")
        account = pool.account or opts.account
        if account:
            lines.append(f"#PBS -A {account}")
        place = opts.place
        if pool.exclusive and not re.search(r":excl", place):
            place += ":excl"
        lines.append(f"#PBS -l place={place}")
        if opts.filesystems:
            lines.append(f"#PBS -l filesystems={opts.filesystems}")
        lines.extend(pool.scheduler_options)
        return lines

    def queue(self, site: Site, pool_name: str) -> str | None:
        return site.pools[pool_name].queue or site.pbspro.queue

    def format_walltime(self, seconds: int) -> str:
        """`HH:MM:SS`, hours past 24 included (PBS has no day field)."""
        hours, rest = divmod(int(seconds), 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"

    def ncpus(self, site: Site, pool: Pool) -> int:
        """The select line's ncpus: the pool's cores times the hardware threads per core."""
        cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else 1
        return cores * site.pbspro.threads_per_core

    def select_options(self, site: Site, pool_name: str) -> str:
        """What follows `select=N:ncpus=C`: `:ngpus=G` (devices pinned by a unit variable:
        CUDA, ROCm and Level Zero GPUs, not OpenCL CPU stand-ins) and the site's extra chunk
        resources."""
        pool = site.pools[pool_name]
        gpus = 0
        for kind in pool.devices:
            view = pool.for_class(kind)
            backend = device_kinds.BACKENDS.get(view.accel_backend)
            if kind != "cpu" and backend is not None and backend.unit_var:
                gpus += view.accelerators_per_node
        chunk = ([f"ngpus={gpus}"] if gpus else []) + list(site.pbspro.select_options)
        return "".join(f":{c}" for c in chunk)

    def launcher(self, site: Site, pool_name: str) -> tuple[str, dict[str, str]]:
        """The block launcher, as Parsl's (class name, arguments): one worker pool per node
        with `mpiexec` (unbound: the workers pin their tasks' cores), or one on the first."""
        pool = site.pools[pool_name]
        if site.pbspro.block_launcher == "single":
            return "SingleNodeLauncher", {}
        return "MpiExecLauncher", {"bind_cmd": site.pbspro.cpu_bind,
                                   "overrides": f"--depth={self.ncpus(site, pool)} --ppn 1"}

    def script(self, site: Site, pool_name: str, parts: ScriptParts) -> str:
        pool = site.pools[pool_name]
        kind, args = self.launcher(site, pool_name)
        if kind == "MpiExecLauncher":  # what Parsl's MpiExecLauncher writes, one per node
            launch = (f"# the launcher starts one worker pool per node: mpiexec "
                      f"{args['bind_cmd']} none {args['overrides']} -n {pool.nodes_per_block} "
                      "--hostfile $JOBNAME.nodes /usr/bin/sh cmd_$JOBNAME.sh")
        else:
            launch = "# the launcher starts one worker pool, on the first node of the block"
        return _TEMPLATE.format(
            jobname=parts.jobname,
            script_dir=parts.script_dir,
            walltime=self.format_walltime(parse_walltime(pool.walltime)),
            nodes=pool.nodes_per_block,
            ncpus=self.ncpus(site, pool),
            select_options=self.select_options(site, pool_name),
            scheduler_options="\n".join(self.directives(site, pool_name)),
            worker_init=parts.worker_init,
            launcher=launch,
            user_script=parts.user_script,
        )

    def check_site(self, site: Site) -> list[Problem]:
        out = super().check_site(site)
        for name, pool in site.pools.items():
            for field in ("queue", "account"):
                value = getattr(pool, field)
                if value is not None and not _TOKEN.match(value):
                    out.append((("pools", name, field), f"{value!r} is not a PBS name "
                                "(letters, digits, _ . @ + -)"))
            if site.pbspro.block_launcher == "single" and pool.nodes_per_block > 1:
                out.append((("pools", name, "nodes_per_block"), "block_launcher: single "
                            "starts workers on one node; blocks of several nodes need "
                            "pbspro.block_launcher: mpiexec"))
        return out

    def driver_script(self, site: Site, job: DriverJob) -> str:
        pool = site.pools[job.pool]
        return _DRIVER_TEMPLATE.format(
            jobname=job.jobname, walltime=self.format_walltime(job.walltime_s),
            nodes=job.nodes, ncpus=self.ncpus(site, pool),
            select_options=self.select_options(site, job.pool), log_dir=job.log,
            scheduler_options="\n".join(self.directives(site, job.pool)),
            environment=job.environment, command=job.command)

    # ---- run side -------------------------------------------------------------------------
    def allocation_provider(self, site: Site, pool_name: str, worker_init: str, *,
                            mpi: bool = False) -> ProviderSpec:
        """Inside the driver's job: the pool's block is started on the job's nodes by the
        block launcher (Parsl's LocalProvider with MpiExecLauncher, as Parsl's Aurora and
        Polaris pages run inside a job); an MPI-mode block is a process beside the driver."""
        pool = site.pools[pool_name]
        launcher = ("SimpleLauncher", {}) if mpi else self.launcher(site, pool_name)
        return ProviderSpec("LocalProvider", {
            "nodes_per_block": pool.nodes_per_block, "init_blocks": 1, "min_blocks": 1,
            "max_blocks": 1, "worker_init": worker_init}, launcher)

    def submit_command(self, script: Path, link: int, after: str | None = None) -> list[str]:
        cmd = ["qsub", "-v", f"ORCH_CHAIN_LINK={link}"]
        if after:
            cmd += ["-W", f"depend=afterany:{after}"]
        return [*cmd, str(script)]

    def job_states(self, job_ids: list[str], timeout: float = 5.0) -> dict[str, str]:
        ids = [j for j in job_ids if self.valid_job_id(j)]
        qstat = shutil.which("qstat")
        if not ids or qstat is None:
            return {}
        try:
            out = subprocess.run([qstat, "-x", *self.status_command(ids)[1:]],
                                 capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        jobs = {_short(j): job for j, job in (_jobs(out.stdout) or {}).items()}
        return {j: _note(j, jobs[_short(j)]).split(": ", 1)[1] for j in ids
                if _short(j) in jobs}

    def provider(self, site: Site, pool_name: str, worker_init: str, *, mpi: bool = False,
                 run_dir: Path | None = None) -> ProviderSpec:
        """A pool's blocks as PBS Pro jobs; every #PBS option, queue and account included,
        comes from `directives`."""
        pool = site.pools[pool_name]
        # Parsl's MPI mode: one worker pool per block, launching each task's ranks
        launcher = ("SimpleLauncher", {}) if mpi else self.launcher(site, pool_name)
        return ProviderSpec("PBSProProvider", dict(
            account=None,
            queue=None,
            scheduler_options="\n".join(self.directives(site, pool_name)),
            select_options=self.select_options(site, pool_name),
            worker_init=worker_init,
            nodes_per_block=pool.nodes_per_block,
            cpus_per_node=self.ncpus(site, pool),
            init_blocks=pool.init_blocks,
            min_blocks=pool.min_blocks,
            max_blocks=pool.max_blocks,
            walltime=self.format_walltime(parse_walltime(pool.walltime)),
            cmd_timeout=site.pbspro.cmd_timeout,
        ), launcher)

    # ---- orch site init ------------------------------------------------------------------
    def probe(self, runner: Runner | None = None) -> Cluster:
        """Query the PBS Pro server this machine submits to (read-only commands)."""
        if runner is None:
            missing = [c for c in ("qstat", "pbsnodes") if shutil.which(c) is None]
            if missing:
                raise SchedulerError(
                    f"`{missing[0]}` is not on PATH: `orch site init --scheduler pbspro` "
                    "probes a PBS Pro server: run it on a login node (after `module load "
                    "pbs` where the site needs it), or write a site config by hand "
                    "(site-configs/aurora-like.yaml is an example)")
            runner = run_command
        server = runner(QSTAT_SERVER)
        queues = runner(QSTAT_QUEUES)
        nodes = runner(PBSNODES)
        return parse_pbs_cluster(server, queues, nodes)

    def draft_hints(self, cluster: Cluster, oversubscribed: bool = False) -> DraftHints:
        """PALS/MPICH mpiexec for MPI stages, one worker pool per node, whole nodes
        (place=scatter); what PBS cannot say (account, file systems, hardware threads)
        is marked CHECK."""
        return DraftHints(
            queue_field="queue",
            description=f"PBS Pro {cluster.version} cluster"
                        f"{' ' + cluster.name if cluster.name else ''}, probed by orch site "
                        "init.",
            header=[f"Written by `orch site init` from PBS Pro {cluster.version}, server "
                    f"{cluster.name or '?'} (qstat -Bf, qstat -Qf, pbsnodes -a). Lines "
                    "marked CHECK need a look.", *cluster.notes],
            mpi={"launcher": "mpiexec"},
            mpi_notes=["mpiexec (PALS or MPICH's Hydra) starts each MPI stage's ranks on "
                       "its block's nodes ($PBS_NODEFILE). Bind ranks to cores in args, "
                       'e.g. ["--cpu-bind", "depth", "--depth", "8"].'],
            options=[("place", "scatter", "one chunk (node) per host"),
                     ("block_launcher", "mpiexec", "a worker pool per node of a block"),
                     ("threads_per_core", 1, "CHECK: PBS counts ncpus; where these are "
                      "hardware threads (Aurora: 208 = 104 cores x 2), set 2 and halve "
                      "cores_per_node")],
            options_note="CHECK: add `account: PROJECT` (qsub -A) and `filesystems: "
                         "home:...` (-l filesystems=) under pbspro: where the site needs "
                         "them; PBS does not say which.",
            default_name="pbs-cluster",
            terms={"queue": "queue", "max_time": "resources_max.walltime",
                   "default_time": "resources_default.walltime",
                   "memory": "resources_available.mem", "cpus": "ncpus PBS allocates per "
                   "node (resources_available.ncpus)", "gres": "ngpus and gpu_type"})

    def status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat", "-f", "-F", "json", *job_ids]

    def cancel_command(self, job_ids: list[str]) -> list[str]:
        return ["qdel", *job_ids]

    def still_queued(self, job_ids: list[str], returncode: int, stdout: str, stderr: str
                     ) -> list[str] | None:
        """qstat (without -x) lists jobs not finished yet; an id it no longer knows is
        reported on stderr ("Unknown Job Id", "Job has finished")."""
        jobs = _jobs(stdout)
        if jobs is None:
            return None
        if not jobs and returncode != 0:
            gone = ("Unknown Job Id" in stderr) or ("has finished" in stderr)
            return [] if gone else None
        live = {_short(j) for j, job in jobs.items() if job.get("job_state") not in ("F", "X")}
        return [j for j in job_ids if _short(j) in live]

    def valid_job_id(self, job_id: str) -> bool:
        return bool(_JOB_ID.match(job_id))

    def job_notes(self, job_ids: list[str], timeout: float = 5.0) -> list[str]:
        """Queued and held blocks first, with the server's comment (why it does not run)."""
        ids = [j for j in job_ids if self.valid_job_id(j)]
        qstat = shutil.which("qstat")
        if not ids or qstat is None:
            return []
        try:
            out = subprocess.run([qstat, *self.status_command(ids)[1:]], capture_output=True,
                                 text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return []
        jobs = _jobs(out.stdout) or {}
        found = sorted(jobs.items(), key=lambda kv: (kv[1].get("job_state") == "R", kv[0]))
        lines = [_note(j, job) for j, job in found[:SHOWN]]
        if len(found) > SHOWN:
            lines.append(f"... and {len(found) - SHOWN} more PBS jobs")
        return lines


def _jobs(stdout: str) -> dict[str, dict] | None:
    """`qstat -F json`'s jobs by id; None when the output is not JSON."""
    if not stdout.strip():
        return {}
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    jobs = data.get("Jobs") if isinstance(data, dict) else None
    return {str(k): v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(
        jobs, dict) else {}


def _short(job_id: str) -> str:
    """The sequence number (and array brackets) of a job id, without the server name:
    qsub prints `123.server.domain`, qstat may list `123.server`."""
    return job_id.split(".", 1)[0]


_STATES = {"F": "finished", "X": "finished", "Q": "queued", "H": "held", "W": "waiting", "T": "moving", "R": "running",
           "E": "exiting", "B": "running (array)", "S": "suspended", "U": "suspended"}


def _note(job_id: str, job: dict) -> str:
    state = str(job.get("job_state", "?"))
    text = f"PBS job {job_id} ({job.get('queue', '?')}): {_STATES.get(state, state)}"
    if state == "R" and job.get("exec_host"):
        return f"{text} on {job['exec_host']}"
    comment = job.get("comment")
    return f"{text} ({comment})" if comment and state != "R" else text


SCHEDULER = PBSPro()
