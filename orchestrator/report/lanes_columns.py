"""The timeline's lanes (lanes.py) from a task table's columns, for runs of 10^6 tasks: the
same workers, the same first-fit packing and the same merged bars, computed on arrays;
`Bar`s are made only for what is drawn (merged, at most a few thousand per lane).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orchestrator.report.lanes import Bar, Drawn, Lane, first_fit, lane_name
from orchestrator.report.table_view import SUCCESS_CODES, task_ids
from orchestrator.state.states import TaskState
from orchestrator.state.table_columns import NONE_INT
from orchestrator.state.task_table import STATE_CODE, STATES, TaskTable

FAILED = STATE_CODE[TaskState.FAILED]


def table_lanes(table: TaskTable, pids: dict[int, Any], max_lanes: int, max_bars: int,
                width: int) -> Drawn | None:
    """lanes.cut_lanes(lanes.timeline_lanes(...)) of the table's tasks; `pids`: worker pids
    by row that the journal lacks (read from result files)."""
    c = table.cols
    state, started, ended = c["state"], c["started"], c["ended"]
    ok = np.isin(state, SUCCESS_CODES) & ~np.isnan(started) & ~np.isnan(ended)
    bad = (state == FAILED) & ~np.isnan(ended)
    start = np.where(ok, started, ended)
    end = np.where(ok, np.maximum(ended, started), ended)
    lanes: list[tuple[str, np.ndarray]] = []  # (name, rows in start order)
    for (host, label), rows in _groups(table, np.flatnonzero(ok), np.flatnonzero(bad), pids):
        rows = rows[np.lexsort((end[rows], start[rows]))]  # stable: ties in table order
        slot = np.array(first_fit(start[rows].tolist(), end[rows].tolist()), dtype=np.int64)
        n = int(slot.max()) + 1
        order = np.argsort(slot, kind="stable")
        cuts = np.searchsorted(slot[order], np.arange(1, n))
        for k, part in enumerate(np.split(rows[order], cuts)):
            lanes.append((lane_name(host, label, k, n), part))
    if not lanes:
        return None
    more = max(0, len(lanes) - max_lanes)
    hidden = sum(len(rows) for _, rows in lanes[max_lanes:])
    lanes = lanes[:max_lanes]
    every = np.concatenate([rows for _, rows in lanes])
    t0, t1 = float(start[every].min()), float(end[every].max())
    span = max(t1 - t0, 1e-3)
    total = len(every)
    resolution = span / width if total > max_bars else None
    drawn = [Lane(name, _bars(table, rows, start, end, resolution)) for name, rows in lanes]
    return Drawn(drawn, t0, span, more, hidden, total)


def _groups(table: TaskTable, ok: np.ndarray, bad: np.ndarray, pids: dict[int, Any]
            ) -> list[tuple[tuple[str, str], np.ndarray]]:
    """((host, worker label), rows in table order) of each worker, sorted as lanes.py
    sorts them; failed tasks in ("~failed", "")."""
    c, odd = table.cols, table.odd
    hosts = [n or "?" for n in table.names["host"]] + ["?"]  # code -1 (None): "?"
    host_id = {h: i for i, h in enumerate(dict.fromkeys(hosts))}
    hid = np.array([host_id[h] for h in hosts], dtype=np.int64)[c["host"][ok]]
    pid = c["xpid"][ok]
    has = pid != NONE_INT
    labels: dict[str, int] = {}
    lab = np.empty(len(ok), dtype=np.int64)
    uniq, inv = np.unique(pid[has], return_inverse=True)
    codes = np.array([labels.setdefault(f"pid {p}", len(labels)) for p in uniq.tolist()],
                     dtype=np.int64)
    lab[has] = codes[inv]
    lab[~has] = labels.setdefault("", len(labels))
    sparse = set(odd["xpid"]) | set(pids) | set(odd["devices"])
    if sparse:  # rows without a journaled int pid: as lanes.py labels them, one by one
        for r in sorted(sparse):
            i = int(np.searchsorted(ok, r))
            if i >= len(ok) or ok[i] != r or has[i]:
                continue
            lab[i] = labels.setdefault(_label(r, odd, pids), len(labels))
    names = {i: h for h, i in host_id.items()}
    label_of = {i: s for s, i in labels.items()}
    key = hid * len(labels) + lab
    uk, inv = np.unique(key, return_inverse=True)
    groups: dict[tuple[str, str], list[np.ndarray]] = {}
    order = np.argsort(inv, kind="stable")
    for k, part in zip(uk.tolist(), np.split(ok[order], np.cumsum(np.bincount(inv))[:-1]),
                       strict=True):
        groups.setdefault((names[k // len(labels)], label_of[k % len(labels)]), []).append(part)
    if len(bad):
        groups.setdefault(("~failed", ""), []).append(bad)
    return [(g, np.sort(np.concatenate(parts))) for g, parts in
            sorted(groups.items(), key=lambda kv: (kv[0][0] == "~failed", kv[0][0], kv[0][1]))]


def _label(r: int, odd: dict[str, dict[int, Any]], pids: dict[int, Any]) -> str:
    pid = odd["xpid"].get(r)
    pid = pids.get(r) if pid is None else pid
    if pid is not None:
        return f"pid {pid}"
    devices = odd["devices"].get(r)
    return " ".join(f"{k}={v}" for k, v in sorted(devices.items())) if devices else ""


def _bars(table: TaskTable, rows: np.ndarray, start: np.ndarray, end: np.ndarray,
          resolution: float | None) -> list[Bar]:
    """A lane's bars; with a resolution, lanes.merge_bars' merge of consecutive bars of one
    stage and state closer than it."""
    c = table.cols
    stage, state = c["stage"][rows].tolist(), c["state"][rows].tolist()
    s, e = start[rows].tolist(), end[rows].tolist()
    if resolution is None:
        keep = list(range(len(s)))
        last, count = e, [1] * len(s)
    else:
        keep, last, count = [], [], []
        for i in range(len(s)):
            if keep and stage[keep[-1]] == stage[i] and state[keep[-1]] == state[i] \
                    and s[i] - last[-1] < resolution:
                last[-1] = max(last[-1], e[i])
                count[-1] += 1
            else:
                keep.append(i)
                last.append(e[i])
                count.append(1)
    ids = task_ids(table, rows[keep].tolist())
    names = table.names["stage"]
    failed = [state[i] == FAILED for i in keep]
    out = []
    for j, i in enumerate(keep):
        out.append(Bar(ids[j], names[stage[i]], s[i], last[j] if resolution is not None
                       else e[i], STATES[state[i]].value, failed[j], count[j]))
    return out
