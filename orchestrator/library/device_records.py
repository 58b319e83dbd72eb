"""The records of a device inventory (`devices.discover()`) and their JSON, the
`orch devices --format json` contract (docs/xpu.md).

Plain frozen dataclasses, no imports beyond the standard library: discovery builds them,
`sycl_choice` decides over them, and tests make them by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CpuInfo:
    model: str
    logical_cpus: int
    usable_cpus: int  # what this process may run on (affinity, cgroup pinning)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CudaDevice:
    index: int
    name: str
    memory_bytes: int
    capability: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SyclDevice:
    filter_string: str  # "opencl:cpu:0", "level_zero:gpu:0"; a tile: "level_zero:0.1"
    backend: str  # level_zero, opencl, cuda, ...
    device_type: str  # gpu, cpu, accelerator
    name: str
    vendor: str = ""
    driver_version: str = ""
    compute_units: int = 0
    global_mem_bytes: int = 0
    max_work_group_size: int = 0
    fp64: bool = True
    sub_devices: tuple[SyclDevice, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["sub_devices"] = [s.to_json() for s in self.sub_devices]
        return out


@dataclass(frozen=True)
class Inventory:
    cpu: CpuInfo
    cuda: tuple[CudaDevice, ...] = ()
    cuda_reason: str | None = None  # why the list is empty
    sycl: tuple[SyclDevice, ...] = ()
    sycl_reason: str | None = None
    pinning: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu.to_json(),
            "cuda": {"devices": [d.to_json() for d in self.cuda], "reason": self.cuda_reason},
            "sycl": {"devices": [d.to_json() for d in self.sycl], "reason": self.sycl_reason},
            "pinning": dict(self.pinning),
        }
