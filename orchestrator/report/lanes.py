"""Timeline lanes: which worker ran which task when, as bars packed into one lane per
worker (host and pid, else host and device mask, else packed slots). Pure data, no HTML;
report/svg.py draws them and report/timeline.py is the section.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from orchestrator.report.task_extras import TaskExtra
from orchestrator.state.states import SUCCESS_STATES, TaskState
from orchestrator.state.status_model import RunStatus


@dataclass
class Bar:
    task: str
    stage: str
    start: float
    end: float
    state: str
    approx: bool = False
    """True for failed tasks: only when the driver saw it fail is known (start == end)."""
    count: int = 1
    """Tasks merged into this bar (huge runs merge bars narrower than a pixel)."""


@dataclass
class Lane:
    name: str
    bars: list[Bar]


@dataclass
class Drawn:
    """The lanes the timeline draws (at most `max_lanes`, bars merged past `max_bars`)."""
    lanes: list[Lane]
    t0: float
    span: float
    more_lanes: int
    """Lanes not drawn, and the tasks in them."""
    hidden: int
    total: int
    """Bars in the drawn lanes before merging."""


def cut_lanes(lanes: list[Lane], max_lanes: int, max_bars: int, width: int) -> Drawn | None:
    """The first `max_lanes` lanes, their bars merged below a pixel (of `width`) when they
    hold more than `max_bars`; None when no task ran."""
    if not lanes:
        return None
    more = max(0, len(lanes) - max_lanes)
    hidden = sum(len(lane.bars) for lane in lanes[max_lanes:])
    lanes = lanes[:max_lanes]
    t0 = min(b.start for lane in lanes for b in lane.bars)
    t1 = max(b.end for lane in lanes for b in lane.bars)
    span = max(t1 - t0, 1e-3)
    total = sum(len(lane.bars) for lane in lanes)
    if total > max_bars:
        for lane in lanes:
            lane.bars = merge_bars(lane.bars, span / width)
    return Drawn(lanes, t0, span, more, hidden, total)


def timeline_lanes(st: RunStatus, extras: dict[str, TaskExtra]) -> list[Lane]:
    """One lane per worker (host + pid, else host + device mask, else packed slots)."""
    groups: dict[tuple[str, str], list[Bar]] = {}
    for t in st.tasks:
        x = extras.get(t.id) or TaskExtra()
        if t.state in SUCCESS_STATES and t.started is not None and t.ended is not None:
            host = t.host or "?"
            if x.pid is not None:
                key = (host, f"pid {x.pid}")
            elif x.devices:
                key = (host, " ".join(f"{k}={v}" for k, v in sorted(x.devices.items())))
            else:
                key = (host, "")
            bar = Bar(t.id, t.stage, t.started, max(t.ended, t.started), t.state.value)
        elif t.state is TaskState.FAILED and t.ended is not None:
            key = ("~failed", "")  # no worker times: a mark when the driver saw it fail
            bar = Bar(t.id, t.stage, t.ended, t.ended, t.state.value, approx=True)
        else:
            continue
        groups.setdefault(key, []).append(bar)
    lanes: list[Lane] = []
    for (host, label), bars in sorted(groups.items(), key=lambda kv: (kv[0][0] == "~failed",
                                                                      kv[0][0], kv[0][1])):
        packed = _pack(bars)
        for k, lane_bars in enumerate(packed):
            lanes.append(Lane(lane_name(host, label, k, len(packed)), lane_bars))
    return lanes


def lane_name(host: str, label: str, k: int, n: int) -> str:
    if host == "~failed":
        return "failed" + (f" #{k + 1}" if n > 1 else "")
    if not label:
        return f"{host} · slot {k + 1}"
    return f"{host} · {label}" + (f" #{k + 1}" if n > 1 else "")


def _pack(bars: list[Bar]) -> list[list[Bar]]:
    """Greedy interval packing: bars that do not overlap share a lane."""
    ordered = sorted(bars, key=lambda b: (b.start, b.end))
    lanes: list[list[Bar]] = []
    for b, k in zip(ordered, first_fit([b.start for b in ordered], [b.end for b in ordered]),
                    strict=True):
        if k == len(lanes):
            lanes.append([])
        lanes[k].append(b)
    return lanes


def first_fit(starts: list[float], ends: list[float]) -> list[int]:
    """Each bar's lane (bars sorted by start): the lowest lane whose last bar ended by its
    start, within 1e-6 s, else a new one. Heaps, not a scan of every lane per bar: a lane
    free for one bar stays free for the later ones."""
    busy: list[tuple[float, int]] = []  # (last end - 1e-6, lane)
    free: list[int] = []
    out, n = [], 0
    for s, e in zip(starts, ends, strict=True):
        while busy and busy[0][0] <= s:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            k = heapq.heappop(free)
        else:
            k, n = n, n + 1
        heapq.heappush(busy, (e - 1e-6, k))
        out.append(k)
    return out


def merge_bars(bars: list[Bar], resolution: float) -> list[Bar]:
    """Merge consecutive bars of one stage and state closer than `resolution` seconds."""
    out: list[Bar] = []
    for b in bars:
        last = out[-1] if out else None
        if (last is not None and last.stage == b.stage and last.state == b.state
                and b.start - last.end < resolution):
            out[-1] = Bar(last.task, last.stage, last.start, max(last.end, b.end), last.state,
                          last.approx, last.count + b.count)
        else:
            out.append(b)
    return out
