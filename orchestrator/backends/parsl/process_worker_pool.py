"""Parsl's worker pool (`process_worker_pool.py`), started with one repair.

An HTEX worker waiting for a task holds the reader lock of its pool's task queue while it
polls (`multiprocessing.Queue.get` with a timeout). A worker killed then (kill -9, the OOM
killer) dies holding that lock: Parsl's watchdog starts a new worker, but no worker of the
pool ever receives a task again and the run hangs with idle workers. Here, when the
watchdog restarts a dead worker, a reader lock that no live worker could still hold is
given back. Everything else is Parsl's own script, run as `process_worker_pool.py` runs
(runpy, as `python -m` would);
executors.py starts this module in its place (`LAUNCH_CMD`).
"""

from __future__ import annotations

import multiprocessing.queues
import runpy
import sys
from typing import Any

import parsl.multiprocessing
from parsl.executors.high_throughput import executor as htex
from parsl.executors.high_throughput import process_worker_pool as pool

PARSL_SCRIPT = "process_worker_pool.py"
LAUNCH_CMD = htex.DEFAULT_LAUNCH_CMD.replace(
    PARSL_SCRIPT, "python -m orchestrator.backends.parsl.process_worker_pool", 1)


def free_stuck_lock(lock, wait: float) -> bool:
    """Give `lock` back when nobody released it within `wait` seconds (its holder died).
    True when it was stuck."""
    if lock.acquire(timeout=wait):
        lock.release()
        return False
    lock.release()
    return True


class RepairingSpawnContext:
    """Parsl's `SpawnContext`, except that starting a worker process a second time under
    the same name (the watchdog's restart of a dead worker) first frees the task queue's
    reader lock if the dead worker held it. A live worker holds it for one poll
    (`heartbeat_period` seconds); the task queue is the first queue among the worker's
    arguments."""

    def __init__(self, context: Any, heartbeat_period: float):
        self._context, self._wait = context, 3 * heartbeat_period + 1
        self._started: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name")
        if name in self._started:
            tasks = next((a for a in kwargs.get("args", ())
                          if isinstance(a, multiprocessing.queues.Queue)), None)
            if tasks is not None and free_stuck_lock(tasks._rlock, self._wait):
                pool.logger.warning("Worker %s died holding the task queue's reader lock; "
                                    "released it", name)
        if name:
            self._started.add(name)
        return self._context.Process(*args, **kwargs)


def main() -> None:
    """Run Parsl's pool script as `process_worker_pool.py` would (as `__main__`), its
    `SpawnContext` the repairing one."""
    heartbeat = float(pool.get_arg_parser().parse_known_args()[0].hb_period)
    parsl.multiprocessing.SpawnContext = RepairingSpawnContext(
        parsl.multiprocessing.SpawnContext, heartbeat)
    sys.argv[0] = pool.__file__
    sys.modules.pop(pool.__name__)  # the script runs afresh as __main__, as Parsl starts it
    runpy.run_module(pool.__name__, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
