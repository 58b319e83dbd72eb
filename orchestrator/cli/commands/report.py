"""`orch report RUN_DIR [-o report.html]`: one self-contained HTML file about a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "report"
HELP = ("write a self-contained HTML report of a run (summary, timeline, stage graph, metrics, "
        "failures, provenance), from its run directory alone")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="the run directory `orch run` created (or --run-dir named)")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, default=None,
                   help="where to write the report (default RUN_DIR/report.html; a directory "
                        "gets report.html inside it)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help='json: {"ok": true, "report": PATH, "bytes": N} on stdout')


def run(args: argparse.Namespace) -> int:
    """Exit 0 whenever the report was written, whatever state the run is in."""
    from orchestrator.errors import UserError
    from orchestrator.report.html import write_report

    out = args.output
    if out is not None and out.is_dir():
        out = out / "report.html"
    try:
        path, size = write_report(args.run_dir, out)
    except OSError as exc:
        target = out or args.run_dir / "report.html"
        raise UserError(f"{target}: cannot write the report ({exc.strerror or exc})") from None
    if args.format == "json":
        print(json.dumps({"ok": True, "report": str(path.resolve()), "bytes": size}, indent=2))
    else:
        print(f"report: {path} ({_size(size)})")
    return 0


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
