"""The typed columns of a TaskTable (task_table.py): a column from Python values (ints and
floats with a sentinel for None, strings as codes, anything else set aside by row), and
a column as builtin values for the journal index (`marshal`) and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NONE_INT = np.iinfo(np.int64).min


def int_ok(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and NONE_INT < v < 1 << 62


def int_col(values: list, odd: dict[int, Any]) -> np.ndarray:
    """int64 column of ints and Nones (NONE_INT); anything else to `odd`."""
    if set(map(type, values)) <= {int, type(None)}:
        try:
            col = np.array([NONE_INT if v is None else v for v in values], dtype=np.int64)
        except OverflowError:
            col = None
        if col is not None and not (col >= 1 << 62).any() \
                and np.count_nonzero(col == NONE_INT) == values.count(None):
            return col
    out = []
    for r, v in enumerate(values):
        if v is not None and not int_ok(v):
            odd[r] = v
        out.append(v if v is not None and int_ok(v) else NONE_INT)
    return np.array(out, dtype=np.int64)


def float_col(values: list, odd: dict[int, Any]) -> np.ndarray:
    """float64 column of floats and Nones (NaN); anything else to `odd`."""
    nan = float("nan")
    if not set(map(type, values)) <= {float, type(None)}:
        for r, v in enumerate(values):
            if v is not None and type(v) is not float:
                odd[r] = v
        values = [v if type(v) is float else None for v in values]
    return np.array([nan if v is None else v for v in values], dtype=np.float64)


def coded_col(values: list, odd: dict[int, Any]) -> tuple[np.ndarray, list[str]]:
    """int32 codes into the returned names of string values (-1: None or odd)."""
    codes: dict[str, int] = {}
    out = []
    for r, v in enumerate(values):
        if type(v) is str:
            c = codes.get(v)
            if c is None:
                c = codes[v] = len(codes)
            out.append(c)
        else:
            out.append(-1)
            if v is not None:
                odd[r] = v
    return np.array(out, dtype=np.int32), list(codes)


KEY_DTYPE = np.dtype("V32")  # a code key (64 hex digits) as its 32 bytes
NO_KEY = bytes(32)


def hex_key(key: Any) -> bytes | None:
    """A key of 64 lowercase hex digits as 32 bytes; None for any other (kept as is)."""
    if not (isinstance(key, str) and len(key) == 64):
        return None
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        return None
    return raw if raw.hex() == key else None
_I32 = np.iinfo(np.int32)


def freeze_col(c: np.ndarray) -> tuple:
    if c.dtype.kind == "V":
        return ("raw", "V32", c.tobytes())
    if (len(c) and (c[0] == c).all()) or (len(c) and c.dtype.kind == "f" and np.isnan(c).all()):
        return ("fill", str(c.dtype), c[:1].tobytes())
    if c.dtype == np.int64:
        real = c[c != NONE_INT]
        if not len(real) or (real.min() > _I32.min and real.max() <= _I32.max):
            return ("i32", str(c.dtype), np.where(c == NONE_INT, _I32.min, c)
                    .astype(np.int32).tobytes())
    return ("raw", str(c.dtype), c.tobytes())


def thaw_col(n: int, how: str, dtype: str, data: bytes) -> np.ndarray:
    dt = np.dtype(dtype)
    if how == "raw" and dt.kind == "V":
        return np.frombuffer(data, dtype=dt).copy()
    if how == "fill":
        return np.full(n, np.frombuffer(data, dtype=dt)[0], dtype=dt)
    if how == "i32":
        c = np.frombuffer(data, dtype=np.int32).astype(np.int64)
        c[c == _I32.min] = NONE_INT
        return c
    return np.frombuffer(data, dtype=dt).copy()


def with_nones(values: list, sentinel: Any, odd: dict[int, Any], lo: int) -> list:
    """`values` with None (or the odd value of that row) where the sentinel is."""
    if sentinel is not None:
        values = [None if x == sentinel else x for x in values]
    for r, x in odd.items():
        if lo <= r < lo + len(values):
            values[r - lo] = x
    return values
