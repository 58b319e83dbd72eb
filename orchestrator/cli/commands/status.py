"""`orch status`: what happened in a run, read from its run directory alone (no Parsl)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "status"
HELP = "show a run's state, per-stage counts, loops, failures and tasks, from its run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="the run directory `orch run` created (or --run-dir named)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the documented contract of docs/status-json.md")
    p.add_argument("--all", dest="show_all", action="store_true",
                   help="list every task and failure (text format caps the tables)")
    p.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until the run ends")


def run(args: argparse.Namespace) -> int:
    """Exit 0 whenever the run directory could be read, whatever state the run is in."""
    if args.watch is not None:
        from orchestrator.cli.commands.watch import watch

        return watch(args.run_dir, max(0.2, args.watch), args.format, args.show_all)
    from orchestrator.state.status_json import status_json
    from orchestrator.state.submit_jobs import link_states

    links = link_states(args.run_dir)
    if links and not (args.run_dir / "run.json").is_file():
        return _not_started(args, links)
    st, view = snapshot(args.run_dir)
    if args.format == "json":
        doc = status_json(st, view)
        doc["submit"] = links or None
        _write_json(doc, sys.stdout)
        return 0
    from orchestrator.report.status_text import render_status

    render_status(st, show_all=args.show_all, view=view)
    for line in link_lines(links):
        print(line)
    return 0


def link_lines(links: list[dict]) -> list[str]:
    """`orch submit`'s driver jobs, one line each: `driver job 123 (link 1 of 3): running`."""
    return [f"driver job {x['job']} (link {x['link']} of {len(links)}): {x['state']}"
            for x in links]


def _not_started(args: argparse.Namespace, links: list[dict]) -> int:
    """Submitted, and no link has started the run yet."""
    if args.format == "json":
        print(json.dumps({"run_dir": str(args.run_dir.resolve()), "state": "submitted",
                          "submit": links}, indent=2))
        return 0
    print(f"{args.run_dir}: submitted; no driver job has started the run yet")
    for line in link_lines(links):
        print(line)
    return 0


def snapshot(run_dir: Path):
    """The run's status and, while it runs, its progress view (ETA, batch blocks)."""
    import time

    from orchestrator.state.status import load_status

    st = load_status(run_dir)
    if st.state != "running":
        return st, None
    from orchestrator import schedulers
    from orchestrator.backends.reaper import recorded_jobs
    from orchestrator.report.status_view import status_view

    notes = [note for s in schedulers.batch()
             for note in s.job_notes(recorded_jobs(st.run_dir, s.name))]
    return st, status_view(st, time.time(), notes)


def _write_json(doc: dict, out) -> None:
    """Indented, but one line per task: readable, and fast for 100,000 tasks."""
    tasks = doc.pop("tasks")
    head = json.dumps(doc, indent=2, default=str)
    out.write(head[:-2] + ',\n  "tasks": [')
    for i, task in enumerate(tasks):
        out.write(("," if i else "") + "\n    " + json.dumps(task, default=str))
    out.write("\n  ]\n}\n" if tasks else "]\n}\n")
