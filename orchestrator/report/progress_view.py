"""One view of a live run, shared by the driver's progress display and `orch status
[--watch]`: per stage done/total, a bar, waiting/queued/running/failed and its own
ETA (report/eta.py), as a Rich table on a terminal or as plain lines in logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.report.eta import StageWork, remaining
from orchestrator.units import parse_walltime

BAR = 20


@dataclass
class StageRow:
    name: str
    total: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    waiting: int = 0
    queued: int = 0
    running: int = 0
    loop: str | None = None
    eta: float | None = None
    source: str | None = None
    """measured | earlier runs | walltime: where the ETA's task duration comes from."""

    @property
    def finished(self) -> int:
        return self.done + self.cached + self.failed

    @property
    def pending(self) -> int:
        """Planned, not yet handed to the engine (a later stage, or a loop's next pass)."""
        return max(0, self.total - self.finished - self.waiting - self.queued - self.running)


@dataclass
class ProgressView:
    elapsed: float
    rows: list[StageRow]
    eta: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def bound(self) -> bool:
        """The ETA leans on a walltime (nothing measured yet): an upper bound, not a guess."""
        return any(r.source == "walltime" and r.eta for r in self.rows)

    def eta_text(self) -> str:
        return ("≤ " if self.bound else "") + fmt(self.eta)

    def total(self) -> StageRow:
        t = StageRow("total")
        for r in self.rows:
            for attr in ("total", "done", "cached", "failed", "waiting", "queued", "running"):
                setattr(t, attr, getattr(t, attr) + getattr(r, attr))
        t.eta = self.eta
        return t


@dataclass
class Durations:
    """What the ETA knows of task durations, per stage."""

    measured: dict[str, tuple[float, int]] = field(default_factory=dict)
    """seconds summed and tasks counted, over tasks done in this run"""
    running: dict[str, list[float]] = field(default_factory=dict)
    """seconds each running task has run so far"""
    history: dict[str, Any] = field(default_factory=dict)
    """state.history.StageHistory of earlier runs of the workflow"""


def estimate(rows: list[StageRow], stages: list[dict[str, Any]], durations: Durations,
             capacity: dict[str, float]) -> float | None:
    """Fill each row's ETA and source from `stages` (plan.json's stage entries, in plan
    order) and return the run's. Stages without a row yet (not submitted) count with their
    planned tasks; a loop counts its current pass only (see `loop_note`)."""
    by_name = {r.name: r for r in rows}
    work: list[StageWork] = []
    for s in stages:
        row = by_name.get(s["name"]) or StageRow(s["name"], loop=s.get("loop"))
        planned = int(s.get("tasks") or 0)
        running = durations.running.get(s["name"], [])
        todo = max(row.total, planned) - row.finished - len(running)
        if row.total > planned and planned:  # a loop's later pass: what is left of it
            todo = max(0, row.total - row.finished - len(running))
        seconds, source = _per_task(s, durations)
        work.append(StageWork(s["name"], tuple(s.get("needs") or ()), str(s.get("pool")),
                              _share(s), max(0, todo), running, seconds, source))
        row.source = source
    left = remaining(work, capacity)
    for name, seconds in left.items():
        if name in by_name:
            by_name[name].eta = seconds
    known = [v for v in left.values() if v is not None]
    if len(known) < len(left):
        return None
    return max(known, default=0.0)


def _per_task(stage: dict[str, Any], d: Durations) -> tuple[float | None, str]:
    total, n = d.measured.get(stage["name"], (0.0, 0))
    if n:
        return total / n, "measured"
    h = d.history.get(stage["name"])
    if h is not None and getattr(h, "tasks", 0):
        return float(h.seconds), "earlier runs"
    res = stage.get("resources") or {}
    wall = res.get("walltime") or res.get("estimated_walltime")
    try:
        return (float(parse_walltime(wall)) if wall else None), "walltime"
    except ValueError:
        return None, "walltime"


def _share(stage: dict[str, Any]) -> float:
    res = stage.get("resources") or {}
    nodes = int(res.get("nodes") or 1)
    per_node = int(stage.get("slots_per_node") or 1)
    return nodes / max(1, per_node) if nodes == 1 else float(nodes)


def loop_note(loops: dict[str, tuple[int, int | None]]) -> str | None:
    """'ETA to the end of iteration 2 of loop al (at most 5)': a loop's later passes are
    not known until its condition is checked."""
    parts = [f"iteration {k} of loop {name}" + (f" (at most {m})" if m else "")
             for name, (k, m) in loops.items() if k]
    return ("ETA to the end of " + ", ".join(parts)) if parts else None


# ---- rendering --------------------------------------------------------------------------------
def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


def bar(done: int, total: int, width: int = BAR) -> str:
    filled = int(width * done / total) if total else 0
    return "#" * filled + "." * (width - filled)


def _states(r: StageRow) -> str:
    parts = [f"{n} {label}" for n, label in ((r.running, "running"), (r.queued, "queued"),
                                             (r.waiting, "waiting"), (r.failed, "failed"),
                                             (r.pending, "pending")) if n]
    return ", ".join(parts)


def _eta(r: StageRow) -> str:
    if r.finished >= r.total and r.total and not (r.running or r.queued or r.waiting):
        return "done"
    if r.eta is None:
        return "ETA -"
    bound = "≤ " if r.source == "walltime" else ""
    return f"ETA {bound}{fmt(r.eta)}" + (f" ({r.source})" if r.source else "")


def plain_lines(view: ProgressView) -> list[str]:
    """A total line, then a line per stage that has started and not ended."""
    t = view.total()
    head = (f"[{fmt(view.elapsed)}] {t.done + t.cached}/{t.total} done, {t.running} running, "
            f"{t.queued} queued, {t.waiting} waiting, {t.failed} failed"
            + (f", {t.pending} pending" if t.pending else "")
            + (f", ETA {view.eta_text()}" if view.eta is not None else ""))
    lines = [head]
    for r in view.rows:
        if r.total == 0 or r.finished >= r.total or not (r.running or r.queued or r.waiting
                                                         or r.finished):
            continue
        lines.append(f"  {r.name:<16} {r.done + r.cached:>5}/{r.total:<5} [{bar(r.finished, r.total)}]"
                     f" {_states(r)}  {_eta(r)}".rstrip())
    lines.extend(f"  {n}" for n in view.notes)
    return lines


def rich_table(view: ProgressView):
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    title = f"elapsed {fmt(view.elapsed)}" + (f"  ETA {view.eta_text()}"
                                               if view.eta is not None else "")
    table = Table(title=title, title_justify="left",
                  caption="\n".join(view.notes) or None, caption_justify="left")
    for col, just in (("stage", "left"), ("done", "right"), ("", "left"), ("running", "right"),
                      ("queued", "right"), ("waiting", "right"), ("failed", "right"),
                      ("ETA", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    for r in view.rows:
        if r.total == 0:
            continue
        done = f"{r.done + r.cached}/{r.total}" + (f" ({r.cached} cached)" if r.cached else "")
        table.add_row(r.name, done, ProgressBar(total=r.total, completed=r.finished, width=BAR),
                      str(r.running), str(r.queued), str(r.waiting),
                      f"[red]{r.failed}[/red]" if r.failed else "0",
                      _eta(r).removeprefix("ETA "))
    return table

