"""A task's stdout/stderr files, one section per attempt (`orch logs`).

A task keeps one `stdout` and one `stderr` file (creating files is the main per-task cost on
shared filesystems, and a silent attempt creates none); every attempt that wrote something
appends its output after a header line naming the task and the attempt number:

    --- sim[3] attempt 2 at 2025-01-31T12:00:07 ---

Files written before attempts were numbered (`--- sim[3] attempt at ... ---`) are read too:
their sections are numbered in order.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^--- (?P<task>.+?) attempt(?: (?P<n>\d+))? at (?P<at>\S+) ---$",
                     re.MULTILINE)


def attempt_header(task_id: str, attempt: int, ts: float) -> str:
    """The line written before an attempt's output (task_io.attempt_line)."""
    return f"--- {task_id} attempt {attempt} at {time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(ts))} ---\n"


@dataclass(frozen=True)
class Section:
    attempt: int
    at: str | None
    text: str


def read_sections(path: str | Path | None, task_id: str) -> list[Section]:
    """The attempts in one log file, in file order; [] when there is no file. Only header
    lines naming `task_id` split it (a task that prints a look-alike line for another task
    does not)."""
    if not path:
        return []
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    return split_sections(text, task_id)


def split_sections(text: str, task_id: str) -> list[Section]:
    heads = [m for m in _HEADER.finditer(text) if m.group("task") == task_id]
    out: list[Section] = []
    if not heads:
        return [Section(1, None, text)] if text else []
    if heads[0].start() > 0:  # output before any header: not ours to number; keep it
        out.append(Section(0, None, text[:heads[0].start()]))
    last = 0
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        number = int(m.group("n")) if m.group("n") else last + 1
        last = number
        out.append(Section(number, m.group("at"), text[m.end() + 1:end]))
    return out


def last_lines(text: str, n: int) -> str:
    """The last `n` lines of `text`, newline-terminated if `text` was."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-n:]) if n > 0 else ""
