"""Pydantic models of a site config (site-configs/*.yaml).

A site is a scheduler plus named pools, each a homogeneous set of nodes of one
device class (cpu, gpu or xpu). Stages are bound to pools by device class. The
`scheduler:` choices and each scheduler's section (`slurm:`, `pbspro:`, ...) come from
the scheduler registry (orchestrator/schedulers/), which also checks what a scheduler
cannot honour.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from orchestrator import device_kinds, schedulers
from orchestrator.schedulers.slurm import SlurmOptions
from orchestrator.site.environments import Environment, check_names
from orchestrator.spec.models import NAME_RE, Device
from orchestrator.units import parse_memory, parse_walltime


class SiteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["DeviceShare", "MPIOptions", "Pool", "Site", "SlurmOptions"]


class MPIOptions(SiteModel):
    launcher: Literal["mpiexec", "mpirun", "srun", "none"] = "mpiexec"
    args: list[str] = Field(default_factory=list, description="Extra launcher arguments.")


Backend = Literal["cuda", "rocm", "level_zero", "opencl", "none"]


class DeviceShare(SiteModel):
    """Another device class that a pool's nodes carry (a mixed pool): tasks of that class
    run in the same allocation, packed with the pool's own tasks."""

    accelerators_per_node: int = Field(0, ge=0, le=64)
    tiles_per_accelerator: int = Field(1, ge=1, le=16)
    pin: Literal["device", "tile"] | None = None
    backend: Backend | None = None
    selector: str | None = None


