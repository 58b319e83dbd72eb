"""Stage code for the hello-sweep example workflow.

Calling convention (what the orchestrator passes to a python stage):

* the stage's `args` as keyword arguments, with `${params.*}` and
  `${sweep.*}` already substituted (a whole-string placeholder keeps its type,
  so `i` arrives as an int);
* for a stage with `needs`, the upstream results as the keyword argument
  `results`: a dict of upstream stage name -> list of that stage's results,
  in task order (one item for an unswept stage).

Return a JSON-serialisable value; a dict of numbers doubles as metrics that
loop conditions can test. Only the standard library is used here.
"""

from __future__ import annotations

import socket
import time
from typing import Any


def work(i: int, seconds: float = 0.0) -> dict[str, Any]:
    """Pretend to compute: sleep, then return the square of `i`."""
    i = int(i)
    if seconds > 0:
        time.sleep(float(seconds))
    return {"i": i, "square": i * i, "host": socket.gethostname()}


def gather(results: dict[str, list[Any]] | list[Any] | None = None,
           **kwargs: Any) -> dict[str, Any]:
    """Summarise the results of `work`: how many, and the sum of the squares.

    Accepts the documented shape (`{"work": [...]}`), a bare list of results,
    or nothing at all (an empty summary), so it is easy to call by hand.
    """
    items = _upstream(results, "work")
    squares = [r["square"] for r in items if isinstance(r, dict) and "square" in r]
    return {
        "count": len(squares),
        "sum_of_squares": sum(squares),
        "hosts": sorted({r.get("host", "?") for r in items if isinstance(r, dict)}),
    }


def _upstream(results: Any, stage: str) -> list[Any]:
    """The results of `stage` from whatever shape `results` arrived in."""
    if results is None:
        return []
    if isinstance(results, dict):
        got = results.get(stage)
        if got is None and len(results) == 1:  # a single upstream under another name
            got = next(iter(results.values()))
        if got is None:
            return []
        return list(got) if isinstance(got, list | tuple) else [got]
    if isinstance(results, list | tuple):
        return list(results)
    return [results]


if __name__ == "__main__":  # a quick check without the orchestrator
    done = [work(i) for i in range(8)]
    print(gather(results={"work": done}))
