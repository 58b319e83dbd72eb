"""Live progress of a run: per stage done / running / failed / pending, elapsed and ETA.

On a terminal it is a Rich live table; otherwise (CI, logs) a plain line every
few seconds, so long runs still show signs of life.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

from orchestrator.state.states import TaskState


@dataclass
class StageCounts:
    total: int = 0
    active: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.active - self.done - self.cached - self.failed


class Progress:
    def __init__(self, stages: list[str], live: bool | None = None, quiet: bool = False,
                 plain_every: float = 5.0):
        self.counts = {s: StageCounts() for s in stages}
        self.lock = threading.Lock()
        self.started = time.time()
        self.live = sys.stdout.isatty() if live is None else live
        self.quiet = quiet
        self.plain_every = plain_every
        self._last_plain = 0.0
        self._live = None
        self._done_times: deque[float] = deque(maxlen=200)  # the ETA's window; bounded
        self.notes: list[str] = []

    # counters (called from Parsl callback threads)
    def add(self, stage: str, n: int) -> None:
        with self.lock:
            self.counts[stage].total += n

    def submitted(self, stage: str) -> None:
        with self.lock:
            self.counts[stage].active += 1

    def finished(self, stage: str, state: TaskState, was_active: bool) -> None:
        with self.lock:
            c = self.counts[stage]
            if was_active:
                c.active -= 1
            if state is TaskState.DONE:
                c.done += 1
                self._done_times.append(time.time())
            elif state is TaskState.CACHED:
                c.cached += 1
            else:
                c.failed += 1

    def note(self, text: str) -> None:
        with self.lock:
            self.notes.append(text)
        if not self.quiet and not self.live:
            print(text, flush=True)

    # display
    def __enter__(self) -> Progress:
        if self.live and not self.quiet:
            from rich.live import Live

            from orchestrator.report.console import console

            self._live = Live(self._table(), console=console(), refresh_per_second=4,
                              transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None
        elif not self.quiet:
            self._plain(force=True)

    def refresh(self) -> None:
        if self.quiet:
            return
        if self._live is not None:
            self._live.update(self._table())
        else:
            self._plain()

    def totals(self) -> StageCounts:
        with self.lock:
            t = StageCounts()
            for c in self.counts.values():
                t.total += c.total
                t.active += c.active
                t.done += c.done
                t.cached += c.cached
                t.failed += c.failed
            return t

    def eta(self) -> float | None:
        t = self.totals()
        remaining = t.pending + t.active
        with self.lock:
            times = list(self._done_times)
        if remaining <= 0 or len(times) < 2:
            return None
        rate = (len(times) - 1) / max(1e-6, times[-1] - times[0])
        return remaining / rate if rate > 0 else None

    def _plain(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_plain < self.plain_every:
            return
        self._last_plain = now
        t = self.totals()
        eta = self.eta()
        print(f"[{_fmt(now - self.started)}] {t.done + t.cached}/{t.total} done, {t.active} running, "
              f"{t.failed} failed, {t.pending} pending" + (f", ETA {_fmt(eta)}" if eta else ""),
              flush=True)

    def _table(self):
        from rich.table import Table

        elapsed = time.time() - self.started
        eta = self.eta()
        title = f"elapsed {_fmt(elapsed)}" + (f"  ETA {_fmt(eta)}" if eta else "")
        table = Table(title=title, title_justify="left")
        for col in ("stage", "done", "running", "failed", "pending"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        with self.lock:
            for name, c in self.counts.items():
                if c.total == 0:
                    continue
                done = f"{c.done + c.cached}" + (f" ({c.cached} cached)" if c.cached else "")
                table.add_row(name, done, str(c.active),
                              f"[red]{c.failed}[/red]" if c.failed else "0", str(c.pending))
        return table


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"
