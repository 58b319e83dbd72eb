"""`orch devices [--format text|json] [--no-checks]`: the CPUs, CUDA GPUs and SYCL devices
this process sees, why none are found when that happens, and whether each kernel
reproduces its NumPy reference on each device (the backend self-check; docs/xpu.md)."""

from __future__ import annotations

import argparse
import json

NAME = "devices"
HELP = "list the CPUs, CUDA GPUs and SYCL devices this process sees (and why none are found)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--no-checks", action="store_true",
                   help="skip the kernel self-checks (they JIT every kernel: ~10 s)")


def run(args: argparse.Namespace) -> int:
    from orchestrator.library.devices import inventory_json, render_text

    # The oneAPI runtime needs LD_LIBRARY_PATH at process start: without it, discovery
    # runs in a child interpreter that has it (no re-exec, so tests may call main()).
    data = inventory_json(checks=not args.no_checks)
    print(json.dumps(data, indent=2) if args.format == "json" else render_text(data))
    return 0
