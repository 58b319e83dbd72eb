"""`orch run`: execute a workflow on a site through Parsl, durably (see docs/run.md). The
run lifecycle is `backends/lifecycle.py`; this command parses, asks and prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "run"
HELP = "run a workflow (Parsl); --resume RUN_DIR finishes an interrupted or failed run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", metavar="WORKFLOW", nargs="?",
                   help="workflow spec (YAML); with --resume, defaults to the run's own")
    p.add_argument("--site", metavar="SITE", help="site config: a path or shipped name")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="NAME=VALUE",
                   help="override a workflow param (repeatable); with --resume, overrides "
                        "that name only: the other values of the run carry over")
    p.add_argument("--unset", action="append", default=None, metavar="NAME",
                   help="with --resume: drop a carried-over --set value (the param goes "
                        "back to the workflow's default)")
    p.add_argument("--run-dir", type=Path, metavar="DIR", help="where to write the run")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="resume this run: tasks done with the same key are not re-run")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="final summary format")
    p.add_argument("--parsl-log", choices=["debug", "info", "warning", "error"], default=None,
                   metavar="LEVEL", help="what Parsl writes to RUN/parsl/*/parsl.log: debug, "
                   "info, warning (default; or ORCH_PARSL_LOG) or error")
    # `orch submit`'s driver script: this process is link K of the chain, inside its own
    # batch job; it starts the run in --run-dir, or resumes it there
    p.add_argument("--chain-link", type=int, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from orchestrator.backends.attempt import RunRequest
    from orchestrator.backends.lifecycle import Reporter, run_attempt
    from orchestrator.backends.parsl.log_level import chosen

    if args.chain_link is not None:
        done = _link_start(args)
        if done is not None:
            return done
    request = RunRequest(args.workflow, site=args.site, sets=args.sets, unset=args.unset,
                         run_dir=args.run_dir, resume=args.resume,
                         quiet=args.quiet or args.format == "json", argv=sys.argv[1:],
                         link=args.chain_link, parsl_log=chosen(args.parsl_log))
    show = not args.quiet and args.format == "text"
    ended = run_attempt(request, Reporter(notice=_notice,
                                          started=_started if show else _silent))
    if args.chain_link is not None and ended.outcome is not None:
        _link_end(ended.rundir.path, args.chain_link)
    if ended.outcome is None:
        print(f"orch: interrupted; resume with: orch run --resume {ended.rundir.path}",
              file=sys.stderr)
        return 130
    _print_outcome(args, ended.outcome, ended.rundir, ended.seconds)
    return 0 if ended.outcome.state == "succeeded" else 3


def _link_start(args: argparse.Namespace) -> int | None:
    """A chain link: resume the run directory if an earlier link started the run; end the
    chain at once if the run has already ended (exit code: how it ended)."""
    from orchestrator.backends.chain import ended_state
    from orchestrator.errors import UsageError

    if args.run_dir is None:
        raise UsageError("--chain-link needs --run-dir")
    state = ended_state(args.run_dir)
    if state is not None:
        print(f"chain link {args.chain_link}: the run has already ended ({state}); "
              "nothing to do", file=sys.stderr)
        _link_end(args.run_dir, args.chain_link)
        return 0 if state == "succeeded" else 3
    if (args.run_dir / "run.json").is_file():
        args.resume, args.run_dir = args.run_dir, None
    return None


def _link_end(run_dir: Path, link: int) -> None:
    """The run has ended: the links still queued after this one would find nothing to do."""
    from orchestrator.backends.chain import end_chain

    cancelled = end_chain(run_dir, link)
    if cancelled:
        print(f"chain link {link}: the run has ended; cancelled the later link(s) "
              f"{', '.join(cancelled)}", file=sys.stderr)


def _notice(line: str) -> None:
    print(line, file=sys.stderr)


def _started(run_dir: Path) -> None:
    print(f"run directory: {run_dir}", flush=True)


def _silent(run_dir: Path) -> None:
    pass


def _print_outcome(args, outcome, rundir, seconds: float) -> None:
    if args.format == "json":
        print(json.dumps({"run_dir": str(rundir.path), "state": outcome.state,
                          "counts": outcome.counts, "failed": outcome.failed,
                          "loops": outcome.loops, "seconds": round(seconds, 3)}, indent=2))
        return
    counts = ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items()))
    print(f"{outcome.state}: {counts} in {seconds:.1f}s; run directory {rundir.path}")
    for name, info in outcome.loops.items():
        line = f"loop {name}: {info['iterations']} iteration(s), ended by {info['reason']}"
        if info.get("error"):
            line += f": {info['error']}"
        print(line)
    for f in outcome.failed:
        print(_failure_text(f), file=sys.stderr)


def _failure_text(f: dict, lines: int = 5) -> str:
    """A failed task for the end-of-run summary: its error, how its command ended, the last
    lines of its stderr (the journal keeps 10; `orch logs RUN_DIR TASK` shows them all)."""
    text = f"failed: {f['task']}: {f['error']}"
    if f.get("exit_code") is not None:
        text += f"\n  exit code {f['exit_code']}" + (f" ({f['signal']})" if f.get("signal")
                                                       else "")
    tail = (f.get("stderr_tail") or "").splitlines()[-lines:]
    text += "".join(f"\n  | {line}" for line in tail)
    return text + f"\n  logs: {f['stderr']}"
