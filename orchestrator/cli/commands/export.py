"""`orch export RUN_DIR --ro-crate DIR`: the run's provenance as a Workflow Run RO-Crate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestrator.errors import UsageError

NAME = "export"
HELP = ("write a run's provenance as a Workflow Run RO-Crate (workflow, params, site config, "
        "every task as an action with its files and SHA-256), from its run directory alone")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="the run directory `orch run` created (or --run-dir named)")
    p.add_argument("--ro-crate", dest="crate", metavar="DIR", type=Path, required=True,
                   help="the folder to write the crate to (new or empty; see --force)")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--include-data", dest="policy", action="store_const", const="all",
                      help="copy every file the tasks wrote, whatever its size")
    data.add_argument("--no-data", dest="policy", action="store_const", const="none",
                      help="copy no task file or log: describe them (SHA-256, size) and "
                           "reference them where they lie in the run directory")
    p.add_argument("--max-copy", metavar="SIZE", default="1MiB",
                   help="by default, files the tasks wrote are copied up to this size "
                        "(default 1MiB) and larger ones referenced by file:// URI")
    p.add_argument("--license", metavar="SPDX_OR_URL",
                   help="the license of the crate's content: an SPDX id (CC-BY-4.0) or a URL "
                        "(default: the crate says that no license was stated)")
    p.add_argument("--force", action="store_true",
                   help="replace DIR if it exists and is not empty")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help='json: {"ok": true, "crate": DIR, ...} on stdout')


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the crate was written, whatever state the run is in (a failed run
    exports too); 1 when RUN_DIR is not a run directory or DIR cannot be used."""
    from orchestrator.export.payload import SMALL
    from orchestrator.export.ro_crate import export_ro_crate
    from orchestrator.units import parse_memory

    try:
        max_copy = parse_memory(args.max_copy)
    except ValueError as exc:
        raise UsageError(f"--max-copy: {exc}") from None
    s = export_ro_crate(args.run_dir, args.crate, args.policy or SMALL, max_copy, args.force,
                        args.license)
    if args.format == "json":
        print(json.dumps({"ok": True, "crate": str(s.crate), "state": s.state,
                          "entities": s.entities, "tasks": s.tasks, "copied": s.copied,
                          "copied_bytes": s.copied_bytes, "referenced": s.referenced},
                         indent=2))
    else:
        print(f"ro-crate: {s.crate} ({s.tasks} task action(s), {s.entities} entities; "
              f"{s.copied} file(s) copied, {s.referenced} referenced; the run {s.state})")
    return 0
