"""Which SYCL device a task runs on.

`select_device("xpu")` picks the SYCL device a task runs on from the pinning its worker
was given (ONEAPI_DEVICE_SELECTOR and ZE_AFFINITY_MASK, see orchestrator/plan/bind.py),
and falls back to the OpenCL CPU device, saying so, when no GPU is visible. The decisions
(`parse_selector`, `selector_allows`, `choose_sycl`) are pure functions over plain
records, tested without a SYCL runtime; dpctl is imported only to hand back the device.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.library.device_records import SyclDevice
from orchestrator.library.devices import discover_sycl


@dataclass(frozen=True)
class SelectorTerm:
    backend: str  # "level_zero", "opencl", "cuda", "*"
    target: str  # "gpu", "cpu", "*", "0", "0.1", "0.*"
    negated: bool = False


def parse_selector(text: str | None) -> list[SelectorTerm]:
    """ONEAPI_DEVICE_SELECTOR (`be:dev[,dev];be:dev`, `!` to exclude) as terms."""
    terms = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        negated = part.startswith("!")
        backend, _, targets = part.lstrip("!").partition(":")
        for target in (targets or "*").split(","):
            terms.append(SelectorTerm(backend.strip().lower(), target.strip().lower() or "*",
                                      negated))
    return terms


def _term_matches(term: SelectorTerm, dev: SyclDevice) -> bool:
    if term.backend not in ("*", dev.backend):
        return False
    if term.target in ("*", dev.device_type):
        return True
    root = term.target.split(".")[0]
    return root.isdigit() and dev.filter_string.rsplit(":", 1)[-1].split(".")[0] == root


def selector_allows(selector: str | None, dev: SyclDevice) -> bool:
    terms = parse_selector(selector)
    if not terms:
        return True
    if any(t.negated and _term_matches(t, dev) for t in terms):
        return False
    positive = [t for t in terms if not t.negated]
    return not positive or any(_term_matches(t, dev) for t in positive)


def choose_sycl(devices: Sequence[SyclDevice], resources_device: str = "xpu",
                environ: Mapping[str, str] | None = None,
                reason: str | None = None) -> tuple[SyclDevice | None, str]:
    """The SYCL device a task with `resources.device` runs on, and a note saying why.

    xpu: the first GPU the worker's pinning allows (Level Zero before OpenCL), else the
    OpenCL CPU device; cpu: the OpenCL CPU device; gpu (CUDA stages): none."""
    environ = os.environ if environ is None else environ
    selector = environ.get("ONEAPI_DEVICE_SELECTOR")
    mask = environ.get("ZE_AFFINITY_MASK")
    pins = ", ".join(f"{k}={environ[k]}" for k in ("ONEAPI_DEVICE_SELECTOR", "ZE_AFFINITY_MASK")
                     if k in environ) or "no pinning"
    if resources_device == "gpu":
        return None, "gpu stages run CUDA code (torch); no SYCL device is chosen for them"
    if not devices:
        return None, f"no SYCL device: {reason or 'dpctl lists none'}"
    allowed = [d for d in devices if selector_allows(selector, d)]
    cpus = [d for d in allowed if d.backend == "opencl" and d.device_type == "cpu"]
    if resources_device == "xpu":
        gpus = sorted((d for d in allowed if d.device_type == "gpu"),
                      key=lambda d: d.backend != "level_zero")
        if gpus:
            extra = f"; {len(gpus) - 1} more visible" if len(gpus) > 1 else ""
            tile = " (the pinned unit is seen as device 0)" if mask else ""
            return gpus[0], f"{gpus[0].filter_string} ({gpus[0].name}); {pins}{tile}{extra}"
    if cpus:
        where = f"the OpenCL CPU device {cpus[0].filter_string} ({cpus[0].name})"
        if resources_device == "xpu" and selector == "opencl:cpu":
            return cpus[0], (f"no Intel GPU for this task: the site pins it to the OpenCL CPU "
                             f"({pins}); running on {where}")
        if resources_device == "xpu":
            return cpus[0], f"no Intel GPU visible ({pins}); falling back to {where}"
        return cpus[0], f"{cpus[0].filter_string} ({cpus[0].name}); {pins}"
    return None, (f"no SYCL device allowed by {pins} among "
                  + ", ".join(d.filter_string for d in devices))


def select_device(resources_device: str = "xpu") -> tuple[Any | None, str]:
    """(dpctl.SyclDevice or None, note) for a task of this device class in this process."""
    records, reason = _sycl_inventory()
    chosen, note = choose_sycl(records, resources_device, reason=reason)
    if chosen is None:
        return None, note
    import dpctl

    return dpctl.SyclDevice(chosen.filter_string), note


@functools.cache
def _sycl_inventory() -> tuple[list[SyclDevice], str | None]:
    """The SYCL runtime enumerates platforms once per process; so does this."""
    return discover_sycl()
