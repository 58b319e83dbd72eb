"""How a command ended, in words people and tools read: exit code, signal, stderr tail.

A failed shell task's journal record carries these (docs/status-json.md), so that
`orch status` can say "exited with 3" and show the last lines of stderr without opening
log files that may sit on a slow shared filesystem. No Parsl here.
"""

from __future__ import annotations

import os
import signal
import stat

TAIL_LINES = 10
TAIL_BYTES = 2048


def exit_status(returncode: int) -> tuple[int, str | None]:
    """(exit code, signal name or None). A negative return code (Python's way of saying
    "killed by signal N") becomes the shell's 128+N; a shell's own 128+N for a known
    signal is reported as that signal too (bash returns it when its child was killed)."""
    if returncode < 0:
        return 128 - returncode, _signal_name(-returncode)
    if 128 < returncode < 128 + 65:
        return returncode, _signal_name(returncode - 128)
    return returncode, None


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def fd_size(fd: int) -> int | None:
    """The current size of a regular file or memfd behind `fd`; None for a pipe or tty
    (then there is no tail to read back). fstat, not lseek: the offset is shared with the
    command's processes and is left alone."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def fd_tail(fd: int, since: int | None, lines: int = TAIL_LINES,
            max_bytes: int = TAIL_BYTES) -> str:
    """The last `lines` non-empty lines (at most `max_bytes`) written to `fd` after offset
    `since`; "" when nothing was, or `fd` cannot be read back."""
    if since is None:
        return ""
    end = fd_size(fd)
    if end is None or end <= since:
        return ""
    start = max(since, end - max_bytes)
    try:
        data = os.pread(fd, end - start, start)
    except OSError:
        return ""
    return tail_text(data.decode("utf-8", errors="replace"), lines, cut=start > since)


def tail_text(text: str, lines: int = TAIL_LINES, cut: bool = False) -> str:
    """The last `lines` non-empty lines of `text` (the first one dropped if `cut`: it is
    probably a fragment)."""
    rows = text.splitlines()
    if cut and len(rows) > 1:
        rows = rows[1:]
    return "\n".join([r.rstrip() for r in rows if r.strip()][-lines:])