class Pool(SiteModel):
    """Nodes of one device class, requested from the scheduler in blocks."""

    device: Device
    description: str = ""
    partition: str | None = Field(None, description="Slurm --partition.")
    queue: str | None = Field(None, description="PBS Pro queue (-q); the site's pbspro.queue "
                              "by default.")
    account: str | None = Field(None, description="Slurm --account / PBS Pro -A for this pool.")
    qos: str | None = None
    constraint: str | None = Field(None, description="Slurm --constraint (node features).")
    gres: str | None = Field(None, description="Slurm --gres; defaults to gpu:N on gpu pools.")
    exclusive: bool = Field(False, description="Whole nodes: Slurm --exclusive, PBS Pro "
                            "place=...:excl.")
    cores_per_node: int | Literal["auto"] = "auto"
    memory_per_node: str | int | Literal["auto"] | None = None
    accelerators_per_node: int = Field(0, ge=0, le=64)
    tiles_per_accelerator: int = Field(1, ge=1, le=16)
    pin: Literal["device", "tile"] | None = Field(
        None, description="Pin workers to whole devices or to tiles (default: tile if tiled).")
    backend: Backend | None = Field(None, description="cuda for gpu, level_zero for xpu by default.")
    selector: str | None = Field(None, description="ONEAPI_DEVICE_SELECTOR, e.g. 'opencl:cpu'.")
    nodes_per_block: int = Field(1, ge=1, le=100_000)
    min_blocks: int = Field(0, ge=0)
    init_blocks: int = Field(0, ge=0)
    max_blocks: int = Field(1, ge=1)
    walltime: str | int = Field("01:00:00", description="Walltime of each block (pilot job).")
    max_walltime: str | int | None = Field(None, description="Partition limit for one task.")
    task_walltime: str | int = Field("00:10:00", description="Task estimate when a stage gives none.")
    workers_per_node: int | None = Field(None, ge=1)
    executor: Literal["htex", "processes", "threads"] = Field(
        "htex", description="htex: worker processes (Parsl's HighThroughputExecutor). "
        "processes: a local process pool (forkserver; local sites only): isolated like htex, "
        "starts in a fraction of its time, no MPI. threads: "
        "threads of the orch process itself (Parsl's ThreadPoolExecutor; local cpu pools only): "
        "no worker start-up or serialisation, python stages one at a time.")
    worker_init: str = ""
    scheduler_options: list[str] = Field(
        default_factory=list, description="Extra batch directive lines, each one line in the "
        "site scheduler's syntax (#SBATCH ..., #PBS ...).")
    charge_factor: float = Field(1.0, gt=0, description="Node-hour charge multiplier.")
    oversubscribe: bool = Field(
        False, description="Allow more MPI ranks per node than cores (tests and laptops).")
    also_devices: dict[Device, DeviceShare] = Field(
        default_factory=dict,
        description="Other device classes these nodes carry (a mixed pool): e.g. a gpu pool "
        "whose nodes also run cpu tasks and XPU tiles, all packed in one allocation.")

    @field_validator("walltime", "max_walltime", "task_walltime")
    @classmethod
    def _walltime(cls, v):
        if v is not None:
            parse_walltime(v)
        return v

    @field_validator("memory_per_node")
    @classmethod
    def _memory(cls, v):
        if v is not None and v != "auto":
            parse_memory(v)
        return v

    @model_validator(mode="after")
    def _device_fields(self) -> Pool:
        if self.device == "cpu" and self.accelerators_per_node:
            raise ValueError("a cpu pool has no accelerators_per_node")
        if self.device != "cpu" and not self.accelerators_per_node:
            raise ValueError(f"a {self.device} pool needs accelerators_per_node >= 1")
        serves = device_kinds.BACKENDS.get(self.backend or "none")
        if self.device != "cpu" and serves and serves.device != self.device:
            names = " or ".join(device_kinds.KINDS[self.device].backends)
            raise ValueError(f"{self.device} pools use the {names} backend "
                             f"(use device: {serves.device} for {self.backend})")
        if self.executor == "processes" and self.worker_init:
            raise ValueError("worker_init (shell lines run before workers start) needs "
                             "executor: htex; a process pool's workers are forked from orch")
        if self.executor == "threads" and self.device != "cpu":
            raise ValueError("executor: threads runs tasks in the orch process: cpu pools only "
                             "(devices are pinned per worker process)")
        if self.device in self.also_devices:
            raise ValueError(f"also_devices repeats the pool's own device ({self.device})")
        for kind, share in self.also_devices.items():
            if (kind == "cpu") != (share.accelerators_per_node == 0):
                raise ValueError(f"also_devices.{kind}: " + (
                    "a cpu share has no accelerators_per_node" if kind == "cpu"
                    else "needs accelerators_per_node >= 1"))
            if kind == "gpu" and share.backend not in (None, *device_kinds.KINDS["gpu"].backends):
                raise ValueError("also_devices.gpu uses the cuda or rocm backend")
        if self.min_blocks > self.max_blocks or self.init_blocks > self.max_blocks:
            raise ValueError("min_blocks and init_blocks must not exceed max_blocks")
        if self.max_walltime is not None and parse_walltime(self.walltime) > parse_walltime(
                self.max_walltime):
            raise ValueError("the block walltime exceeds max_walltime")
        return self

    @property
    def devices(self) -> tuple[str, ...]:
        """Every device class these nodes serve: the pool's own first."""
        return (self.device, *self.also_devices)

    def for_class(self, device: str) -> Pool:
        """The pool as tasks of `device` see it: that class's accelerators and backend on the
        same nodes (the pool itself for its own class)."""
        if device == self.device or device not in self.also_devices:
            return self
        share = self.also_devices[device].model_dump()
        return self.model_copy(update={**share, "device": device, "also_devices": {}})

    @property
    def accel_backend(self) -> str:
        if self.backend:
            return self.backend
        return device_kinds.default_backend(self.device)

    @property
    def pins_tiles(self) -> bool:
        return (self.pin or ("tile" if self.tiles_per_accelerator > 1 else "device")) == "tile"

    @property
    def units_per_node(self) -> int:
        """Pinnable units per node: devices, or tiles when pinning tiles."""
        if self.pins_tiles:
            return self.accelerators_per_node * self.tiles_per_accelerator
        return self.accelerators_per_node

    @property
    def limit_seconds(self) -> int:
        return parse_walltime(self.max_walltime if self.max_walltime is not None else self.walltime)


