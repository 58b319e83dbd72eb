"""What devices this process sees (CPUs, CUDA GPUs, SYCL devices), and why none when so.

`discover()` returns an `Inventory` (`to_json()` is the `orch devices --format json`
contract, documented in docs/xpu.md); when no SYCL or CUDA device is found it says why
(runtime not installed, libraries not on LD_LIBRARY_PATH, OpenCL ICD not registered, a
selector that hides everything). Which of the devices a task uses is
`library.sycl_choice`; the records are `library.device_records`.

dpctl and torch are imported lazily, inside functions: importing this module costs
nothing and works on machines without them. `sycl_reason` is a pure function over plain
records, tested without a SYCL runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator import device_kinds
from orchestrator.library import sycl_env
from orchestrator.library.device_records import CpuInfo, CudaDevice, Inventory, SyclDevice

PINNING_VARS = device_kinds.PINNING_VARS
INSTALL_HINT = sycl_env.INSTALL_HINT


# ---------------------------------------------------------------- discovery


def discover() -> Inventory:
    """Everything this process can compute on."""
    sycl, sycl_why = discover_sycl()
    cuda, cuda_why = discover_cuda()
    return Inventory(cpu=cpu_info(), cuda=tuple(cuda), cuda_reason=cuda_why,
                     sycl=tuple(sycl), sycl_reason=sycl_why,
                     pinning={k: os.environ[k] for k in PINNING_VARS if k in os.environ})


def cpu_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> CpuInfo:
    model = ""
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    logical = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return CpuInfo(model=model or "unknown", logical_cpus=logical, usable_cpus=usable)


def discover_cuda() -> tuple[list[CudaDevice], str | None]:
    """CUDA GPUs as torch sees them (after CUDA_VISIBLE_DEVICES); torch only if installed."""
    try:
        import torch
    except ImportError:
        return [], "torch is not installed (pip install 'orchestrator[torch]'); CUDA not probed"
    try:
        if not torch.cuda.is_available():
            hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
            why = ("CUDA_VISIBLE_DEVICES is empty (this worker is pinned to no GPU)"
                   if hidden == "" else
                   f"torch {torch.__version__} sees no CUDA GPU"
                   + (" (a CPU-only build)" if torch.version.cuda is None else ""))
            return [], why
        out = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            out.append(CudaDevice(index=i, name=p.name, memory_bytes=int(p.total_memory),
                                  capability=f"{p.major}.{p.minor}"))
        return out, None
    except Exception as exc:  # a broken driver must not break `orch devices`
        return [], f"torch.cuda failed: {exc}"


def discover_sycl() -> tuple[list[SyclDevice], str | None]:
    """SYCL devices as dpctl sees them (after ONEAPI_DEVICE_SELECTOR / ZE_AFFINITY_MASK)."""
    try:
        import dpctl
    except ImportError as exc:
        return [], sycl_reason(import_error=str(exc) or type(exc).__name__)
    try:
        raw = dpctl.get_devices()
    except Exception as exc:
        return [], f"dpctl.get_devices() failed: {exc}"
    devices = [_record(d, _backend_index(raw, i)) for i, d in enumerate(raw)]
    return devices, (sycl_reason(n_devices=0) if not devices else None)


def _backend_index(raw: Sequence[Any], i: int) -> int:
    backend = raw[i].backend
    return sum(1 for d in raw[:i] if d.backend == backend)


def _record(dev: Any, backend_index: int) -> SyclDevice:
    backend, dtype = dev.backend.name, dev.device_type.name
    tiles: tuple[SyclDevice, ...] = ()
    if dtype == "gpu":
        tiles = _tiles(dev, f"{backend}:{backend_index}")
    return SyclDevice(
        filter_string=dev.filter_string, backend=backend, device_type=dtype, name=dev.name,
        vendor=dev.vendor, driver_version=dev.driver_version,
        compute_units=int(dev.max_compute_units), global_mem_bytes=int(dev.global_mem_size),
        max_work_group_size=int(dev.max_work_group_size), fp64=bool(dev.has_aspect_fp64),
        sub_devices=tiles)


def _tiles(dev: Any, base: str) -> tuple[SyclDevice, ...]:
    """A GPU's tiles (sub-devices by affinity domain); none when it is not partitionable
    (single-tile GPUs, or ZE_FLAT_DEVICE_HIERARCHY=FLAT where each tile is a root device)."""
    try:
        if int(dev.partition_max_sub_devices) < 2:
            return ()
        subs = dev.create_sub_devices(partition="next_partitionable")
    except Exception:
        return ()
    return tuple(
        SyclDevice(filter_string=f"{base}.{t}", backend=dev.backend.name,
                   device_type=dev.device_type.name, name=s.name,
                   compute_units=int(s.max_compute_units),
                   global_mem_bytes=int(s.global_mem_size),
                   max_work_group_size=int(s.max_work_group_size),
                   fp64=bool(s.has_aspect_fp64))
        for t, s in enumerate(subs))


def inventory_json(timeout: float = 300.0, checks: bool = False) -> dict[str, Any]:
    """`discover().to_json()` as the oneAPI runtime of this environment sees it, plus,
    with `checks`, the kernel self-checks run on every device (kernels.selfcheck).

    When this process lacks the runtime's environment (LD_LIBRARY_PATH is only read at
    process start), discovery runs in a child interpreter that has it
    (`python -m orchestrator.library.devices`, same pinning variables): safe to call from
    any process, a test runner included, unlike a re-exec. Falls back to discovering in
    this process (whose `sycl.reason` then says what is missing) if the child fails."""
    missing = sycl_env.missing_sycl_env()
    if not missing:
        return _here(checks)
    env = {**os.environ, **missing}
    argv = [sys.executable, "-m", "orchestrator.library.devices"] + (["--checks"] * checks)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        failure = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        failure = str(exc)
    data = _here(checks)
    data["sycl"]["reason"] = f"{data['sycl']['reason']} (discovery with the oneAPI " \
                             f"environment failed: {failure[:300]})"
    return data


def _here(checks: bool) -> dict[str, Any]:
    data = discover().to_json()
    if checks:
        from orchestrator.library.kernels.selfcheck import device_checks

        data["checks"] = device_checks()
    return data


def render_text(data: dict[str, Any]) -> str:
    """The `orch devices` text view of `inventory_json()`."""
    cpu = data["cpu"]
    lines = [f"CPU   {cpu['model']}: {cpu['usable_cpus']} of {cpu['logical_cpus']} logical "
             "CPUs usable"]
    for d in data["cuda"]["devices"]:
        lines.append(f"CUDA  cuda:{d['index']}  {d['name']}  {d['memory_bytes'] / 2**30:.1f} GiB"
                     f"  sm_{d['capability'].replace('.', '')}")
    if not data["cuda"]["devices"]:
        lines.append(f"CUDA  none: {data['cuda']['reason']}")
    for d in data["sycl"]["devices"]:
        lines.append(f"SYCL  {d['filter_string']:<18} {d['device_type']:<4} {d['name']}  "
                     f"{d['compute_units']} compute units, "
                     f"{d['global_mem_bytes'] / 2**30:.1f} GiB")
        lines += [f"        tile {t['filter_string']}: {t['compute_units']} compute units"
                  for t in d["sub_devices"]]
    if not data["sycl"]["devices"]:
        lines.append(f"SYCL  none: {data['sycl']['reason']}")
    if "checks" in data:
        from orchestrator.library.kernels.selfcheck import render

        lines += render(data["checks"])
    if data["pinning"]:
        lines.append("pinned by " + " ".join(f"{k}={v}" for k, v in data["pinning"].items()))
    return "\n".join(lines)


# ---------------------------------------------------------------- why nothing is found


def sycl_reason(import_error: str | None = None, n_devices: int = 0,
                prefix: str | os.PathLike = sys.prefix,
                environ: Mapping[str, str] | None = None) -> str | None:
    """Why dpctl lists no device (None when it lists some): the first cause that applies."""
    environ = os.environ if environ is None else environ
    installed = sycl_env.runtime_installed(prefix)
    if import_error is not None:
        if "No module named" in import_error:
            return f"dpctl is not installed; install the SYCL runtime with {INSTALL_HINT}"
        missing = sycl_env.missing_sycl_env(prefix, environ)
        if installed and "LD_LIBRARY_PATH" in missing:
            return (f"dpctl cannot load the oneAPI runtime ({import_error}): "
                    f"LD_LIBRARY_PATH lacks {sycl_env.lib_dir(prefix)}; run through `orch` "
                    "or `python -m orchestrator.library.sycl_env -- COMMAND`, which set it")
        return f"dpctl does not import ({import_error}); reinstall with {INSTALL_HINT}"
    if n_devices:
        return None
    selector = environ.get("ONEAPI_DEVICE_SELECTOR")
    if selector:
        return (f"ONEAPI_DEVICE_SELECTOR={selector} matches no device of this machine "
                "(the SYCL runtime hides the others)")
    ocl = sycl_env.find_intelocl(prefix)
    if ocl is not None and str(ocl) not in environ.get("OCL_ICD_FILENAMES", "").split(":"):
        icds = "; ".join(f"{p} names {lib}" for p, lib in sycl_env.icd_files(prefix).items())
        return (f"the OpenCL CPU runtime is not registered with the ICD loader: set "
                f"OCL_ICD_FILENAMES={ocl}" + (f" (the wheel's ICD file is unusable: {icds})"
                                               if icds else ""))
    if not installed:
        return ("no SYCL runtime in this environment and no system driver lists a device; "
                f"install it with {INSTALL_HINT}")
    return ("the SYCL runtime lists no platform: no Intel GPU driver (Level Zero) and no "
            "OpenCL device on this machine")


if __name__ == "__main__":
    print(json.dumps(_here("--checks" in sys.argv[1:])))
