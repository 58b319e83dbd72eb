"""The report's Figures: images among the tasks' declared outputs, embedded as data: URIs.

Only images nothing superseded: those of tasks outside loops and, of a loop task, its
last iteration's. A file is read from `RUN_DIR/tasks/<task>/<output>` only when it
resolves to a regular file inside the run directory (a link out of it is refused), is at
most MAX_BYTES and starts like the image its suffix says. SVG is embedded only as
`<img src="data:image/svg+xml;base64,...">` (a browser runs no script in an image), never as
markup; the page's Content-Security-Policy allows `img-src data:` and nothing else.
No Parsl here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.report.lineage import SHA_CHARS, plan_id
from orchestrator.report.parts import size_text
from orchestrator.report.svg import esc
from orchestrator.report.table_view import RowsById
from orchestrator.state.rundir import task_dirname
from orchestrator.state.status_model import RunStatus, TaskStatus

IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg"}
MAX_FIGURES = 12
MAX_BYTES = 2 * 1024 * 1024
"""Per image; larger ones are named, not embedded."""
MAX_TOTAL_BYTES = 8 * 1024 * 1024
MAX_NOTES = 20
_SUCCESS = ("done", "cached")


def figures(run_dir: Path, st: RunStatus, results: dict[str, dict[str, Any]],
            tasks: list[TaskStatus] | None = None) -> str:
    """The Figures part of the Metrics section; "" when no task that finished declared an
    image output. `tasks`: those that may have (figure_tasks), if not every task."""
    found, superseded = _candidates(st.tasks if tasks is None else tasks, results)
    if not found:
        return ""
    shown, notes, total = [], [], 0
    for k, (t, rel, recorded) in enumerate(found):
        if len(shown) >= MAX_FIGURES:
            notes.append(f"{len(found) - k:,} more image(s) not embedded (at most "
                         f"{MAX_FIGURES}).")
            break
        data, why = read_image(run_dir, t.id, rel)
        if data is None:
            notes.append(f"{t.id}: {rel}: not embedded: {why}.")
            continue
        if total + len(data) > MAX_TOTAL_BYTES:
            notes.append(f"{t.id}: {rel}: not embedded: the figures would pass "
                         f"{size_text(MAX_TOTAL_BYTES)} in all.")
            continue
        total += len(data)
        shown.append(_figure(t.id, rel, data, recorded))
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"and {len(notes) - MAX_NOTES:,} more."]
    text = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    if superseded:
        text += (f'<p class="note">{superseded:,} image(s) of earlier loop iterations are not '
                 "shown (a loop task shows its last iteration's).</p>")
    grid = f'<div class="grid">{"".join(shown)}</div>' if shown else ""
    return ('<h3 id="figures">Figures</h3><p class="note">Images the tasks wrote (declared '
            "outputs), embedded in this page.</p>" + grid + text)


def figure_tasks(ctx: Any) -> list[TaskStatus]:
    """The tasks of a report's task table (ctx.table) whose result record lists an image,
    in table order: the only ones `figures` needs as objects."""
    index = RowsById(ctx.table)
    rows = sorted(r for tid, rec in ctx.results.items() if _images(rec)
                  if (r := index.row(tid)) >= 0)
    return [ctx.table.task(r) for r in rows]


def _candidates(tasks: Iterable[TaskStatus], results: dict[str, dict[str, Any]]
                ) -> tuple[list[tuple[TaskStatus, str, Any]], int]:
    """(task, output, its recorded [sha256, size, mtime]) of each image to show, in task
    order, and how many images earlier iterations superseded."""
    ok = [t for t in tasks if t.state.value in _SUCCESS and _images(results.get(t.id))]
    last: dict[str, int] = {}
    for t in ok:
        if isinstance(t.iteration, int):
            last[plan_id(t)] = max(last.get(plan_id(t), 0), t.iteration)
    found, superseded = [], 0
    for t in ok:
        images = _images(results.get(t.id))
        if isinstance(t.iteration, int) and t.iteration != last[plan_id(t)]:
            superseded += len(images)
        else:
            found += [(t, rel, v) for rel, v in images]
    return found, superseded


def _images(rec: Any) -> list[tuple[str, Any]]:
    files = rec.get("files") if isinstance(rec, dict) else None
    if not isinstance(files, dict):
        return []
    return [(rel, v) for rel, v in files.items()
            if isinstance(rel, str) and os.path.splitext(rel)[1].lower() in IMAGE_TYPES]


def read_image(run_dir: Path, task_id: str, rel: str) -> tuple[bytes | None, str]:
    """The bytes of a task's image output, or None and why not."""
    root = Path(run_dir).resolve()
    try:
        real = (Path(run_dir) / "tasks" / task_dirname(task_id) / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None, "the file is gone"
    if not real.is_relative_to(root):
        return None, "it resolves outside the run directory"
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return None, f"cannot open it ({exc.strerror})"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        if info.st_size > MAX_BYTES:
            return None, f"{size_text(info.st_size)}, over {size_text(MAX_BYTES)}"
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return None, f"over {size_text(MAX_BYTES)}"
    kind = IMAGE_TYPES[os.path.splitext(rel)[1].lower()]
    if not _looks_like(kind, data):
        return None, f"its content is not {kind}"
    return data, ""


def _looks_like(kind: str, data: bytes) -> bool:
    if kind == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    return b"<svg" in data[:65536]


def _figure(task_id: str, rel: str, data: bytes, recorded: Any) -> str:
    kind = IMAGE_TYPES[os.path.splitext(rel)[1].lower()]
    sha = hashlib.sha256(data).hexdigest()
    wrote = recorded[0] if isinstance(recorded, list) and recorded else None
    changed = (' <span class="note">(changed since the task wrote it)</span>'
               if isinstance(wrote, str) and wrote != sha else "")
    b64 = base64.b64encode(data).decode("ascii")
    cls = ' class="svg"' if kind == "image/svg+xml" else ""
    return (f'<figure class="fig" data-task="{esc(task_id)}" data-file="{esc(rel)}">'
            f'<img{cls} src="data:{kind};base64,{b64}" alt="{esc(task_id)}: {esc(rel)}">'
            f"<figcaption>{esc(task_id)} · <code>{esc(rel)}</code> · "
            f'<code title="sha256 {sha}">{sha[:SHA_CHARS]}</code> · '
            f"{esc(size_text(len(data)))}{changed}</figcaption></figure>")
