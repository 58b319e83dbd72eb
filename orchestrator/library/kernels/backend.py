"""Which backend a kernel call runs on: SYCL (numba-dpex on a dpctl queue), numba, NumPy.

`resolve_backend("auto")` takes the first that works, in that order, and says why the
others were passed over; an explicit name is used or refused with the reason. Nothing
here imports numba, dpctl or numba-dpex until a backend is asked for.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any

BACKENDS = ("sycl", "numba", "numpy")


class BackendUnavailable(RuntimeError):
    """The backend asked for cannot run here; the message says why and what to install."""


class KernelRefused(BackendUnavailable):
    """The backend runs, but computed the kernel wrongly on this device (kernels.selfcheck)."""


@dataclass(frozen=True)
class Backend:
    """The backend a call used: name, SYCL device (filter string) and how it was chosen."""

    name: str  # "sycl", "numba" or "numpy"
    device: str | None = None  # "opencl:cpu:0", "level_zero:gpu:0" (sycl only)
    note: str = ""
    queue: Any = None  # the dpctl.SyclQueue (sycl only)

    def __str__(self) -> str:
        return f"{self.name} ({self.device})" if self.device else self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "note": self.note}


def resolve_backend(backend: str = "auto", device: Any = None, *,
                    resources_device: str = "xpu", fp64: bool = False,
                    kernel: str | None = None, dtype: Any = None) -> Backend:
    """The backend to run on. `device` (sycl only): None (chosen from the worker's pinning,
    see orchestrator.library.sycl_choice.select_device), a filter string, a dpctl.SyclDevice or
    a dpctl.SyclQueue. `fp64`: the call needs double precision on the device. `kernel`
    and `dtype`: the kernel about to run; sycl and numba are used only once it reproduced
    the NumPy reference there in this process (kernels.selfcheck)."""
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}; expected auto, {', '.join(BACKENDS)}")
    if backend != "auto":
        return _checked(_explicit(backend, device, resources_device, fp64), kernel, dtype)
    passed, refused = [], []
    for name in BACKENDS:
        try:
            chosen = _checked(_explicit(name, device, resources_device, fp64), kernel, dtype)
        except BackendUnavailable as exc:
            passed.append(f"{name}: {exc}")
            if isinstance(exc, KernelRefused):
                refused.append(str(exc))
            continue
        note = "; ".join([chosen.note, *passed]) if passed else chosen.note
        for why in refused:  # lands in the task's log, besides the result's note
            warnings.warn(f"{why}; running on {chosen.name} instead", RuntimeWarning,
                          stacklevel=3)
        return Backend(chosen.name, chosen.device, f"auto: {note}", chosen.queue)
    raise AssertionError("the numpy backend is always available")  # pragma: no cover


def _checked(chosen: Backend, kernel: str | None, dtype: Any) -> Backend:
    """`chosen`, once `kernel` passed its self-check there (raises KernelRefused)."""
    if kernel is not None and chosen.name != "numpy":
        from orchestrator.library.kernels import selfcheck

        selfcheck.verify(chosen, kernel, dtype)
    return chosen


def _explicit(name: str, device: Any, resources_device: str, fp64: bool) -> Backend:
    if name == "numpy":
        return Backend("numpy", note="NumPy reference")
    if name == "numba":
        if importlib.util.find_spec("numba") is None:
            raise BackendUnavailable("numba is not installed (scripts/install-xpu.sh)")
        return Backend("numba", note="numba CPU (parallel)")
    queue, note = sycl_queue(device, resources_device)
    if fp64 and not queue.sycl_device.has_aspect_fp64:
        raise BackendUnavailable(f"{queue.sycl_device.filter_string} has no float64 support")
    return Backend("sycl", queue.sycl_device.filter_string, note, queue)


def sycl_queue(device: Any = None, resources_device: str = "xpu") -> tuple[Any, str]:
    """(dpctl.SyclQueue, note) for `device`; raises BackendUnavailable with the reason."""
    try:
        import dpctl

        import_numba_dpex()
    except Exception as exc:
        from orchestrator.library.devices import sycl_reason

        raise BackendUnavailable(sycl_reason(import_error=str(exc) or type(exc).__name__)) \
            from None
    if isinstance(device, dpctl.SyclQueue):
        return device, f"the queue given ({device.sycl_device.filter_string})"
    if device is None:
        from orchestrator.library.sycl_choice import select_device

        dev, note = select_device(resources_device)
        if dev is None:
            raise BackendUnavailable(note)
        return _queue(dev.filter_string), note
    key = device if isinstance(device, str) else device.filter_string
    try:
        return _queue(key), f"the device given ({key})"
    except Exception as exc:
        raise BackendUnavailable(f"cannot open a queue on {key}: {exc}") from None


@functools.cache
def _queue(filter_string: str) -> Any:
    """One queue per device and process (a queue owns a context: creating them is slow)."""
    import dpctl

    return dpctl.SyclQueue(filter_string)


@functools.cache
def import_numba_dpex() -> Any:
    """numba_dpex, with its kernel launcher fixed before any launch is compiled."""
    import numba_dpex

    from orchestrator.library.kernels import dpex_launch

    dpex_launch.apply()
    return numba_dpex
