"""`orch devices [--format text|json]`: the CPUs, CUDA GPUs and SYCL devices this process
sees, and why none are found when that happens (docs/xpu.md)."""

from __future__ import annotations

import argparse
import json

NAME = "devices"
HELP = "list the CPUs, CUDA GPUs and SYCL devices this process sees (and why none are found)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from orchestrator.library.devices import inventory_json, render_text

    # The oneAPI runtime needs LD_LIBRARY_PATH at process start: without it, discovery
    # runs in a child interpreter that has it (no re-exec, so tests may call main()).
    data = inventory_json()
    print(json.dumps(data, indent=2) if args.format == "json" else render_text(data))
    return 0
