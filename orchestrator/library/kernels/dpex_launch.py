"""A fix for numba-dpex's kernel launcher: no zero-length stack arrays (issue 13).

`numba_dpex.call_kernel` is a host function that numba compiles, per kernel signature,
for the host CPU. It passes the dependent events to `DPCTLQueue_SubmitRange` in a stack
array of one slot per event, allocated with numba's `cgutils.alloca_once`, which always
zero-fills the first slot. With no events (every synchronous `call_kernel`) that is an
8-byte store into `alloca [0 x i8*]`: a write to a zero-size stack object. LLVM gives
that object the address of a neighbouring slot, and which one depends on the frame
layout, i.e. on the host CPU's features. Without AVX-512 (AMD EPYC Rome/Milan, Intel
Haswell, `NUMBA_CPU_NAME=x86-64`) it is the slot of the 7th float32 scalar of the table
kernel: the kernel received `half = 0.0`, summed no energy and wrapped the minimum
image wrongly. With AVX-512 the store lands on a dead slot and nothing shows.

The fix allocates every such array with at least one element (the count passed to the
runtime is unchanged), so the store has its own slot. Evidence: docs/decisions.md.
Set ORCH_DPEX_LAUNCHER_FIX=0 to leave numba-dpex unpatched (to show the bug).
"""

from __future__ import annotations

import functools
import os
from typing import Any

DISABLE = "ORCH_DPEX_LAUNCHER_FIX"


def apply() -> bool:
    """Patch the launcher builder once per process; False when disabled or when this
    numba-dpex has no such builder (the kernel self-check still guards the results)."""
    if os.environ.get(DISABLE, "1") == "0":
        return False
    try:
        from numba_dpex.core.utils.call_kernel_builder import KernelLaunchIRBuilder
    except ImportError:
        return False
    original = getattr(KernelLaunchIRBuilder, "_allocate_array", None)
    if original is None:
        return False
    if getattr(original, "_orch_at_least_one", False):
        return True

    @functools.wraps(original)
    def _allocate_array(self: Any, numba_type: Any, size: int) -> Any:
        return original(self, numba_type, max(int(size), 1))

    _allocate_array._orch_at_least_one = True  # type: ignore[attr-defined]
    KernelLaunchIRBuilder._allocate_array = _allocate_array
    return True
