"""Device kinds and accelerator backends in one table.

Why: spec, site, plan, payload, worker and library all need to know which environment
variable pins a worker to a device. Keeping that here (no Parsl, torch or dpctl imports)
makes a new kind or backend one entry instead of edits across a dozen files.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackendKind:
    """How one accelerator backend pins a worker: `unit_var` takes the unit list
    ("0,1", "0.1"); `fixed` are set beside it (a SYCL selector)."""
    name: str
    device: str                      # the device class it serves: gpu or xpu
    unit_var: str | None             # variable given the units, None if the selector is it
    fixed: dict[str, str] = field(default_factory=dict)
    selector_var: str | None = None  # where a pool's `selector` goes

    def mask(self, units: str, selector: str | None = None) -> dict[str, str]:
        """Environment that pins a worker to `units` on this backend."""
        if self.unit_var is None:  # opencl: the selector carries the units
            return {self.selector_var: selector or f"opencl:{units}"}
        env = {self.unit_var: units}
        for var, default in self.fixed.items():
            env[var] = (selector if var == self.selector_var and selector else default)
        return env


BACKENDS: dict[str, BackendKind] = {b.name: b for b in (
    BackendKind("cuda", "gpu", "CUDA_VISIBLE_DEVICES"),
    BackendKind("rocm", "gpu", "ROCR_VISIBLE_DEVICES"),
    BackendKind("level_zero", "xpu", "ZE_AFFINITY_MASK",
                fixed={"ONEAPI_DEVICE_SELECTOR": "level_zero:gpu"},
                selector_var="ONEAPI_DEVICE_SELECTOR"),
    BackendKind("opencl", "xpu", None, selector_var="ONEAPI_DEVICE_SELECTOR"),
)}


@dataclass(frozen=True)
class DeviceKind:
    """One device class a stage asks for (`device:`) and a pool offers."""
    name: str
    count_field: str | None          # the Resources field counting its units
    backends: tuple[str, ...]        # first is the default
    fallback: dict[str, str]         # mask when the stage falls back to cpu
    hours_label: str | None          # report column of its unit hours


KINDS: dict[str, DeviceKind] = {k.name: k for k in (
    DeviceKind("cpu", None, (), {}, None),
    DeviceKind("gpu", "gpus", ("cuda", "rocm"), {"CUDA_VISIBLE_DEVICES": ""}, "gpu_hours"),
    DeviceKind("xpu", "xpus", ("level_zero", "opencl"),
               {"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}, "xpu_hours"),
)}


def default_backend(device: str) -> str:
    """The backend a pool of class `device` uses when it names none."""
    kind = KINDS.get(device)
    return kind.backends[0] if kind and kind.backends else "none"


def mask_vars(backend: str) -> tuple[str, ...]:
    """Variables a backend's mask sets (unit variable first)."""
    b = BACKENDS[backend]
    return tuple(v for v in (b.unit_var, *b.fixed, b.selector_var) if v)


def _pinning_vars() -> tuple[str, ...]:
    out: list[str] = []
    for b in BACKENDS.values():
        out.extend(v for v in mask_vars(b.name) if v not in out)
    return tuple(out)


PINNING_VARS: tuple[str, ...] = _pinning_vars()
"""Every variable any backend pins with: what a worker records and passes on."""

UNIT_VARS: tuple[str, ...] = tuple(b.unit_var for b in BACKENDS.values() if b.unit_var)
"""Variables holding a task's unit list (split across MPI ranks)."""

SELECTOR_VARS: tuple[str, ...] = tuple(v for v in PINNING_VARS if v not in UNIT_VARS)
"""Pinning variables without a unit list (the SYCL selector): Parsl sets only unit
variables per worker, so a task's own environment carries these."""

HOURS_FIELDS: tuple[str, ...] = tuple(k.hours_label for k in KINDS.values() if k.hours_label)
"""The accelerator-hour figures, one per kind with units, in registry order: the names of
the plan's `Cost` fields and of its JSON keys (`gpu_hours`, `xpu_hours`)."""


def pinned_class(environ: Mapping[str, str]) -> str:
    """The device class that a task's pinning gives it: the class of the first backend
    whose unit variable names units (`CUDA_VISIBLE_DEVICES=0` on a gpu pool: "gpu"), else
    "cpu" (unset, or empty as on a gpu stage that fell back to a cpu pool)."""
    for backend in BACKENDS.values():
        if backend.unit_var and environ.get(backend.unit_var, "").strip():
            return backend.device
    return "cpu"