class SiteBase(SiteModel):
    """Where workflows run: a scheduler and its pools (the scheduler-neutral part; `Site`
    adds one section per registered scheduler)."""

    apiVersion: Literal["orchestrator/v1"]
    kind: Literal["site"] = "site"
    name: str = Field(pattern=NAME_RE, max_length=128)
    description: str = ""
    scheduler: Literal[schedulers.names()] = Field(  # type: ignore[valid-type]
        description="Who runs the blocks: " + ", ".join(
            f"{s.name} ({s.capabilities.label})" for s in schedulers.every()) + ".")
    mpi: MPIOptions = Field(default_factory=MPIOptions)
    fallbacks: dict[Device, Literal["cpu"]] = Field(
        default_factory=dict,
        description="Run stages of a device class the site lacks on its cpu pool instead.")
    env: dict[str, str] = Field(default_factory=dict, description="Exported for every worker.")
    stage_inputs: Literal["link", "copy"] = Field(
        "link", description="How upstream files reach a task's directory: a symbolic link to "
        "the producer's file, or a copy where links do not resolve on the compute nodes "
        "(node-local task directories).")
    pools: dict[str, Pool] = Field(min_length=1)
    environments: dict[str, Environment] = Field(
        default_factory=dict, description="Software environments stages name "
        "(`environment: NAME`): a prefix, modules, a container, variables (docs/site.md).")

    @field_validator("environments")
    @classmethod
    def _environment_names(cls, v: dict[str, Environment]) -> dict[str, Environment]:
        check_names(v)
        return v

    @model_validator(mode="after")
    def _threads_local(self) -> SiteBase:
        caps = schedulers.get(self.scheduler).capabilities
        for name, pool in self.pools.items():
            if pool.executor == "processes" and pool.executor not in caps.executors:
                raise ValueError(f"pool {name}: executor: processes is a local process pool, "
                                 f"so only on a local site (use htex with {caps.label})")
            if pool.executor == "threads" and pool.executor not in caps.executors:
                raise ValueError(f"pool {name}: executor: threads runs tasks in the orch "
                                 f"process, so only on a local site (use htex with {caps.label})")
        return self

    @model_validator(mode="after")
    def _fallbacks(self) -> SiteBase:
        devices = {d for p in self.pools.values() for d in p.devices}
        for want, use in self.fallbacks.items():
            if use not in devices:
                raise ValueError(f"fallback {want} -> {use}: the site has no {use} pool")
        return self

    @model_validator(mode="after")
    def _scheduler_checks(self) -> SiteBase:
        """What the site's scheduler cannot honour (schedulers/base.py: check_site), each
        problem located at its key in the site file."""
        problems = schedulers.get(self.scheduler).check_site(self)
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=PydanticCustomError("scheduler", "{message}",
                                                          {"message": message}),
                                 loc=loc, input=None)
                for loc, message in problems])
        return self

    def pools_for(self, device: str) -> list[str]:
        """Pools that serve `device`: those of that class first, then mixed pools."""
        return ([n for n, p in self.pools.items() if p.device == device]
                + [n for n, p in self.pools.items() if device in p.also_devices])


Site = create_model(
    "Site", __base__=SiteBase, __module__=__name__, __doc__=SiteBase.__doc__,
    **{s.name: (s.options_model, Field(
        default_factory=s.options_model,
        description=f"{s.capabilities.label} settings ({s.options_model.__doc__ or ''})."))
       for s in schedulers.every()})
"""The site model: `SiteBase` plus one `<scheduler>:` section per registered scheduler
(`slurm: SlurmOptions`, `pbspro: PBSProOptions`, `local: LocalOptions`)."""
