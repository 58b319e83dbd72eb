"""Live progress of a run, as the driver sees it (report/progress_view.py draws it).

The driver counts what ended (done, cached, failed, with durations); what is in
flight comes from a `live` source the engine gives (waiting, queued, running per
stage, and scheduler notes), asked at most once a second. On a terminal it is a
Rich live table; otherwise (CI, logs) plain lines every few seconds
(`ORCH_PROGRESS_EVERY`, default 5), so long runs still show signs of life.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.report.progress_view import (
    Durations,
    ProgressView,
    StageRow,
    estimate,
    loop_note,
    plain_lines,
    rich_table,
)
from orchestrator.state.states import TaskState

LIVE_EVERY = 1.0  # seconds between two questions to the live source (and ETA updates)


@dataclass
class Live:
    """What the engine says is in flight: per stage (waiting, queued, running)."""

    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    running: dict[str, list[float]] = field(default_factory=dict)  # seconds run so far
    notes: list[str] = field(default_factory=list)  # e.g. Slurm blocks pending, and why


@dataclass
class Shape:
    """What the ETA needs of the plan: plan.json's stage entries (in plan order), the
    nodes of each pool, and task durations of earlier runs of the workflow."""

    stages: list[dict[str, Any]]
    capacity: dict[str, float]
    history: dict[str, Any] = field(default_factory=dict)


class Progress:
    def __init__(self, stages: list[str], live: bool | None = None, quiet: bool = False,
                 plain_every: float | None = None):
        self.rows = {s: StageRow(s) for s in stages}
        self.active = {s: 0 for s in stages}
        self.durations = Durations()
        self.lock = threading.Lock()
        self.started = time.time()
        self.live = sys.stdout.isatty() if live is None else live
        self.quiet = quiet
        self.plain_every = plain_every if plain_every is not None else float(
            os.environ.get("ORCH_PROGRESS_EVERY") or 5.0)
        self._last_plain = 0.0
        self._live = None
        self.notes: list[str] = []
        self.shape: Shape | None = None
        self.source: Callable[[], Live] | None = None
        self.loops: dict[str, tuple[int, int | None]] = {}
        self._view: ProgressView | None = None
        self._view_at = 0.0

    def configure(self, shape: Shape, source: Callable[[], Live] | None) -> None:
        """The plan's shape for ETAs, and the engine's view of what is in flight."""
        self.shape, self.source = shape, source
        for s in shape.stages:
            row = self.rows.get(s["name"])
            if row is not None:
                row.loop = s.get("loop")
        self.durations.history = shape.history

    # counters (called from Parsl callback threads)
    def add(self, stage: str, n: int) -> None:
        with self.lock:
            self.rows[stage].total += n

    def submitted(self, stage: str) -> None:
        with self.lock:
            self.active[stage] += 1

    def finished(self, stage: str, state: TaskState, was_active: bool,
                 seconds: float | None = None) -> None:
        with self.lock:
            r = self.rows[stage]
            if was_active:
                self.active[stage] -= 1
            if state is TaskState.DONE:
                r.done += 1
                if seconds is not None:
                    total, n = self.durations.measured.get(stage, (0.0, 0))
                    self.durations.measured[stage] = (total + seconds, n + 1)
            elif state is TaskState.CACHED:
                r.cached += 1
            else:
                r.failed += 1

    def iteration(self, loop: str, k: int, most: int | None) -> None:
        """A loop starts its k-th pass (the ETA covers it; later passes are unknown)."""
        with self.lock:
            self.loops[loop] = (k, most)

    def note(self, text: str) -> None:
        with self.lock:
            self.notes.append(text)
        if not self.quiet and not self.live:
            print(text, flush=True)

    # the view
    def view(self, force: bool = False) -> ProgressView:
        now = time.time()
        if not force and self._view is not None and now - self._view_at < LIVE_EVERY:
            self._view.elapsed = now - self.started
            return self._view
        live = self.source() if self.source is not None else None
        with self.lock:
            rows = [StageRow(r.name, r.total, r.done, r.cached, r.failed, loop=r.loop)
                    for r in self.rows.values()]
            active = dict(self.active)
            measured = dict(self.durations.measured)
            loops = dict(self.loops)
        for r in rows:
            if live is not None:
                r.waiting, r.queued, r.running = live.counts.get(r.name, (0, 0, 0))
            else:
                r.queued = active.get(r.name, 0)
        view = ProgressView(now - self.started, rows)
        if self.shape is not None:
            durations = Durations(measured, live.running if live else {},
                                  self.durations.history)
            view.eta = estimate(rows, self.shape.stages, durations, self.shape.capacity)
        note = loop_note(loops)
        view.notes = ([note] if note and view.eta is not None else []) + (
            live.notes if live else [])
        self._view, self._view_at = view, now
        return view

    # display
    def __enter__(self) -> Progress:
        if self.live and not self.quiet:
            from rich.live import Live as RichLive

            from orchestrator.report.console import console

            self._live = RichLive(rich_table(self.view(force=True)), console=console(),
                                  refresh_per_second=4, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(rich_table(self.view(force=True)))
            self._live.stop()
            self._live = None
        elif not self.quiet:
            self._plain(force=True)

    def refresh(self) -> None:
        if self.quiet:
            return
        if self._live is not None:
            self._live.update(rich_table(self.view()))
        else:
            self._plain()

    def _plain(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_plain < self.plain_every:
            return
        self._last_plain = now
        print("\n".join(plain_lines(self.view(force=True))), flush=True)
