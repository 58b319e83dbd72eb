"""Stage functions for the reliability workflows: every execution is counted on disk."""

import os
import time
from pathlib import Path


def _mark(ledger, what, i):
    """Append one line to LEDGER/what-i (O_APPEND: atomic for short lines)."""
    if ledger:
        fd = os.open(Path(ledger) / f"{what}-{i}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)


def prep(n, gate=""):
    """With a `gate` file named: say which process runs prep (GATE.pid), then wait for it."""
    if gate:
        Path(f"{gate}.pid").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return {"n": n}


def work(i, seconds, ledger="", results=None):
    _mark(ledger, "start", i)
    # 0.1 .. 0.3 s, deterministic per task
    time.sleep(seconds * (1 + (i * 7919) % 3))
    _mark(ledger, "end", i)
    return {"i": i, "square": i * i, "n": results["prep"][0]["n"]}


def total(results=None):
    work = results["work"]
    return {"n": len(work), "sum": sum(r["square"] for r in work),
            "order": [r["i"] for r in work]}


def boom():
    raise RuntimeError("this stage fails on purpose")


def after(results=None):
    return {"n": len(results["boom"])}
