"""The one place that talks to the terminal: Rich behind small helpers.

Diagnostics go to stderr as plain `FILE:LINE:COL: error: ...` lines (tools
parse them); tables and progress go to stdout.
"""

from __future__ import annotations

import sys
from typing import IO

from orchestrator.errors import Diagnostic


def console(file: IO[str] | None = None):
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """`orch plan | head` is a normal way to read output: stop quietly, exit 0."""
            raise BrokenPipeError

    return _Console(file=file or sys.stdout, highlight=False, soft_wrap=False)


def print_diagnostics(diags: list[Diagnostic], file: IO[str] | None = None) -> None:
    out = file or sys.stderr
    for d in diags:
        print(d.format(), file=out)
    errors = sum(1 for d in diags if d.severity == "error")
    if errors > 1:
        print(f"{errors} errors", file=out)
