"""Pydantic models of the workflow spec: the validated, frozen shape of a YAML file.

Cross-stage rules (references, cycles, loops) live in `checks.py`; these models
only know one object at a time.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from orchestrator import device_kinds
from orchestrator.units import parse_memory, parse_walltime

API_VERSION = "orchestrator/v1"
NAME_RE = r"^[A-Za-z][A-Za-z0-9_.-]*$"
IDENT_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
CALLABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")

Scalar = int | float | str | bool | None
Device = Literal["cpu", "gpu", "xpu"]


class SpecModel(BaseModel):
    """Base: unknown keys are errors, validated objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ParamType = Literal["int", "float", "str", "bool", "path"]


class Param(SpecModel):
    """A typed workflow parameter, overridable with `--set name=value`."""

    type: ParamType | None = Field(None, description="Inferred from `default` when omitted.")
    default: Scalar = None
    min: float | None = None
    max: float | None = None
    choices: list[Scalar] | None = None
    help: str = ""
    required: bool = Field(False, description="No default: must be given with --set.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """`n: 10` declares a param with default 10 (type inferred)."""
        if not isinstance(v, dict):
            return {"default": v}
        return v


class RangeSpec(SpecModel):
    """`{start, stop, step}` (stop excluded, like Python's range) or `{start, stop, num}` (inclusive)."""

    start: int | float
    stop: int | float
    step: int | float | None = None
    num: int | None = Field(None, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _one_of(self) -> RangeSpec:
        for name in ("start", "stop", "step"):
            value = getattr(self, name)
            if value is not None and not _moderate(value):
                raise ValueError(f"'{name}' must be a finite number below 1e15")
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of 'step' or 'num'")
        if self.step is not None:
            if self.step == 0:
                raise ValueError("'step' must not be 0")
            if (self.stop - self.start) / self.step < 0:
                raise ValueError("'step' goes away from 'stop': the range is empty")
        return self


def _moderate(value: float) -> bool:
    try:
        return math.isfinite(float(value)) and abs(value) < 1e15
    except OverflowError:
        return False


def list_or(items: Any, model: type, tag: str, other: str | None = None) -> Any:
    """A list of `items`, or a `model` mapping (tagged `tag`), told apart by the value's
    type: one located diagnostic, not one per member of the union. Any other value is
    reported as what `other` names (the model's tag by default)."""
    def kind(v: Any) -> str:
        return "list" if isinstance(v, list) else tag if isinstance(v, dict) else other or tag

    return Annotated[
        Annotated[list[items], Tag("list")] | Annotated[model, Tag(tag)], Discriminator(kind)]


SweepValues = list_or(Scalar, RangeSpec, "range")


class Bound(SpecModel):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) == 2:
            return {"low": v[0], "high": v[1]}
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if not self.low < self.high:
            raise ValueError("'low' must be less than 'high'")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled bound needs low > 0")
        return self


class Sample(SpecModel):
    """Space-filling samples from scipy.stats.qmc; the seed is always recorded."""

    method: Literal["lhs", "sobol", "random"] = "lhs"
    n: int = Field(ge=1, le=10_000_000)
    seed: int | None = Field(None, ge=0, description="Derived from the stage name when omitted.")
    space: dict[str, Bound] = Field(min_length=1)


class Sweep(SpecModel):
    """Fan a stage out over values: a product or zip of lists/ranges, and/or samples."""

    mode: Literal["product", "zip"] = "product"
    values: dict[str, SweepValues] = Field(default_factory=dict)
    sample: Sample | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> Sweep:
        if not self.values and self.sample is None:
            raise ValueError("a sweep needs 'values' or 'sample'")
        if self.sample is not None:
            clash = sorted(set(self.values) & set(self.sample.space))
            if clash:
                raise ValueError(f"{clash[0]!r} is both a sweep value and a sampled dimension")
        for name in [*self.values, *(self.sample.space if self.sample else {})]:
            if not re.match(IDENT_RE, name):
                raise ValueError(f"sweep variable {name!r} must be an identifier")
        return self


class Resources(SpecModel):
    """What one task of a stage needs. Accelerators default to 1 on gpu/xpu stages."""

    device: Device = "cpu"
    pool: str | None = Field(None, description="Site pool to use; by default the first of `device`.")
    cores: int | Literal["all"] = Field(
        1, description="Cores per rank, or 'all': every core of the node (one rank).")
    gpus: int | None = Field(None, ge=0, le=1024)
    xpus: int | None = Field(None, ge=0, le=1024, description="XPU devices (or tiles on a tiled site).")
    ranks: int = Field(1, ge=1, le=1_000_000, description="MPI ranks; >1 runs the task under MPI.")
    nodes: int = Field(1, ge=1, le=100_000)
    memory: str | int | None = Field(None, description="Per rank (per task when ranks is 1), e.g. '4GiB'.")
    walltime: str | int | None = Field(None, description="Per task, e.g. '00:30:00' or '30m'.")
    fallback: bool = Field(
        True, description="Allow the site's fallback (e.g. gpu -> cpu) when it lacks `device`.")

    @field_validator("memory", "walltime")
    @classmethod
    def _quantity(cls, v: Any, info: ValidationInfo) -> Any:
        """Memory and walltime parse as the planner will read them, so errors are located."""
        if v is not None:
            (parse_memory if info.field_name == "memory" else parse_walltime)(v)
        return v

    @field_validator("cores", mode="before")
    @classmethod
    def _cores(cls, v: Any) -> Any:
        """One message for both forms (a union would report one error per branch)."""
        if v == "all":
            return v
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100_000:
            raise ValueError(f"expected a whole number of cores from 1 to 100000, or 'all'; "
                             f"got {v!r}")
        return v

    @model_validator(mode="after")
    def _device_counts(self) -> Resources:
        if self.cores == "all" and self.ranks > 1:
            raise ValueError("cores: all gives one task a whole node; with ranks > 1 give "
                             "cores per rank")
        if self.gpus and self.device != "gpu":
            raise ValueError("'gpus' needs device: gpu")
        if self.xpus and self.device != "xpu":
            raise ValueError("'xpus' needs device: xpu")
        return self

    @property
    def accelerators(self) -> int:
        """Accelerators per task: the gpus/xpus count, 1 by default on gpu/xpu."""
        field = device_kinds.KINDS[self.device].count_field
        if field is None:
            return 0
        count = getattr(self, field)
        return 1 if count is None else count

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_memory(self.memory)

    @property
    def walltime_seconds(self) -> int | None:
        return None if self.walltime is None else parse_walltime(self.walltime)


MAX_BUNDLE = 100_000


class Stage(SpecModel):
    """One named step: a Python callable or a shell command, maybe swept."""

    description: str = ""
    python: str | None = Field(None, description="`module:function`, importable next to the spec.")
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")
    shell: str | None = Field(None, description="Command template; values are shell-quoted.")
    needs: list[str] = Field(default_factory=list)
    sweep: Sweep | None = None
    resources: Resources = Field(default_factory=Resources)
    retries: int = Field(0, ge=0, le=100)
    outputs: list[str] | dict[str, str] = Field(
        default_factory=list, description="Files inside the task directory: a list, or a "
        "mapping name -> path; later stages read them as ${stages.NAME.outputs.OUT}.")
    env: dict[str, str] = Field(default_factory=dict)
    environment: str | None = Field(None, pattern=IDENT_RE, description=(
        "A software environment the site defines (its `environments`): prefix, modules, "
        "container."))
    bundle: int | Literal["auto"] | None = Field(None, description=(
        "Run this many sweep points in one Parsl task (`auto`: sized from the measured "
        "duration of the first points); each point stays a task of its own in the journal, "
        "status, retries, resume and report. For many short CPU tasks."))

    @field_validator("bundle")
    @classmethod
    def _bundle_size(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, bool) or (isinstance(v, int) and not 1 <= v <= MAX_BUNDLE):
            raise ValueError(f"bundle must be a number of points from 1 to {MAX_BUNDLE:,}, "
                             "or 'auto'")
        return v

    @field_validator("python")
    @classmethod
    def _callable(cls, v: str | None) -> str | None:
        if v is not None and not CALLABLE_RE.match(v):
            raise ValueError(f"{v!r} is not 'module:function' (e.g. 'solver:solve')")
        return v

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, v: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        if isinstance(v, dict):
            for name in v:
                if not re.match(IDENT_RE, name):
                    raise ValueError(f"output name {name!r} must be an identifier")
        return v

    @property
    def output_paths(self) -> list[str]:
        """Declared output paths (templates), in order."""
        return list(self.outputs.values()) if isinstance(self.outputs, dict) else self.outputs

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return v

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        """No `environment` key when none is named: task keys (which hash this dump) of
        stages without one stay what they were before the field existed."""
        out = handler(self)
        for key in ("environment", "bundle"):  # (bundle: how it runs, not what)
            if out.get(key, 0) is None:
                del out[key]
        return out

    @model_validator(mode="after")
    def _what_to_run(self) -> Stage:
        if (self.python is None) == (self.shell is None):
            raise ValueError("a stage needs exactly one of 'python' or 'shell'")
        if self.shell is not None and self.args:
            raise ValueError("'args' are for python stages; write values into the shell command")
        if self.bundle is not None and self.bundle != 1:
            res = self.resources
            if res.ranks > 1 or res.nodes > 1:
                raise ValueError("bundle is for small single-process tasks; a stage with "
                                 "ranks or nodes > 1 cannot be bundled")
            if res.accelerators:
                raise ValueError(f"bundle is for small CPU tasks; a {res.device} stage's "
                                 "tasks each hold their own devices and cannot be bundled")
        return self


class Condition(SpecModel):
    """`metric op value` on what a loop stage returns; data, never evaluated code."""

    stage: str
    metric: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: float
    reduce: Literal["max", "min", "mean", "all", "any"] = Field(
        "max", description="How the results of a swept stage combine into one value.")


class Feedback(SpecModel):
    """Results of `from` in iteration k are passed to `to` in iteration k+1."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class Loop(SpecModel):
    """Repeat `stages` until `until` holds or `max_iterations` is reached."""

    stages: list[str] = Field(min_length=1)
    until: Condition | None = None
    max_iterations: int = Field(ge=1, le=10_000)
    feedback: list[Feedback] = Field(default_factory=list)


class Requires(SpecModel):
    """What a template needs of a site: device classes and named environments."""

    devices: list[Device] = Field(default_factory=list, description="Device classes it needs.")
    environments: list[str] = Field(
        default_factory=list, description="Site environments (`environments:` of the site "
        "config) its stages need; `orch plan` checks the site defines them.")


# one form or the other, chosen by the value's shape: one diagnostic, not one per form
RequiresField = list_or(Device, Requires, "mapping", "list")


class Include(SpecModel):
    path: str
    params: dict[str, Scalar] = Field(default_factory=dict)


class Workflow(SpecModel):
    """A whole workflow file, after includes and `extends` are merged."""

    apiVersion: Literal["orchestrator/v1"]
    name: str = Field(pattern=NAME_RE, max_length=128)
    description: str = ""
    version: str | None = None
    requires: RequiresField = Field(
        default_factory=list, description="What a template needs of a site: device classes "
        "(`[gpu]`), or `{devices: [gpu], environments: [NAME]}`.")
    example: str | None = Field(
        None, description="A template's small complete example workflow, relative to the "
        "template (default: example.yaml beside a directory template's template.yaml); "
        "`orch templates test` runs it.")
    params: dict[str, Param] = Field(default_factory=dict)
    stages: dict[str, Stage] = Field(min_length=1)
    loops: dict[str, Loop] = Field(default_factory=dict)

    extends: str | Include | None = Field(None, description="Base spec merged under this one.")
    include: list[str | Include] = Field(default_factory=list, description="Fragments merged in.")

    @field_serializer("requires")
    def _requires_dump(self, v: Any) -> Any:
        """Each form as itself: pydantic's union serializer ignores the callable
        discriminator and warns that a mapping is not the list form."""
        return v.model_dump() if isinstance(v, Requires) else list(v)
