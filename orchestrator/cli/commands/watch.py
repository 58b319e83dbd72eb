"""`orch status --watch`: the driver's progress view, refreshed, for a run started
elsewhere (a batch job, another terminal). Read-only; stops when the run ends or on
Ctrl-C. On a terminal the view redraws in place (Rich); otherwise it prints the plain
lines the driver prints in logs, one block per refresh."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def watch(run_dir: Path, every: float, fmt: str, show_all: bool) -> int:
    from orchestrator.cli.commands.status import snapshot

    tty = sys.stdout.isatty() and fmt == "text"
    try:
        if tty:
            return _watch_tty(run_dir, every, show_all)
        while True:
            st, view = snapshot(run_dir)
            _print_plain(st, view, fmt)
            if st.state != "running":
                return 0
            time.sleep(every)
    except KeyboardInterrupt:
        return 0


def _print_plain(st, view, fmt: str) -> None:
    if fmt == "json":
        from orchestrator.state.status_json import status_json

        doc = status_json(st, view)
        doc.pop("tasks")  # one line per refresh: the tasks are in `orch status --format json`
        print(json.dumps(doc, default=str, separators=(",", ":")), flush=True)
        return
    if view is None:
        from orchestrator.report.status_text import render_status

        render_status(st)
        return
    from orchestrator.report.progress_view import plain_lines

    print("\n".join(plain_lines(view)), flush=True)


def _watch_tty(run_dir: Path, every: float, show_all: bool) -> int:
    from rich.console import Group
    from rich.live import Live

    from orchestrator.cli.commands.status import snapshot
    from orchestrator.report.console import console
    from orchestrator.report.status_text import render_status

    def frame():
        st, view = snapshot(run_dir)
        buffer = _Buffer()
        render_status(st, file=buffer, show_all=show_all, view=view)
        return st, buffer.text()

    st, text = frame()
    from rich.text import Text

    with Live(Group(Text.from_ansi(text)), console=console(), auto_refresh=False) as live:
        while st.state == "running":
            time.sleep(every)
            st, text = frame()
            live.update(Group(Text.from_ansi(text)), refresh=True)
    return 0


class _Buffer:
    """A file Rich renders into (colours kept), read back as one string per frame."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, s: str) -> int:
        self.parts.append(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def text(self) -> str:
        return "".join(self.parts)
