"""Provenance's code keys from a task table's columns: per stage how many tasks have a key
and the SHA-256 of their sorted keys, sorted and hex-encoded with NumPy (10^6 keys), and
the first keys to list."""

from __future__ import annotations

import hashlib

import numpy as np

from orchestrator.report.table_view import stage_rows, task_ids
from orchestrator.state.task_table import TaskTable

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def stage_keys(table: TaskTable, stage: str, first: int
               ) -> tuple[int, str, list[tuple[str, str]]]:
    """(tasks with a key, sha256 of "\\n".join(sorted keys), the first `first` (id, key) in
    table order) of one stage, as provenance._code_keys reads them from the extras."""
    c, odd = table.cols, table.odd["key"]
    rows = stage_rows(table, stage)
    raw = rows[c["has_key"][rows].astype(bool)]
    code = table.names["stage"].index(stage) if len(rows) else -1
    other = sorted(r for r, k in odd.items() if k and c["stage"][r] == code)
    keyed = np.union1d(raw, np.array(other, dtype=np.int64)) if other else raw
    if other:  # keys that are not 64 hex digits: sorted as strings
        text = "\n".join(sorted(_key(table, r) for r in keyed.tolist())).encode()
    else:
        text = _hex_lines(table.cols["key"][raw])
    head = keyed[:first].tolist()
    detail = list(zip(task_ids(table, head), (_key(table, r) for r in head), strict=True))
    return len(keyed), hashlib.sha256(text).hexdigest(), detail


def _key(table: TaskTable, r: int) -> str:
    if table.cols["has_key"][r]:
        return table.cols["key"][r].tobytes().hex()
    return table.odd["key"][r]


def _hex_lines(keys: np.ndarray) -> bytes:
    """b"\\n".join of the keys' 64-digit hex forms, in sorted order (bytes sort as their
    hex digits do)."""
    raw = np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(-1, 32)
    words = raw.view(">u8")
    raw = raw[np.lexsort(words.T[::-1])]
    out = np.empty((len(raw), 65), dtype=np.uint8)
    out[:, 0:64:2] = _HEX[raw >> 4]
    out[:, 1:64:2] = _HEX[raw & 15]
    out[:, 64] = ord("\n")
    return out.tobytes()[:-1]
