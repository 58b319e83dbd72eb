"""`orch logs`: a task's stdout/stderr, attempt by attempt, from the run directory alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestrator.errors import UsageError, UserError

NAME = "logs"
HELP = "show what a task wrote to stdout/stderr, per attempt (--attempt N picks one)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="the run directory")
    p.add_argument("task", metavar="TASK_ID", help="a task id as `orch status` lists it")
    p.add_argument("--attempt", type=int, metavar="N",
                   help="only attempt N (1 is the first try); default: every attempt")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stdout", dest="streams", action="store_const", const=("stdout",),
                       help="only stdout")
    which.add_argument("--stderr", dest="streams", action="store_const", const=("stderr",),
                       help="only stderr")
    p.add_argument("--tail", type=int, metavar="K", help="only the last K lines of each part")


def run(args: argparse.Namespace) -> int:
    """Print the chosen sections; with one stream and one attempt, the bare text (pipeable),
    else each section under a `==> TASK attempt N stdout (at TIME) <==` line."""
    from orchestrator.state.status import load_status
    from orchestrator.state.task_logs import last_lines, read_sections

    if (args.attempt is not None and args.attempt < 1) or (args.tail is not None and args.tail < 0):
        raise UsageError("--attempt counts from 1 and --tail from 0")
    task = _find(load_status(args.run_dir), args.task)
    streams = args.streams or ("stdout", "stderr")
    bare = len(streams) == 1 and args.attempt is not None
    found, seen = 0, set()
    for stream in streams:
        for sec in read_sections(getattr(task, stream), task.id):
            seen.add(sec.attempt)
            if args.attempt is not None and sec.attempt != args.attempt:
                continue
            found += 1
            text = last_lines(sec.text, args.tail) if args.tail is not None else sec.text
            if not bare:
                at = f" (at {sec.at})" if sec.at else ""
                sys.stdout.write(f"==> {task.id} attempt {sec.attempt} {stream}{at} <==\n")
            sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    if found:
        return 0
    if args.attempt is not None:
        raise UserError(_nothing(task, streams, args.attempt, sorted(seen)))
    print(_nothing(task, streams, None, []), file=sys.stderr)
    return 0


def _find(st, task_id: str):
    """The task, or a UserError naming the closest id (`orch status` lists them)."""
    from orchestrator.spec.suggest import did_you_mean

    for t in st.tasks:
        if t.id == task_id:
            return t
    hint = did_you_mean(task_id, (t.id for t in st.tasks))
    raise UserError(f"{st.run_dir}: no task {task_id!r} in this run"
                    + (f" ({hint})" if hint else " (`orch status RUN_DIR --all` lists them)"))


def _nothing(task, streams: tuple[str, ...], attempt: int | None, seen: list[int]) -> str:
    which = " or ".join(streams)
    if attempt is None:
        return f"{task.id} wrote nothing to {which} (it is {task.state.value})"
    have = (f"attempts with output: {', '.join(map(str, seen))}" if seen
            else "no attempt wrote anything")
    return f"{task.id}: no output from attempt {attempt} in its {which} ({have})"
